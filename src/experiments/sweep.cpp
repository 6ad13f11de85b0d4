#include "experiments/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "report/markdown.hpp"
#include "report/plot.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- the plan

std::string toml_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string toml_value(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return toml_quoted(*s);
  return format_value(v);
}

// A TOML node as the text a user would give to --set, or nullopt for
// arrays and tables.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  if (node.is_integer()) return std::to_string(*node.value<std::int64_t>());
  if (node.is_floating_point()) return format_value(Value(*node.value<double>()));
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  return std::nullopt;
}

std::string where(const toml::node& node, std::string_view source) {
  const auto& src = node.source();
  return fmt::format("{}:{}:{}", source, src.begin.line, src.begin.column);
}

// Leaves of a table as dotted keys, in document order.
void flatten(const toml::table& table, const std::string& prefix,
             std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, node] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      flatten(*sub, key, out);
    } else {
      out.emplace_back(key, &node);
    }
  }
}

const Experiment& sweep_experiment(const toml::table& root, std::string_view source) {
  const toml::node* node = root.get("experiment");
  if (!node) throw ConfigError(fmt::format("{}: missing `experiment = \"NAME\"` (see `diffgen list`)", source));
  const auto name = node->value<std::string>();
  if (!name || !node->is_string())
    throw ConfigError(fmt::format("{}: experiment must be a string naming an experiment", where(*node, source)));
  const Experiment* e = find_experiment(*name);
  if (!e) {
    std::vector<std::string> names;
    for (const auto& x : experiments()) names.push_back(x->name());
    const auto near = closest_names(*name, names);
    throw ConfigError(fmt::format("{}: unknown experiment '{}'{}", where(*node, source), *name,
                                  near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near.front())));
  }
  if (!e->sweepable()) {
    std::vector<std::string> ok;
    for (const auto& x : experiments())
      if (x->sweepable()) ok.push_back(x->name());
    throw ConfigError(fmt::format("{}: experiment '{}' cannot be swept; sweepable experiments: {}", where(*node, source),
                                  *name, fmt::join(ok, ", ")));
  }
  return *e;
}

Index sweep_seeds(const toml::table& root, std::string_view source) {
  const toml::node* node = root.get("seeds");
  if (!node) return 1;
  const auto k = node->value<std::int64_t>();
  if (!node->is_integer() || !k || *k < 1 || *k > 1'000'000)
    throw ConfigError(fmt::format("{}: seeds must be a whole number in [1, 1000000]", where(*node, source)));
  return static_cast<Index>(*k);
}

}  // namespace

// ---------------------------------------------------------------- SweepPlan

Index SweepPlan::num_combinations() const {
  Index n = 1;
  for (const auto& a : axes) n *= static_cast<Index>(a.values.size());
  return n;
}

std::vector<Value> SweepPlan::combination(Index c) const {
  std::vector<Value> values(axes.size());
  for (std::size_t j = axes.size(); j-- > 0;) {
    const Index size = static_cast<Index>(axes[j].values.size());
    values[j] = axes[j].values[static_cast<std::size_t>(c % size)];
    c /= size;
  }
  return values;
}

std::string SweepPlan::label(Index c) const {
  if (axes.empty()) return "all";
  const auto values = combination(c);
  std::vector<std::string> parts;
  for (std::size_t j = 0; j < axes.size(); ++j) parts.push_back(axes[j].key + "=" + format_value(values[j]));
  return fmt::format("{}", fmt::join(parts, ", "));
}

Config SweepPlan::config_of(Index c) const {
  Config config = base;
  const auto values = combination(c);
  for (std::size_t j = 0; j < axes.size(); ++j) config.set_value(axes[j].key, values[j]);
  return config;
}

std::string SweepPlan::canonical_text() const {
  std::string out = fmt::format(
      "# A diffgen sweep: every point is `{}` with one combination of [grid] and one seed.\n"
      "# Run again (or resume) with: diffgen sweep sweep.toml --out DIR\n\n"
      "experiment = {}\nseeds = {}\n\n[grid]\n",
      experiment->name(), toml_quoted(experiment->name()), seeds);
  for (const auto& a : axes) {
    std::vector<std::string> items;
    for (const auto& v : a.values) items.push_back(toml_value(v));
    out += fmt::format("{} = [{}]\n", toml_quoted(a.key), fmt::join(items, ", "));
  }
  // Every other key with its resolved value (dotted keys nest under [set]).
  out += "\n[set]\n";
  for (const auto& spec : base.schema().keys()) {
    const bool swept = std::any_of(axes.begin(), axes.end(), [&](const SweepAxis& a) { return a.key == spec.key; });
    if (!swept) out += fmt::format("{} = {}\n", spec.key, toml_value(base.get(spec.key)));
  }
  return out;
}

