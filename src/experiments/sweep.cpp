#include "experiments/sweep.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "core/error.hpp"
#include "core/io.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;

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
  if (const auto* list = std::get_if<StringList>(&v)) {
    std::vector<std::string> items;
    for (const auto& item : *list) items.push_back(toml_quoted(item));
    return fmt::format("[{}]", fmt::join(items, ", "));
  }
  std::string text = format_value(v);
  // A double must read back as a TOML float, not an integer: 1 -> 1.0.
  if (std::holds_alternative<double>(v) && text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

// A TOML node as the text a user would give to --set (a list as "[a, b]"),
// or nullopt for tables and nested arrays.
std::optional<std::string> scalar_text(const toml::node& node, bool quote_strings = false) {
  if (auto s = node.value<std::string>(); s && node.is_string()) return quote_strings ? toml_quoted(*s) : *s;
  if (node.is_integer()) return std::to_string(*node.value<std::int64_t>());
  if (node.is_floating_point()) return toml_value(Value(*node.value<double>()));
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  return std::nullopt;
}

std::optional<std::string> value_text(const toml::node& node) {
  const auto* array = node.as_array();
  if (!array) return scalar_text(node);
  std::vector<std::string> items;
  for (const auto& item : *array) {
    const auto text = scalar_text(item, true);
    if (!text) return std::nullopt;
    items.push_back(*text);
  }
  return fmt::format("[{}]", fmt::join(items, ", "));
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

// The sweep file as TOML, with only the top-level entries a sweep file has.
toml::table parse_sweep_toml(std::string_view text, std::string_view source) {
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
  return root;
}

// The leaves of [set] and of [grid] as dotted keys; [grid]'s in the file's order.
void sweep_tables(const toml::table& root, std::string_view source,
                  std::vector<std::pair<std::string, const toml::node*>>& set_keys,
                  std::vector<std::pair<std::string, const toml::node*>>& grid_keys) {
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
}

// Refuses a key the experiment does not have, naming its new name when it
// was renamed, or the closest key.
class KeyCheck {
 public:
  KeyCheck(const Experiment& experiment, std::string_view source)
      : experiment_(experiment),
        source_(source),
        known_(experiment.schema().key_names()),
        schema_(experiment.schema()) {}

  void operator()(const std::string& key, const toml::node& node) const {
    if (schema_.find(key)) return;
    if (const std::string* now = schema_.renamed_to(key))
      throw ConfigError(fmt::format("{}: key '{}' was renamed to '{}'", where(node, source_), key, *now));
    const auto near = closest_names(key, known_);
    throw ConfigError(fmt::format("{}: unknown key '{}' for experiment '{}'{}", where(node, source_), key,
                                  experiment_.name(),
                                  near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near.front())));
  }

 private:
  const Experiment& experiment_;
  std::string_view source_;
  const std::vector<std::string> known_;
  const Schema schema_;
};

// A [set] entry, set on the base settings.
void set_from(Config& base, const std::string& key, const toml::node& node, std::string_view source) {
  const auto value = value_text(node);
  if (!value)
    throw ConfigError(fmt::format("{}: [set] {} must be a value or a list of values", where(node, source), key));
  try {
    base.set(key, *value);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", where(node, source), e.what()));
  }
}

// A [grid] entry as an axis: its values in the file's order, each checked by
// setting it on a copy of the base settings.
SweepAxis grid_axis(const Config& base, const std::string& key, const toml::node& node, std::string_view source) {
  if (base.is_user_set(key))
    throw ConfigError(fmt::format("{}: '{}' is both in [set] and in [grid]; keep one", where(node, source), key));
  const auto* array = node.as_array();
  if (!array || array->empty())
    throw ConfigError(
        fmt::format("{}: [grid] {} must be a non-empty list of values, e.g. [1, 2, 3]", where(node, source), key));
  SweepAxis axis{key, {}};
  Config probe = base;
  for (const auto& item : *array) {
    const auto value = value_text(item);
    if (!value)
      throw ConfigError(fmt::format("{}: [grid] {} lists a value that is not a number, string, bool or list",
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
  return axis;
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
  const toml::table root = parse_sweep_toml(text, source);
  const Experiment& experiment = sweep_experiment(root, source);
  SweepPlan plan{Config(experiment.schema())};
  plan.experiment = &experiment;
  plan.seeds = sweep_seeds(root, source);

  std::vector<std::pair<std::string, const toml::node*>> set_keys, grid_keys;
  sweep_tables(root, source, set_keys, grid_keys);
  const KeyCheck check_known(experiment, source);
  for (const auto& [key, node] : set_keys) {
    check_known(key, *node);
    set_from(plan.base, key, *node, source);
  }
  for (const auto& [key, node] : grid_keys) {
    check_known(key, *node);
    plan.axes.push_back(grid_axis(plan.base, key, *node, source));
  }
  constexpr Index kMaxPoints = 10'000'000;
  double points = static_cast<double>(plan.seeds);
  for (const auto& a : plan.axes) points *= static_cast<double>(a.values.size());
  if (points > static_cast<double>(kMaxPoints))
    throw ConfigError(
        fmt::format("{}: the grid has {:.0f} points (combinations × seeds); at most {}", source, points, kMaxPoints));
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

}  // namespace diffgen
