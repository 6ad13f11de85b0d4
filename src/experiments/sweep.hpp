// `diffgen sweep FILE.toml`: an experiment run over a grid of configuration
// keys × seeds, every task on all cores and, under mpirun, over MPI ranks.
//
// A sweep file names an experiment, the number of seeds, settings shared by
// every point, and one list of values per swept key:
//
//   experiment = "early-stopping"
//   seeds = 5
//   [set]                 # any keys of the experiment, as in --config
//   "train.epochs" = 1000
//   [grid]                # every combination of these values is a point
//   "target.mu" = [1.0, 3.0, 5.0]
//   "train.optimizer" = ["sgd", "adam"]
//
// Combination c (first axis slowest) is the experiment's own plan with those
// settings and `seeds` seeds; all combinations' tasks run together on the
// engine (engine/engine.hpp), so a sweep gives the same files for any thread
// count, rank count or order, keeps each finished task in OUT/tasks/, and a
// sweep started again with the same OUT continues where it stopped. Point
// (c, k) is seed k of combination c: its table (Study::seed_table) is what
// the sweep aggregates over seeds.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "engine/communicator.hpp"
#include "engine/engine.hpp"
#include "experiments/experiment.hpp"
#include "numerics/statistics.hpp"

namespace diffgen {

struct SweepAxis {
  std::string key;
  std::vector<Value> values;  // validated against the experiment's schema, no duplicates
};

struct SweepPlan {
  const Experiment* experiment = nullptr;
  Index seeds = 1;
  Config base;                  // the experiment's schema with [set] applied
  std::vector<SweepAxis> axes;  // in the file's order; none: a single combination

  explicit SweepPlan(Config base_config) : base(std::move(base_config)) {}

  // Product of the axes' sizes (1 without axes).
  Index num_combinations() const;
  Index num_points() const { return num_combinations() * seeds; }
  // The values of combination c, one per axis (first axis slowest).
  std::vector<Value> combination(Index c) const;
  // "target.mu=3, train.optimizer=adam" ("all" without axes).
  std::string label(Index c) const;
  // The base configuration with combination c applied.
  Config config_of(Index c) const;
  // Everything that decides the points' numbers (experiment, seeds, every
  // resolved key, the axes), as a sweep file: a resumed sweep must have the same.
  std::string canonical_text() const;
};

// Parses a sweep file. ConfigError names the file and the key for: a missing
// or unknown experiment, an unknown key, a value the key does not allow
// (every grid value is checked), an empty or duplicated list, a key both set
// and swept, a table other than [set] and [grid], and any combination the
// experiment's validate() refuses.
SweepPlan parse_sweep_file(const std::filesystem::path& file);
SweepPlan parse_sweep_string(std::string_view text, std::string_view source);

// One finished point: seed k of combination c.
struct SweepPoint {
  Index combination = 0;
  Index seed = 0;
  SeedTable table;
};

// Mean and 95% confidence interval over seeds of every metric at every row
// key (in the order the points list them) of every combination, and of every
// headline scalar.
struct CurveAggregate {
  Index combination = 0;
  std::vector<std::string> key_values;  // the rows' index columns
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
  std::vector<CurveAggregate> curves;               // by combination, then row key, then metric
  std::vector<ScalarAggregate> scalar_spreads;      // by combination, then scalar
  std::vector<Index> failed_seeds;                  // per combination: seeds that stopped early
};
// `points` in any order; aggregates are in combination order. Throws
// DataError when points disagree on their columns.
SweepAggregate aggregate_sweep(const SweepPlan& plan, std::vector<SweepPoint> points);

struct SweepOptions {
  std::filesystem::path out_dir;  // created by the caller (rank 0)
  std::function<void(std::int64_t)> on_start, on_progress;
};

struct SweepSummary {
  Index tasks = 0;     // in the plan (kept tasks of every combination)
  Index reused = 0;    // already finished in out_dir when the sweep started
  Index computed = 0;  // finished by this call
  Index failed = 0;    // points whose seed stopped early (written; aggregated without them)
  RunWriter::Outcome outcome;  // rank 0: what to show; a failure to report with exit code 4
};

// Runs the plan's pending tasks and, on rank 0, writes: points.csv (every row
// of every point), aggregate.csv (mean, sd and 95% CI over seeds),
// scalars.csv, summary.json, plots/*.png (means with CI bands), report.md and
// sweep.toml (the resolved sweep, to run or resume it again). Collective:
// every rank calls it with the same plan. Throws Interrupted when a stop was
// requested (finished tasks are kept), ConfigError when OUT holds another sweep.
SweepSummary run_sweep(const SweepPlan& plan, const SweepOptions& options, Communicator& comm);

// Writes the outputs of the finished points (rank 0 of run_sweep).
RunWriter::Outcome write_sweep_outputs(const SweepPlan& plan, const std::vector<SweepPoint>& points,
                                       const std::filesystem::path& out_dir);

}  // namespace diffgen