SweepPlan parse_sweep_string(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(fmt::format("{}:{}:{}: {}", source, b.line, b.column, e.description()));
  }
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (key != "experiment" && key != "seeds" && key != "set" && key != "grid")
      throw ConfigError(fmt::format("{}: unknown entry '{}': a sweep file has experiment, seeds, [set] and [grid]",
                                    where(node, source), key));
  }
  const Experiment& experiment = sweep_experiment(root, source);
  SweepPlan plan{Config(experiment.schema())};
  plan.experiment = &experiment;
  plan.seeds = sweep_seeds(root, source);

  std::vector<std::pair<std::string, const toml::node*>> set_keys, grid_keys;
  for (const char* name : {"set", "grid"}) {
    const toml::node* node = root.get(name);
    if (!node) continue;
    const auto* table = node->as_table();
    if (!table) throw ConfigError(fmt::format("{}: '{}' must be a table ([{}])", where(*node, source), name, name));
    flatten(*table, "", std::string_view(name) == "set" ? set_keys : grid_keys);
  }
  // toml++ keeps a table's keys sorted; the axes follow the file's order.
  auto by_position = [](const auto& a, const auto& b) {
    const auto &pa = a.second->source().begin, &pb = b.second->source().begin;
    return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
  };
  std::stable_sort(grid_keys.begin(), grid_keys.end(), by_position);
  const auto known = experiment.schema().key_names();
  auto check_known = [&](const std::string& key, const toml::node& node) {
    if (experiment.schema().find(key)) return;
    const auto near = closest_names(key, known);
    throw ConfigError(fmt::format("{}: unknown key '{}' for experiment '{}'{}", where(node, source), key,
                                  experiment.name(),
                                  near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near.front())));
  };
  for (const auto& [key, node] : set_keys) {
    check_known(key, *node);
    const auto value = scalar_text(*node);
    if (!value) throw ConfigError(fmt::format("{}: [set] {} must be a single value", where(*node, source), key));
    try {
      plan.base.set(key, *value);
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("{}: {}", where(*node, source), e.what()));
    }
  }
  std::set<std::string> swept;
  for (const auto& [key, node] : grid_keys) {
    check_known(key, *node);
    if (plan.base.is_user_set(key))
      throw ConfigError(fmt::format("{}: '{}' is both in [set] and in [grid]; keep one", where(*node, source), key));
    const auto* array = node->as_array();
    if (!array || array->empty())
      throw ConfigError(
          fmt::format("{}: [grid] {} must be a non-empty list of values, e.g. [1, 2, 3]", where(*node, source), key));
    SweepAxis axis{key, {}};
    Config probe = plan.base;
    for (const auto& item : *array) {
      const auto value = scalar_text(item);
      if (!value) throw ConfigError(fmt::format("{}: [grid] {} lists a value that is not a number, string or bool",
                                                where(item, source), key));
      try {
        probe.set(key, *value);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", where(item, source), e.what()));
      }
      const Value v = probe.get(key);
      if (std::find(axis.values.begin(), axis.values.end(), v) != axis.values.end())
        throw ConfigError(fmt::format("{}: [grid] {} lists {} twice", where(item, source), key, format_value(v)));
      axis.values.push_back(v);
    }
    swept.insert(key);
    plan.axes.push_back(std::move(axis));
  }
  constexpr Index kMaxPoints = 10'000'000;
  double points = static_cast<double>(plan.seeds);
  for (const auto& a : plan.axes) points *= static_cast<double>(a.values.size());
  if (points > static_cast<double>(kMaxPoints))
    throw ConfigError(fmt::format("{}: the grid has {:.0f} points (combinations × seeds); at most {}", source, points,
                                  kMaxPoints));
  for (Index c = 0; c < plan.num_combinations(); ++c) {
    try {
      experiment.validate(plan.config_of(c));
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("{}: grid point {}: {}", source, plan.label(c), e.what()));
    }
  }
  return plan;
}

SweepPlan parse_sweep_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw ConfigError(fmt::format("sweep file '{}' does not exist", file.string()));
  return parse_sweep_string(read_text_file(file), file.string());
}

// ---------------------------------------------------------------- point files

namespace {

Json number_or_null(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }

double number_from(const Json& j) { return j.is_null() ? kNaN : j.get<double>(); }

}  // namespace

