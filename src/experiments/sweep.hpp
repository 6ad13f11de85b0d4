// `diffgen sweep FILE.toml`: an experiment run over a grid of configuration
// keys × seeds, every point on all cores and, under mpirun, over MPI ranks.
//
// A sweep file names a sweepable experiment, the number of seeds, settings
// shared by every point, and one list of values per swept key:
//
//   experiment = "early-stopping"
//   seeds = 5
//   [set]                 # any keys of the experiment, as in --config
//   epochs = 1000
//   [grid]                # every combination of these values is a point
//   "target.mu" = [1.0, 3.0, 5.0]
//   optimizer = ["sgd", "adam"]
//
// Point p = c · seeds + k is combination c (first axis slowest) with seed k,
// run by Experiment::run_seed: its numbers depend on (config, k) only, so a
// sweep gives the same files for any thread count, rank count or order.
// Each finished point is written at once to OUT/points/ (atomically); a sweep
// started again with the same OUT skips the points already there, so a kill
// loses only the points that were running.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "experiments/communicator.hpp"
#include "experiments/experiment.hpp"
#include "numerics/statistics.hpp"

namespace diffgen {

struct SweepAxis {
  std::string key;
  std::vector<Value> values;  // validated against the experiment's schema, no duplicates
};

struct SweepPlan {
  const Experiment* experiment = nullptr;  // sweepable
  Index seeds = 1;
  Config base;                  // the experiment's schema with [set] applied
  std::vector<SweepAxis> axes;  // in the file's order; none: a single combination

  explicit SweepPlan(Config base_config) : base(std::move(base_config)) {}

  // Product of the axes' sizes (1 without axes).
  Index num_combinations() const;
  Index num_points() const { return num_combinations() * seeds; }
  // The values of combination c, one per axis (first axis slowest).
  std::vector<Value> combination(Index c) const;
  // "target.mu=3, optimizer=adam" ("all" without axes).
  std::string label(Index c) const;
  // The base configuration with combination c applied.
  Config config_of(Index c) const;
  // Everything that decides the points' numbers (experiment, seeds, every
  // resolved key, the axes): a resumed sweep must have the same.
  std::string canonical_text() const;
};

// Parses a sweep file. ConfigError names the file and the key for: a missing
// or unknown experiment (or one that cannot be swept), an unknown key, a
// value the key does not allow (every grid value is checked), an empty or
// duplicated list, a key both set and swept, a table other than [set] and
// [grid], and any combination the experiment's validate() refuses.
SweepPlan parse_sweep_file(const std::filesystem::path& file);
SweepPlan parse_sweep_string(std::string_view text, std::string_view source);

// One finished point.
struct SweepPoint {
  Index combination = 0;
  Index seed = 0;
  SeedTable table;
};

// A point as the text of its points/ file (JSON; NaN as null; doubles round
// trip exactly) and back. DataError naming `source` for a malformed file.
std::string point_to_json(const SweepPlan& plan, const SweepPoint& point);
SweepPoint point_from_json(std::string_view text, std::string_view source);

// Mean and 95% confidence interval over seeds of every metric at every key
// value (e.g. epoch) of every combination, and of every headline scalar.
struct CurveAggregate {
  Index combination = 0;
  std::vector<double> key_values;  // the rows' index columns
  std::string metric;
  Spread spread;  // over the seeds with a finite value there
};
struct ScalarAggregate {
  Index combination = 0;
  std::string scalar;
  Spread spread;
};
struct SweepAggregate {
  std::vector<std::string> keys, metrics, scalars;  // columns of the points, in first-seen order
  std::vector<CurveAggregate> curves;               // by combination, then key values, then metric
  std::vector<ScalarAggregate> scalar_spreads;      // by combination, then scalar
  std::vector<Index> failed_seeds;                  // per combination: seeds that stopped early
};
// `points` in any order; aggregates are in combination order. Throws
// DataError when points disagree on their columns.
SweepAggregate aggregate_sweep(const SweepPlan& plan, std::vector<SweepPoint> points);

struct SweepOptions {
  std::filesystem::path out_dir;  // created by the caller (rank 0)
  bool progress = false;          // progress bar on stderr (rank 0)
  bool quiet = false;             // no table on stdout
};

struct SweepSummary {
  Index points = 0;    // in the plan
  Index skipped = 0;   // already finished in out_dir when the sweep started
  Index computed = 0;  // finished by this call
  Index failed = 0;    // points whose seed stopped early (still written; aggregated without them)
  bool interrupted = false;
};

// Runs the plan's pending points and, on rank 0, writes each into
// OUT/points/ as it arrives, then the aggregate outputs: points.csv (every
// row of every point), aggregate.csv (mean, sd and 95% CI over seeds),
// scalars.csv, summary.json, plots/*.png (means with CI bands) and report.md.
// Collective: every rank calls it with the same plan. Points are dealt to
// ranks round-robin and computed in rounds of `num_threads()` points per
// rank, gathered to rank 0 after each round. When interrupt_requested()
// the ranks stop after the round in progress and throw Interrupted (rank 0
// first writes what finished). Refuses (ConfigError) an OUT that holds a
// different sweep.
SweepSummary run_sweep(const SweepPlan& plan, const SweepOptions& options, Communicator& comm);

}  // namespace diffgen
