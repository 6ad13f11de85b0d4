// A sweep's outputs (experiments/sweep.hpp): points.csv, aggregate.csv,
// scalars.csv, summary.json, band plots and report.md.
// Tested by sweep_test.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "experiments/report_templates.hpp"
#include "experiments/sweep.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> axis_keys(const SweepPlan& plan) {
  std::vector<std::string> keys;
  for (const auto& a : plan.axes) keys.push_back(a.key);
  return keys;
}

std::vector<CsvCell> axis_cells(const SweepPlan& plan, Index c) {
  std::vector<CsvCell> cells;
  for (const auto& v : plan.combination(c)) {
    if (const auto* d = std::get_if<double>(&v))
      cells.emplace_back(*d);
    else if (const auto* i = std::get_if<std::int64_t>(&v))
      cells.emplace_back(*i);
    else
      cells.emplace_back(format_value(v));
  }
  return cells;
}

std::optional<double> numeric(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<double> numeric(const std::string& text) {
  double x = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return x;
}

void write_points_csv(const SweepPlan& plan, const std::vector<SweepPoint>& points, const SweepAggregate& agg,
                      RunWriter& out) {
  std::vector<std::string> columns = axis_keys(plan);
  columns.push_back("seed");
  columns.insert(columns.end(), agg.keys.begin(), agg.keys.end());
  columns.insert(columns.end(), agg.metrics.begin(), agg.metrics.end());
  CsvTable csv(columns);
  for (const auto& m : agg.metrics) csv.allow_missing(m);
  for (const auto& p : points)
    for (std::size_t r = 0; r < p.table.values.size(); ++r) {
      auto cells = axis_cells(plan, p.combination);
      cells.emplace_back(p.seed);
      for (const auto& k : p.table.key_values[r]) cells.emplace_back(k);
      for (double x : p.table.values[r]) cells.emplace_back(CsvCell::finite_or_missing(x));
      csv.add_row(std::move(cells));
    }
  out.csv("points.csv", csv);
}

// mean, sd and the 95% CI's ends; missing where no seed has a finite value.
void add_spread_cells(std::vector<CsvCell>& cells, const Spread& s, bool with_range) {
  const bool any = s.count > 0;
  std::vector<double> xs{s.mean, s.sd, s.mean - s.ci95, s.mean + s.ci95};
  if (with_range) xs.insert(xs.end(), {s.min, s.max});
  for (double x : xs) cells.emplace_back(any ? CsvCell::finite_or_missing(x) : CsvCell::missing());
}

void write_aggregates(const SweepPlan& plan, const SweepAggregate& agg, RunWriter& out) {
  std::vector<std::string> columns = axis_keys(plan);
  columns.insert(columns.end(), agg.keys.begin(), agg.keys.end());
  for (const char* c : {"metric", "n", "mean", "sd", "ci95_lo", "ci95_hi"}) columns.emplace_back(c);
  CsvTable curves(columns);
  for (const char* c : {"mean", "sd", "ci95_lo", "ci95_hi"}) curves.allow_missing(c);
  for (const auto& a : agg.curves) {
    auto cells = axis_cells(plan, a.combination);
    for (const auto& k : a.key_values) cells.emplace_back(k);
    cells.emplace_back(a.metric);
    cells.emplace_back(a.spread.count);
    add_spread_cells(cells, a.spread, false);
    curves.add_row(std::move(cells));
  }
  out.csv("aggregate.csv", curves);
  columns = axis_keys(plan);
  for (const char* c : {"scalar", "n", "mean", "sd", "ci95_lo", "ci95_hi", "min", "max"}) columns.emplace_back(c);
  CsvTable scalars(columns);
  for (const char* c : {"mean", "sd", "ci95_lo", "ci95_hi", "min", "max"}) scalars.allow_missing(c);
  for (const auto& a : agg.scalar_spreads) {
    auto cells = axis_cells(plan, a.combination);
    cells.emplace_back(a.scalar);
    cells.emplace_back(a.spread.count);
    add_spread_cells(cells, a.spread, true);
    scalars.add_row(std::move(cells));
  }
  out.csv("scalars.csv", scalars);
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
    if (plan.axes.empty()) row.emplace_back("all");
    for (const auto& v : plan.combination(c)) row.emplace_back(format_value(v));
    const Index failed = agg.failed_seeds[static_cast<std::size_t>(c)];
    row.emplace_back(failed > 0 ? fmt::format("{} ({} failed)", plan.seeds, failed) : std::to_string(plan.seeds));
    for (const auto& name : agg.scalars) {
      const ScalarAggregate* found = nullptr;
      for (const auto& a : agg.scalar_spreads)
        if (a.combination == c && a.scalar == name) found = &a;
      row.emplace_back(found ? format_pm(found->spread, 4) : std::string("-"));
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
    lo = std::min(lo, y), hi = std::max(hi, y);
  }
  return hi > 0 && hi / lo > 20;
}

// One plot per metric over the first key column (when it is numeric): mean
// and 95% band per combination. Several key columns give one line per value
// of the others.
void add_curve_plots(const SweepPlan& plan, const SweepAggregate& agg, RunWriter& out) {
  if (agg.keys.empty() || agg.keys.size() > 1) return;
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
        const auto key = numeric(a.key_values.front());
        if (a.combination != c || a.metric != metric || a.spread.count == 0 || !key) continue;
        x.push_back(*key), y.push_back(a.spread.mean);
        lo.push_back(a.spread.mean - a.spread.ci95), hi.push_back(a.spread.mean + a.spread.ci95);
      }
      if (x.empty()) continue;
      all_y.insert(all_y.end(), y.begin(), y.end());
      if (plan.seeds > 1) spec.series.push_back(Series::band("", x, lo, hi));
      spec.series.push_back(Series::line(plan.label(c), x, y));
    }
    if (spec.series.empty()) continue;
    spec.logy = positive_spanning(all_y);
    if (spec.logy) {  // a band reaching zero or below cannot be drawn on a log axis: clip it
      const double floor = *std::min_element(all_y.begin(), all_y.end()) / 10;
      for (auto& s : spec.series)
        if (s.kind == SeriesKind::Band)
          for (double& v : s.lo) v = std::max(v, floor);
    }
    if (plan.num_combinations() > 6) spec.key = "outside right";
    out.plot(metric, std::move(spec));
  }
}