std::string point_to_json(const SweepPlan& plan, const SweepPoint& point) {
  Json values = Json::object();
  const auto combo = plan.combination(point.combination);
  for (std::size_t j = 0; j < plan.axes.size(); ++j) values[plan.axes[j].key] = format_value(combo[j]);
  Json rows = Json::array();
  for (const auto& row : point.table.rows) {
    Json r = Json::array();
    for (double x : row) r.push_back(number_or_null(x));
    rows.push_back(std::move(r));
  }
  Json scalars = Json::object();
  for (const auto& [name, x] : point.table.scalars) scalars[name] = number_or_null(x);
  const Json j = {{"combination", point.combination},
                  {"seed", point.seed},
                  {"values", values},
                  {"keys", point.table.keys},
                  {"metrics", point.table.metrics},
                  {"rows", rows},
                  {"scalars", scalars},
                  {"failure", point.table.failure}};
  return j.dump(1) + "\n";
}

SweepPoint point_from_json(std::string_view text, std::string_view source) {
  try {
    const Json j = Json::parse(text);
    SweepPoint p;
    p.combination = j.at("combination").get<Index>();
    p.seed = j.at("seed").get<Index>();
    p.table.keys = j.at("keys").get<std::vector<std::string>>();
    p.table.metrics = j.at("metrics").get<std::vector<std::string>>();
    const std::size_t width = p.table.keys.size() + p.table.metrics.size();
    for (const auto& r : j.at("rows")) {
      std::vector<double> row;
      for (const auto& x : r) row.push_back(number_from(x));
      if (row.size() != width)
        throw DataError(fmt::format("{}: a row has {} numbers, expected {}", source, row.size(), width));
      p.table.rows.push_back(std::move(row));
    }
    for (const auto& [name, x] : j.at("scalars").items()) p.table.scalars[name] = number_from(x);
    p.table.failure = j.at("failure").get<std::string>();
    return p;
  } catch (const DataError&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError(fmt::format("{}: not a sweep point file ({}); delete it to run that point again", source,
                                e.what()));
  }
}

// ---------------------------------------------------------------- aggregation

SweepAggregate aggregate_sweep(const SweepPlan& plan, std::vector<SweepPoint> points) {
  std::sort(points.begin(), points.end(), [](const SweepPoint& a, const SweepPoint& b) {
    return std::tie(a.combination, a.seed) < std::tie(b.combination, b.seed);
  });
  SweepAggregate agg;
  agg.failed_seeds.assign(static_cast<std::size_t>(plan.num_combinations()), 0);
  std::set<std::string> scalar_names;
  for (const auto& p : points) {
    if (agg.keys.empty() && agg.metrics.empty()) {
      agg.keys = p.table.keys;
      agg.metrics = p.table.metrics;
    } else if (p.table.keys != agg.keys || p.table.metrics != agg.metrics) {
      throw DataError(fmt::format("sweep point {} seed {} has other columns than the first point",
                                  plan.label(p.combination), p.seed));
    }
    for (const auto& [name, x] : p.table.scalars)
      if (scalar_names.insert(name).second) agg.scalars.push_back(name);
    if (!p.table.failure.empty()) ++agg.failed_seeds[static_cast<std::size_t>(p.combination)];
  }
  std::sort(agg.scalars.begin(), agg.scalars.end());
  const std::size_t nk = agg.keys.size();
  for (std::size_t i = 0; i < points.size();) {
    std::size_t end = i;
    while (end < points.size() && points[end].combination == points[i].combination) ++end;
    const Index c = points[i].combination;
    // Metric values at each key tuple, over the seeds of this combination.
    std::map<std::vector<double>, std::vector<std::vector<double>>> at;  // key values -> metric -> values
    for (std::size_t q = i; q < end; ++q) {
      for (const auto& row : points[q].table.rows) {
        std::vector<double> key(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(nk));
        auto& cols = at[key];
        cols.resize(agg.metrics.size());
        for (std::size_t m = 0; m < agg.metrics.size(); ++m) cols[m].push_back(row[nk + m]);
      }
    }
    for (const auto& [key, cols] : at)
      for (std::size_t m = 0; m < agg.metrics.size(); ++m)
        agg.curves.push_back({c, key, agg.metrics[m], spread(cols[m])});
    for (const auto& name : agg.scalars) {
      std::vector<double> values;
      for (std::size_t q = i; q < end; ++q) {
        const auto it = points[q].table.scalars.find(name);
        values.push_back(it == points[q].table.scalars.end() ? kNaN : it->second);
      }
      agg.scalar_spreads.push_back({c, name, spread(values)});
    }
    i = end;
  }
  return agg;
}

