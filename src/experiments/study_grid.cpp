#include "experiments/study_grid.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "experiments/checkpoint.hpp"
#include "experiments/study_table.hpp"
#include "numerics/statistics.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;

fs::path variant_checkpoint(const fs::path& out, const std::string& slug, Index k) {
  return out / "checkpoints" / fmt::format("{}-seed-{}.bin", slug, k);
}

}  // namespace

std::vector<std::vector<SeedResult>> run_study_grid(const std::string& experiment, const Config& config,
                                                    const std::vector<StudyVariant>& variants,
                                                    const RunOptions& options) {
  const Index V = static_cast<Index>(variants.size()), K = options.seeds;
  const std::string config_toml = config.to_toml();
  std::error_code ec;
  // A resume checks every checkpoint before any work; a fresh run drops old ones.
  std::vector<std::optional<StudyCheckpoint>> resume(static_cast<std::size_t>(V * K));
  if (!options.resume) fs::remove_all(options.out_dir / "checkpoints", ec);
  for (Index v = 0; v < V && options.resume; ++v) {
    for (Index k = 0; k < K; ++k) {
      const fs::path file = variant_checkpoint(options.out_dir, variants[v].slug, k);
      if (!fs::exists(file, ec)) continue;
      StudyCheckpoint c = load_checkpoint(file);
      check_checkpoint_matches(c, file, experiment, config, K, k);
      check_resumable(c, variants[v].settings, file);
      resume[static_cast<std::size_t>(v * K + k)] = std::move(c);
    }
  }
  Index work = 0;
  for (const auto& variant : variants) work += K * training_study_work(variant.settings);
  ProgressBar bar(fmt::format("{} ({} variants x {} seed{})", experiment, V, K, K > 1 ? "s" : ""), work,
                  options.progress && !options.quiet);
  std::vector<std::vector<SeedResult>> results(static_cast<std::size_t>(V), std::vector<SeedResult>(K));
  // The most expensive variants first, so the last tasks are short ones.
  std::vector<Index> order(static_cast<std::size_t>(V * K));
  for (Index i = 0; i < V * K; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
    const auto cost = [&](Index i) {
      const auto& s = variants[static_cast<std::size_t>(i / K)].settings;
      return static_cast<double>(s.epochs) * static_cast<double>(s.n) *
             static_cast<double>(s.model == "mlp" ? s.mlp.hidden : s.random_features.width);
    };
    return cost(a) > cost(b);
  });
  parallel_tasks(V * K, [&](Index t) {
    const Index i = order[static_cast<std::size_t>(t)], v = i / K, k = i % K;
    StudyCheckpointing checkpointing{variant_checkpoint(options.out_dir, variants[v].slug, k), experiment,
                                     config_toml, K, std::move(resume[static_cast<std::size_t>(i)])};
    results[v][k] = run_training_study(
        variants[v].settings, k, [&](Index units) { bar.add(units); }, std::move(checkpointing));
  });
  bar.finish();
  Index interrupted = 0;
  for (const auto& row : results)
    for (const auto& r : row) interrupted += r.interrupted ? 1 : 0;
  if (interrupted > 0)
    throw Interrupted(fmt::format("{} stopped with {} of {} runs unfinished; their checkpoints are in {}", experiment,
                                  interrupted, V * K, (options.out_dir / "checkpoints").string()));
  return results;
}

CurveBand curve_band(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  std::map<Index, std::vector<double>> at;
  for (const auto& s : seeds)
    for (const auto& r : s.rows)
      if (std::isfinite(r.*metric)) at[r.epoch].push_back(r.*metric);
  CurveBand band;
  for (const auto& [epoch, values] : at) {
    const Spread sp = spread(values);
    band.epoch.push_back(static_cast<double>(epoch));
    band.mean.push_back(sp.mean);
    band.lo.push_back(sp.mean - sp.ci95);
    band.hi.push_back(sp.mean + sp.ci95);
  }
  return band;
}