// Each scalar against the first numeric axis, one line (with its CI band) per
// combination of the other axes.
void add_scalar_plots(const SweepPlan& plan, const SweepAggregate& agg, RunWriter& out) {
  std::size_t axis = plan.axes.size();
  for (std::size_t j = 0; j < plan.axes.size() && axis == plan.axes.size(); ++j)
    if (plan.axes[j].values.size() > 1 && numeric(plan.axes[j].values.front())) axis = j;
  if (axis == plan.axes.size()) return;
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
      for (const auto& p : pts) x.push_back(p[0]), y.push_back(p[1]), lo.push_back(p[2]), hi.push_back(p[3]);
      if (plan.seeds > 1) spec.series.push_back(Series::band("", x, lo, hi));
      spec.series.push_back(Series::line_points(group, x, y));
    }
    if (!spec.series.empty()) out.plot("scalar-" + name, std::move(spec));
  }
}

Json summary_json(const SweepPlan& plan, const SweepAggregate& agg, Index failed) {
  Json combos = Json::array();
  for (Index c = 0; c < plan.num_combinations(); ++c) {
    Json values = Json::object();
    const auto combo = plan.combination(c);
    for (std::size_t j = 0; j < plan.axes.size(); ++j) values[plan.axes[j].key] = format_value(combo[j]);
    Json scalars = Json::object();
    for (const auto& a : agg.scalar_spreads)
      if (a.combination == c) scalars[a.scalar] = spread_json(a.spread);
    combos.push_back(
        {{"values", values}, {"failed_seeds", agg.failed_seeds[static_cast<std::size_t>(c)]}, {"scalars", scalars}});
  }
  Json axes = Json::array();
  for (const auto& a : plan.axes) {
    std::vector<std::string> values;
    for (const auto& v : a.values) values.push_back(format_value(v));
    axes.push_back({{"key", a.key}, {"values", values}});
  }
  return {{"experiment", plan.experiment->name()}, {"seeds", plan.seeds},       {"axes", axes},
          {"points", plan.num_points()},           {"failed_points", failed},   {"combinations", combos}};
}

}  // namespace

RunWriter::Outcome write_sweep_outputs(const SweepPlan& plan, const std::vector<SweepPoint>& points,
                                       const std::filesystem::path& out_dir) {
  RunWriter out(out_dir);
  const SweepAggregate agg = aggregate_sweep(plan, points);
  write_points_csv(plan, points, agg, out);
  write_aggregates(plan, agg, out);
  Index failed = 0;
  for (Index f : agg.failed_seeds) failed += f;
  out.json("summary.json", summary_json(plan, agg, failed));
  add_curve_plots(plan, agg, out);
  add_scalar_plots(plan, agg, out);
  out.render_plots();
  const Table table = scalars_table(plan, agg);
  out.report(report_template("sweep"),
             {{"experiment", plan.experiment->name()},
              {"combinations", plan.num_combinations()},
              {"combinations_plural", plan.num_combinations() == 1 ? "" : "s"},
              {"seeds", plan.seeds},
              {"seeds_plural", plan.seeds == 1 ? "" : "s"},
              {"points", plan.num_points()},
              {"failed", failed},
              {"any_failed", failed > 0},
              {"failed_plural", failed == 1 ? "" : "s"},
              {"table", table.to_markdown()}});
  out.terminal(table.to_text() + "\n");
  // Every failed point by name (the first few when there are many), then the
  // first one's reason; the command line exits with code 4.
  constexpr std::size_t kNamedPoints = 10;
  std::vector<std::string> names;
  const SweepPoint* first = nullptr;
  for (const auto& p : points)
    if (!p.table.failure.empty()) {
      if (!first) first = &p;
      if (names.size() < kNamedPoints) names.push_back(fmt::format("{} seed {}", plan.label(p.combination), p.seed));
    }
  if (first) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : "; ") + n;
    if (static_cast<Index>(names.size()) < failed) list += fmt::format("; and {} more", failed - names.size());
    out.fail(fmt::format("{} of {} points stopped early ({}); the first: {} (outputs written to {})", failed,
                         plan.num_points(), list, first->table.failure, out_dir.string()));
  }
  return out.outcome();
}

}  // namespace diffgen