// ---------------------------------------------------------------- outputs

namespace {

fs::path point_file(const fs::path& out, Index p) { return out / "points" / fmt::format("point-{:06d}.json", p); }

std::vector<std::string> axis_keys(const SweepPlan& plan) {
  std::vector<std::string> keys;
  for (const auto& a : plan.axes) keys.push_back(a.key);
  return keys;
}

std::vector<CsvCell> axis_cells(const SweepPlan& plan, Index c) {
  std::vector<CsvCell> cells;
  for (const auto& v : plan.combination(c)) {
    if (const auto* d = std::get_if<double>(&v)) {
      cells.emplace_back(*d);
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
      cells.emplace_back(*i);
    } else {
      cells.emplace_back(format_value(v));
    }
  }
  return cells;
}

std::optional<double> numeric(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return std::nullopt;
}

void write_points_csv(const SweepPlan& plan, const std::vector<SweepPoint>& points, const SweepAggregate& agg,
                      const fs::path& out) {
  std::vector<std::string> columns = axis_keys(plan);
  columns.push_back("seed");
  columns.insert(columns.end(), agg.keys.begin(), agg.keys.end());
  columns.insert(columns.end(), agg.metrics.begin(), agg.metrics.end());
  CsvTable csv(columns);
  for (const auto& m : agg.metrics) csv.allow_missing(m);
  for (const auto& p : points) {
    for (const auto& row : p.table.rows) {
      auto cells = axis_cells(plan, p.combination);
      cells.emplace_back(p.seed);
      for (double x : row) cells.emplace_back(CsvCell::finite_or_missing(x));
      csv.add_row(std::move(cells));
    }
  }
  csv.write(out / "points.csv");
}

void write_aggregate_csv(const SweepPlan& plan, const SweepAggregate& agg, const fs::path& out) {
  std::vector<std::string> columns = axis_keys(plan);
  columns.insert(columns.end(), agg.keys.begin(), agg.keys.end());
  for (const char* c : {"metric", "n", "mean", "sd", "ci95_lo", "ci95_hi"}) columns.emplace_back(c);
  CsvTable csv(columns);
  for (const char* c : {"mean", "sd", "ci95_lo", "ci95_hi"}) csv.allow_missing(c);
  for (const auto& a : agg.curves) {
    auto cells = axis_cells(plan, a.combination);
    for (double k : a.key_values) cells.emplace_back(k);
    const Spread& s = a.spread;
    const bool any = s.count > 0;
    cells.emplace_back(a.metric);
    cells.emplace_back(s.count);
    cells.emplace_back(any ? s.mean : kNaN);
    cells.emplace_back(any ? s.sd : kNaN);
    cells.emplace_back(any ? s.mean - s.ci95 : kNaN);
    cells.emplace_back(any ? s.mean + s.ci95 : kNaN);
    for (auto& cell : cells)
      if (cell.is_non_finite()) cell = CsvCell::missing();
    csv.add_row(std::move(cells));
  }
  csv.write(out / "aggregate.csv");
}

void write_scalars_csv(const SweepPlan& plan, const SweepAggregate& agg, const fs::path& out) {
  std::vector<std::string> columns = axis_keys(plan);
  for (const char* c : {"scalar", "n", "mean", "sd", "ci95_lo", "ci95_hi", "min", "max"}) columns.emplace_back(c);
  CsvTable csv(columns);
  for (const char* c : {"mean", "sd", "ci95_lo", "ci95_hi", "min", "max"}) csv.allow_missing(c);
  for (const auto& a : agg.scalar_spreads) {
    auto cells = axis_cells(plan, a.combination);
    const Spread& s = a.spread;
    const bool any = s.count > 0;
    cells.emplace_back(a.scalar);
    cells.emplace_back(s.count);
    for (double x : {s.mean, s.sd, s.mean - s.ci95, s.mean + s.ci95, s.min, s.max})
      cells.emplace_back(any ? CsvCell::finite_or_missing(x) : CsvCell::missing());
    csv.add_row(std::move(cells));
  }
  csv.write(out / "scalars.csv");
}

std::string mean_ci(const Spread& s) {
  if (s.count == 0) return "-";
  if (s.count < 2) return fmt::format("{:.4g}", s.mean);
  return fmt::format("{:.4g} ± {:.2g}", s.mean, s.ci95);
}

// The headline scalars by combination: one row per combination.
Table scalars_table(const SweepPlan& plan, const SweepAggregate& agg) {
  std::vector<std::string> header = axis_keys(plan);
  if (header.empty()) header.push_back("points");
  header.push_back("seeds");
  for (const auto& s : agg.scalars) header.push_back(s);
  Table table(header);
  for (Index c = 0; c < plan.num_combinations(); ++c) {
    std::vector<TableCell> row;
    if (plan.axes.empty()) {
      row.emplace_back("all");
    } else {
      for (const auto& v : plan.combination(c)) row.emplace_back(format_value(v));
    }
    const Index failed = agg.failed_seeds[static_cast<std::size_t>(c)];
    row.emplace_back(failed > 0 ? fmt::format("{} ({} failed)", plan.seeds, failed) : std::to_string(plan.seeds));
    for (const auto& name : agg.scalars) {
      const ScalarAggregate* found = nullptr;
      for (const auto& a : agg.scalar_spreads)
        if (a.combination == c && a.scalar == name) found = &a;
      row.emplace_back(found ? mean_ci(found->spread) : std::string("-"));
    }
    table.add_row(std::move(row));
  }
  return table;
}

bool positive_spanning(const std::vector<double>& ys) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (double y : ys) {
    if (!std::isfinite(y)) continue;
    if (y <= 0) return false;
    lo = std::min(lo, y);
    hi = std::max(hi, y);
  }
  return hi > 0 && hi / lo > 20;
}