void write_grid_metrics(const std::vector<StudyVariant>& variants,
                        const std::vector<std::vector<SeedResult>>& results, const fs::path& file) {
  std::vector<std::string> columns;
  if (!variants.empty())
    for (const auto& [name, value] : variants.front().tags) columns.push_back(name);
  for (const char* c : {"seed", "epoch", "steps"}) columns.emplace_back(c);
  for (const auto& [name, field] : study_metrics()) columns.push_back(name);
  CsvTable csv(columns);
  for (const auto& [name, field] : study_metrics()) csv.allow_missing(name);
  for (std::size_t v = 0; v < variants.size(); ++v) {
    for (const auto& seed : results[v]) {
      for (const auto& r : seed.rows) {
        std::vector<CsvCell> cells;
        for (const auto& [name, value] : variants[v].tags) cells.push_back(value);
        cells.emplace_back(seed.seed_index);
        cells.emplace_back(r.epoch);
        cells.emplace_back(r.steps);
        for (const auto& [name, field] : study_metrics()) cells.push_back(CsvCell::finite_or_missing(r.*field));
        csv.add_row(std::move(cells));
      }
    }
  }
  csv.write(file);
}

namespace {
template <class Spec>
bool render_checked(const Spec& spec, const fs::path& png, std::vector<std::string>& warnings) {
  try {
    render_png(spec, png);
    return true;
  } catch (const std::exception& e) {
    warnings.push_back(fmt::format("plot {} not written: {}", png.filename().string(), e.what()));
    return false;
  }
}
}  // namespace

bool render_or_warn(const PlotSpec& spec, const fs::path& png, std::vector<std::string>& warnings) {
  return render_checked(spec, png, warnings);
}
bool render_or_warn(const PanelGrid& grid, const fs::path& png, std::vector<std::string>& warnings) {
  return render_checked(grid, png, warnings);
}

Schema study_schema(const std::vector<std::string>& owned,
                    const std::vector<std::pair<std::string, Value>>& defaults) {
  Schema study;
  add_training_study_keys(study);
  for (const auto& key : owned)
    if (!study.find(key)) throw std::invalid_argument("study_schema: unknown owned key " + key);
  for (const auto& [key, value] : defaults)
    if (!study.find(key)) throw std::invalid_argument("study_schema: unknown key " + key);
  Schema out;
  for (KeySpec spec : study.keys()) {
    if (std::find(owned.begin(), owned.end(), spec.key) != owned.end()) continue;
    for (const auto& [key, value] : defaults)
      if (key == spec.key) spec.default_value = value;
    out.add(std::move(spec));  // checks the new default against the key's type and range
  }
  return out;
}

Config study_config(const Config& experiment_config, const std::vector<std::pair<std::string, Value>>& overrides) {
  Schema study;
  add_training_study_keys(study);
  Config c(study);
  for (const auto& spec : study.keys())
    if (experiment_config.schema().find(spec.key)) c.set_value(spec.key, experiment_config.get(spec.key));
  for (const auto& [key, value] : overrides) c.set_value(key, value);
  return c;
}

std::vector<double> parse_positive_list(const std::string& key, const std::string& text) {
  std::vector<double> values;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || !std::isfinite(v) || v <= 0)
      throw ConfigError(fmt::format("{} = '{}': '{}' is not a positive number (give a comma-separated list, e.g. "
                                    "\"2,4,8\")",
                                    key, text, item));
    if (std::find(values.begin(), values.end(), v) != values.end())
      throw ConfigError(fmt::format("{} = '{}' lists {} twice", key, text, item));
    values.push_back(v);
    start = comma + 1;
  }
  return values;
}

std::string mean_pm(const std::vector<double>& values, int digits) {
  const Spread s = spread(values);
  if (s.count == 0) return "-";
  if (s.count < 2) return fmt::format("{:.{}g}", s.mean, digits);
  return fmt::format("{:.{}g} ± {:.2g}", s.mean, digits, s.ci95);
}

}  // namespace diffgen
