// Several variants of the training study (a mode distance, an optimizer
// schedule, a network width) × K seeds, run as independent parallel tasks,
// with per-(variant, seed) checkpoints for --resume: the engine behind the
// mode-shift, optimizers and capacity experiments. Each variant is
// bit-identical to `diffgen run early-stopping` with the same settings.
#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/io.hpp"
#include "experiments/experiment.hpp"
#include "experiments/training_study.hpp"
#include "report/plot.hpp"

namespace diffgen {

struct StudyVariant {
  std::string slug;   // file-name safe, unique within the grid (checkpoint names)
  std::string label;  // legends and tables
  std::vector<std::pair<std::string, CsvCell>> tags;  // leading columns of metrics.csv, e.g. {"distance", 6.0}
  TrainingStudySettings settings;
};

// results[v][k] is variant v, seed k. With options.resume, continues from the
// checkpoints in options.out_dir (checked against `config` first); otherwise
// removes any left there. Throws Interrupted (after every started seed saved
// its state) when a stop was requested.
std::vector<std::vector<SeedResult>> run_study_grid(const std::string& experiment, const Config& config,
                                                    const std::vector<StudyVariant>& variants,
                                                    const RunOptions& options);

// Mean and 95% CI over seeds of a metric along training, at the epochs where
// at least one seed has a finite value.
struct CurveBand {
  std::vector<double> epoch, mean, lo, hi;
};
CurveBand curve_band(const std::vector<SeedResult>& seeds, double StudyRow::*metric);

// metrics.csv: the variant's tags, seed, epoch, then every study metric.
void write_grid_metrics(const std::vector<StudyVariant>& variants,
                        const std::vector<std::vector<SeedResult>>& results, const std::filesystem::path& file);

// Renders a plot; a failure (no gnuplot, ...) becomes a warning and the
// run's other outputs stand. True when the PNG was written.
bool render_or_warn(const PlotSpec& spec, const std::filesystem::path& png, std::vector<std::string>& warnings);
bool render_or_warn(const PanelGrid& grid, const std::filesystem::path& png, std::vector<std::string>& warnings);

// An experiment's schema built on the training study's keys: without the
// keys it sets itself for each variant (`owned`, e.g. target.mu for
// mode-shift), and with its own defaults for some others.
// std::invalid_argument for an unknown key or a default the key does not
// allow (a schema bug).
Schema study_schema(const std::vector<std::string>& owned,
                    const std::vector<std::pair<std::string, Value>>& defaults);

// The training-study Config of one variant: every training-study key the
// experiment's config has, then `overrides` (the owned keys' values).
Config study_config(const Config& experiment_config, const std::vector<std::pair<std::string, Value>>& overrides);

// "2, 4, 6" -> {2, 4, 6}: positive finite numbers, at least one, no
// repeats, in the order given. ConfigError naming the key otherwise.
std::vector<double> parse_positive_list(const std::string& key, const std::string& text);

// "a ± b" with the CI half-width, or the mean alone for one seed; "-" when undefined.
std::string mean_pm(const std::vector<double>& values, int digits = 3);

}  // namespace diffgen