// One plot per metric over the first key column: mean and 95% band per combination.
std::vector<std::string> write_curve_plots(const SweepPlan& plan, const SweepAggregate& agg, const fs::path& out,
                                           std::vector<std::string>& warnings) {
  std::vector<std::string> written;
  if (agg.keys.empty()) return written;
  for (const auto& metric : agg.metrics) {
    PlotSpec spec;
    spec.title = fmt::format("{}: {} (mean and 95% CI over {} seed{})", plan.experiment->name(), metric, plan.seeds,
                             plan.seeds == 1 ? "" : "s");
    spec.xlabel = agg.keys.front();
    spec.ylabel = metric;
    std::vector<double> all_y;
    for (Index c = 0; c < plan.num_combinations(); ++c) {
      std::vector<double> x, y, lo, hi;
      for (const auto& a : agg.curves) {
        if (a.combination != c || a.metric != metric || a.spread.count == 0) continue;
        x.push_back(a.key_values.front());
        y.push_back(a.spread.mean);
        lo.push_back(a.spread.mean - a.spread.ci95);
        hi.push_back(a.spread.mean + a.spread.ci95);
        all_y.push_back(a.spread.mean);
      }
      if (x.empty()) continue;
      if (plan.seeds > 1) spec.series.push_back(Series::band("", x, lo, hi));
      spec.series.push_back(Series::line(plan.label(c), x, y));
    }
    if (spec.series.empty()) continue;
    spec.logy = positive_spanning(all_y);
    if (spec.logy) {  // a band reaching zero or below cannot be drawn on a log axis: clip it
      const double floor = *std::min_element(all_y.begin(), all_y.end()) / 10;
      for (auto& s : spec.series)
        if (s.kind == SeriesKind::Band)
          for (double& lo : s.lo) lo = std::max(lo, floor);
    }
    if (plan.num_combinations() > 6) spec.key = "outside right";
    const std::string name = fmt::format("plots/{}.png", metric);
    try {
      render_png(spec, out / name);
      written.push_back(name);
    } catch (const std::exception& e) {
      warnings.push_back(fmt::format("{} not drawn: {}", name, e.what()));
    }
  }
  return written;
}

