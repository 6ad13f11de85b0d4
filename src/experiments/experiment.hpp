// The named experiments behind `diffgen run NAME`. An experiment is:
//   settings  — a Schema of keys, grouped by concept and shared with the other
//               experiments (describe, --config, --set), checked by validate();
//   a plan    — independent tasks (engine/task.hpp), each a pure function of
//               the settings that returns numbers;
//   a report  — the tasks' values summarized into its Summary, and written
//               through the RunWriter (report/run_writer.hpp).
// The engine runs, checkpoints and resumes the tasks, on threads and MPI
// ranks (engine/engine.hpp); an experiment prints nothing and writes no file
// itself. Every experiment can be swept (experiments/sweep.hpp): the sweep
// plans each combination of settings and aggregates each seed's table.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/types.hpp"
#include "engine/task.hpp"
#include "report/run_writer.hpp"

namespace diffgen {

// One seed of an experiment as tidy numbers, for sweeps: rows indexed by
// `keys` (epoch; or dimension, rule, steps ...) with one column per metric,
// plus the seed's headline numbers. Every seed has the same columns.
struct SeedTable {
  std::vector<std::string> keys;                        // index columns
  std::vector<std::string> metrics;                     // measured columns
  std::vector<std::vector<std::string>> key_values;     // per row, the index values as text ("100", "mean")
  std::vector<std::vector<double>> values;              // per row, the metrics; NaN where not measured
  std::map<std::string, double> scalars;                // headline numbers; NaN when undefined
  std::string failure;                                  // empty: the seed completed; else why it stopped
};

// A planned run: settings read once, tasks fixed.
class Study {
 public:
  virtual ~Study() = default;
  virtual const std::vector<TaskInfo>& tasks() const = 0;
  virtual TaskValue run_task(Index task, const TaskContext& context) const = 0;
  // Kept tasks' values to JSON and back (exactly: doubles round trip).
  virtual Json encode(Index task, const TaskValue& value) const = 0;
  virtual TaskValue decode(Index task, const Json& json) const = 0;
  // Summarizes the kept tasks' values (values[i] for task i) and writes every
  // output through `out`: metrics.csv, summary.json, plots, report.md.
  virtual void report(const std::vector<TaskValue>& values, RunWriter& out) const = 0;
  // Seed k's numbers, for sweeps.
  virtual SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const = 0;
};

class Experiment {
 public:
  virtual ~Experiment() = default;
  virtual std::string name() const = 0;
  // One line for `diffgen list`.
  virtual std::string purpose() const = 0;
  // Every key with its type, default, range and meaning, and the old names
  // of renamed keys (refused with "renamed to ...").
  Schema schema() const;
  // Checks what one key's range cannot: contradictory settings (a t0 below
  // eps, a grid that misses the target's mass). Throws ConfigError naming the
  // keys. Called before anything is written.
  virtual void validate(const Config& config) const;
  // The run of `seeds` seeds (k = 0..seeds-1, streams of (seed, k)).
  // ConfigError for settings validate() refuses; DataError for a bad data file.
  virtual std::unique_ptr<Study> plan(const Config& config, Index seeds) const = 0;

 protected:
  // The experiment's keys (schema() adds the renamed ones).
  virtual Schema keys() const = 0;
};

// All experiments, in `list` order.
const std::vector<std::unique_ptr<Experiment>>& experiments();
// nullptr when no experiment has that name.
const Experiment* find_experiment(std::string_view name);

}  // namespace diffgen