// Each scalar against the first numeric axis, one line (with its CI band) per
// combination of the other axes.
std::vector<std::string> write_scalar_plots(const SweepPlan& plan, const SweepAggregate& agg, const fs::path& out,
                                            std::vector<std::string>& warnings) {
  std::vector<std::string> written;
  std::size_t axis = plan.axes.size();
  for (std::size_t j = 0; j < plan.axes.size() && axis == plan.axes.size(); ++j)
    if (plan.axes[j].values.size() > 1 && numeric(plan.axes[j].values.front())) axis = j;
  if (axis == plan.axes.size()) return written;
  for (const auto& name : agg.scalars) {
    PlotSpec spec;
    spec.title = fmt::format("{}: {} against {} (mean and 95% CI)", plan.experiment->name(), name, plan.axes[axis].key);
    spec.xlabel = plan.axes[axis].key;
    spec.ylabel = name;
    std::map<std::string, std::vector<std::array<double, 4>>> groups;  // other axes -> (x, mean, lo, hi)
    std::vector<std::string> order;
    for (const auto& a : agg.scalar_spreads) {
      if (a.scalar != name || a.spread.count == 0) continue;
      const auto values = plan.combination(a.combination);
      std::vector<std::string> rest;
      for (std::size_t j = 0; j < values.size(); ++j)
        if (j != axis) rest.push_back(plan.axes[j].key + "=" + format_value(values[j]));
      const std::string group = rest.empty() ? name : fmt::format("{}", fmt::join(rest, ", "));
      if (!groups.count(group)) order.push_back(group);
      groups[group].push_back({*numeric(values[axis]), a.spread.mean, a.spread.mean - a.spread.ci95,
                               a.spread.mean + a.spread.ci95});
    }
    for (const auto& group : order) {
      auto pts = groups[group];
      std::sort(pts.begin(), pts.end());
      std::vector<double> x, y, lo, hi;
      for (const auto& p : pts) {
        x.push_back(p[0]);
        y.push_back(p[1]);
        lo.push_back(p[2]);
        hi.push_back(p[3]);
      }
      if (plan.seeds > 1) spec.series.push_back(Series::band("", x, lo, hi));
      spec.series.push_back(Series::line_points(group, x, y));
    }
    if (spec.series.empty()) continue;
    const std::string file = fmt::format("plots/scalar-{}.png", name);
    try {
      render_png(spec, out / file);
      written.push_back(file);
    } catch (const std::exception& e) {
      warnings.push_back(fmt::format("{} not drawn: {}", file, e.what()));
    }
  }
  return written;
}

// Aggregates every point file into the sweep's outputs; returns the number of failed points.
Index write_outputs(const SweepPlan& plan, const fs::path& out, bool quiet) {
  std::vector<SweepPoint> points;
  for (Index p = 0; p < plan.num_points(); ++p) {
    const fs::path file = point_file(out, p);
    points.push_back(point_from_json(read_text_file(file), file.string()));
  }
  const SweepAggregate agg = aggregate_sweep(plan, points);
  write_points_csv(plan, points, agg, out);
  write_aggregate_csv(plan, agg, out);
  write_scalars_csv(plan, agg, out);

  Json combos = Json::array();
  for (Index c = 0; c < plan.num_combinations(); ++c) {
    Json values = Json::object();
    const auto combo = plan.combination(c);
    for (std::size_t j = 0; j < plan.axes.size(); ++j) values[plan.axes[j].key] = format_value(combo[j]);
    Json scalars = Json::object();
    for (const auto& a : agg.scalar_spreads) {
      if (a.combination != c) continue;
      const Spread& s = a.spread;
      scalars[a.scalar] = s.count == 0 ? Json(nullptr)
                                       : Json{{"mean", s.mean}, {"ci95", s.ci95}, {"sd", s.sd}, {"n", s.count}};
    }
    combos.push_back({{"values", values},
                      {"failed_seeds", agg.failed_seeds[static_cast<std::size_t>(c)]},
                      {"scalars", scalars}});
  }
  Json axes = Json::array();
  for (const auto& a : plan.axes) {
    std::vector<std::string> values;
    for (const auto& v : a.values) values.push_back(format_value(v));
    axes.push_back({{"key", a.key}, {"values", values}});
  }
  Index failed = 0;
  for (Index f : agg.failed_seeds) failed += f;
  write_json_atomic(out / "summary.json", Json{{"experiment", plan.experiment->name()},
                                               {"seeds", plan.seeds},
                                               {"axes", axes},
                                               {"points", plan.num_points()},
                                               {"failed_points", failed},
                                               {"combinations", combos}});

  std::vector<std::string> warnings;
  auto plots = write_curve_plots(plan, agg, out, warnings);
  const auto scalar_plots = write_scalar_plots(plan, agg, out, warnings);
  plots.insert(plots.end(), scalar_plots.begin(), scalar_plots.end());
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);

  const Table table = scalars_table(plan, agg);
  MarkdownReport report;
  report.heading(fmt::format("Sweep of {}", plan.experiment->name()));
  report.paragraph(fmt::format(
      "{} combination{} × {} seed{} = {} points. Each point is `diffgen run {}` with the settings of sweep.toml and "
      "its combination; seed k uses the streams of (seed, k), so every number here is reproducible point by point. "
      "Means and 95% confidence intervals (Student t) are over the seeds with a finite value.",
      plan.num_combinations(), plan.num_combinations() == 1 ? "" : "s", plan.seeds, plan.seeds == 1 ? "" : "s",
      plan.num_points(), plan.experiment->name()));
  if (failed > 0)
    report.paragraph(fmt::format("{} point{} stopped early (a diverging run or a non-finite value); their rows up to "
                                 "there are in points.csv and they count in the table's seeds column.",
                                 failed, failed == 1 ? "" : "s"));
  report.heading("Headline numbers (mean ± 95% CI over seeds)", 2);
  report.table(table);
  if (!plots.empty()) {
    report.heading("Plots", 2);
    for (const auto& p : plots) report.image(p, p);
  }
  report.heading("Files", 2);
  report.bullets({"`points.csv`: every row of every point (one column per swept key, then seed)",
                  "`aggregate.csv`: mean, sd and 95% CI over seeds of every metric at every row key",
                  "`scalars.csv`: the same for each point's headline numbers", "`points/`: one file per point",
                  "`sweep.toml`: the resolved sweep; `diffgen sweep sweep.toml --out DIR` reruns or resumes it"});
  report.write(out / "report.md");
  if (!quiet) fmt::print("{}\n", table.to_text());
  return failed;
}

// What a rank sends to rank 0 after a round.
struct RoundReport {
  std::vector<std::string> points;  // point files' texts
  std::vector<Index> indices;       // their point indices
  bool interrupted = false;
  bool more = false;  // points left on this rank
  std::string error;  // a failure other than a recorded numerical one
  int exit_code = 0;
};

std::string encode(const RoundReport& r) {
  return Json{{"points", r.points},          {"indices", r.indices}, {"interrupted", r.interrupted},
              {"more", r.more},              {"error", r.error},     {"exit_code", r.exit_code}}
      .dump();
}

RoundReport decode(const std::string& text) {
  const Json j = Json::parse(text);
  RoundReport r;
  r.points = j.at("points").get<std::vector<std::string>>();
  r.indices = j.at("indices").get<std::vector<Index>>();
  r.interrupted = j.at("interrupted").get<bool>();
  r.more = j.at("more").get<bool>();
  r.error = j.at("error").get<std::string>();
  r.exit_code = j.at("exit_code").get<int>();
  return r;
}

// Rank 0: the finished points already in `out`, after checking it holds this sweep.
std::vector<Index> pending_points(const SweepPlan& plan, const fs::path& out, Index& skipped) {
  const std::string canonical = plan.canonical_text();
  const fs::path plan_file = out / "sweep.toml";
  std::error_code ec;
  if (fs::exists(plan_file, ec)) {
    if (read_text_file(plan_file) != canonical)
      throw ConfigError(fmt::format(
          "'{}' holds another sweep (its sweep.toml differs from this one): use a new --out, or resume it with "
          "`diffgen sweep {} --out {}`",
          out.string(), plan_file.string(), out.string()));
  } else {
    write_file_atomic(plan_file, canonical);
  }
  fs::create_directories(out / "points", ec);
  if (ec) throw ConfigError(fmt::format("cannot create '{}': {}", (out / "points").string(), ec.message()));
  std::vector<Index> pending;
  skipped = 0;
  for (Index p = 0; p < plan.num_points(); ++p) {
    const fs::path file = point_file(out, p);
    if (!fs::exists(file, ec)) {
      pending.push_back(p);
      continue;
    }
    const SweepPoint done = point_from_json(read_text_file(file), file.string());
    if (done.combination != p / plan.seeds || done.seed != p % plan.seeds)
      throw DataError(fmt::format("{} holds point ({}, seed {}), not point {}; delete it to run that point again",
                                  file.string(), done.combination, done.seed, p));
    ++skipped;
  }
  return pending;
}

}  // namespace

SweepSummary run_sweep(const SweepPlan& plan, const SweepOptions& options, Communicator& comm) {
  SweepSummary summary;
  summary.points = plan.num_points();

  // Rank 0 decides what is left; every rank learns it.
  std::string shared;
  std::string setup_error;
  int setup_code = 0;
  if (comm.is_root()) {
    try {
      std::vector<Index> pending = pending_points(plan, options.out_dir, summary.skipped);
      shared = Json{{"pending", pending}, {"skipped", summary.skipped}}.dump();
    } catch (const Error& e) {
      setup_error = e.what();
      setup_code = e.exit_code();
      shared = Json{{"error", setup_error}, {"exit_code", setup_code}}.dump();
    }
  }
  const Json plan_msg = Json::parse(comm.broadcast(shared));
  if (plan_msg.contains("error")) {
    const std::string msg = plan_msg.at("error").get<std::string>();
    const int code = plan_msg.at("exit_code").get<int>();
    if (code == 3) throw DataError(msg);
    throw ConfigError(msg);
  }
  const auto pending = plan_msg.at("pending").get<std::vector<Index>>();
  summary.skipped = plan_msg.at("skipped").get<Index>();

  // This rank's share, round-robin over the pending points.
  std::vector<Index> mine;
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < pending.size();
       i += static_cast<std::size_t>(comm.size()))
    mine.push_back(pending[i]);

  ProgressBar bar(fmt::format("sweep {}", plan.experiment->name()), static_cast<std::int64_t>(pending.size()),
                  options.progress && comm.is_root());
  const std::size_t round_size = static_cast<std::size_t>(std::max(1, num_threads()));
  std::size_t next = 0;
  std::string first_error;
  int first_error_code = 0;
  bool interrupted = false;
  while (true) {
    RoundReport report;
    if (!interrupt_requested()) {
      const std::size_t end = std::min(mine.size(), next + round_size);
      std::vector<SweepPoint> results(end - next);
      std::vector<bool> ok(end - next, false);
      try {
        parallel_tasks(static_cast<Index>(end - next), [&](Index i) {
          const Index p = mine[next + static_cast<std::size_t>(i)];
          SweepPoint& r = results[static_cast<std::size_t>(i)];
          r.combination = p / plan.seeds;
          r.seed = p % plan.seeds;
          r.table = plan.experiment->run_seed(plan.config_of(r.combination), r.seed);
          ok[static_cast<std::size_t>(i)] = !r.table.interrupted;
        });
      } catch (const Error& e) {
        report.error = e.what();
        report.exit_code = e.exit_code();
      } catch (const std::exception& e) {
        report.error = e.what();
        report.exit_code = 1;
      }
      for (std::size_t i = 0; i < results.size(); ++i) {
        if (!ok[i]) continue;
        report.indices.push_back(mine[next + i]);
        report.points.push_back(point_to_json(plan, results[i]));
      }
      if (report.points.size() < results.size() && report.error.empty()) report.interrupted = true;
      next = end;
    } else {
      report.interrupted = true;
    }
    report.interrupted = report.interrupted || interrupt_requested();
    report.more = next < mine.size();

    // Rank 0 writes what arrived and decides whether to go on.
    const auto reports = comm.gather(encode(report));
    std::string decision;
    if (comm.is_root()) {
      bool more = false;
      for (const auto& text : reports) {
        const RoundReport r = decode(text);
        for (std::size_t i = 0; i < r.points.size(); ++i) {
          write_file_atomic(point_file(options.out_dir, r.indices[i]), r.points[i]);
          ++summary.computed;
          bar.add(1);
        }
        more = more || r.more;
        interrupted = interrupted || r.interrupted;
        if (!r.error.empty() && first_error.empty()) {
          first_error = r.error;
          first_error_code = r.exit_code;
        }
      }
      decision = Json{{"go", more && !interrupted && first_error.empty()},
                      {"interrupted", interrupted},
                      {"error", first_error},
                      {"exit_code", first_error_code},
                      {"computed", summary.computed}}
                     .dump();
    }
    const Json d = Json::parse(comm.broadcast(decision));
    if (!d.at("go").get<bool>()) {
      interrupted = d.at("interrupted").get<bool>();
      first_error = d.at("error").get<std::string>();
      first_error_code = d.at("exit_code").get<int>();
      summary.computed = d.at("computed").get<Index>();
      break;
    }
  }
  bar.finish();
  const Index done = summary.skipped + summary.computed;
  if (!first_error.empty()) {
    const std::string msg = fmt::format("{} ({} of {} points are finished in {}; run the sweep again with the same "
                                        "--out to continue)",
                                        first_error, done, summary.points, options.out_dir.string());
    if (first_error_code == 2) throw ConfigError(msg);
    if (first_error_code == 3) throw DataError(msg);
    if (first_error_code == 4) throw NumericalError(msg);
    throw std::runtime_error(msg);
  }
  if (interrupted || done < summary.points) {
    summary.interrupted = true;
    throw Interrupted(fmt::format("sweep stopped: {} of {} points are finished in {}", done, summary.points,
                                  options.out_dir.string()));
  }
  if (comm.is_root()) summary.failed = write_outputs(plan, options.out_dir, options.quiet);
  return summary;
}

}  // namespace diffgen
