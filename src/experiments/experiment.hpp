// The named experiments behind `diffgen run NAME`. An experiment declares its
// settings as a Schema (used by `describe`, --config and --set), and runs
// from a resolved Config into an output folder.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/types.hpp"

namespace diffgen {

struct RunOptions {
  std::filesystem::path out_dir;  // created by the caller
  int seeds = 1;                  // independent seeds k = 0..seeds-1
  bool quiet = false;             // no table or progress on the terminal
  bool progress = true;           // progress bar allowed (stderr is a terminal)
  // Continue the run already in out_dir from its checkpoints (out_dir/checkpoints)
  // instead of starting over; the config and seeds must be the run's own.
  bool resume = false;
};

// One seed of an experiment as tidy numbers, for sweeps (experiments/sweep.hpp):
// rows indexed by `keys` (e.g. epoch) with one column per metric, plus the
// seed's headline numbers. Every seed of an experiment has the same columns.
struct SeedTable {
  std::vector<std::string> keys;          // index columns, e.g. {"epoch"}
  std::vector<std::string> metrics;       // measured columns
  std::vector<std::vector<double>> rows;  // keys then metrics; NaN where not measured
  std::map<std::string, double> scalars;  // headline numbers (best KL, its epoch, ...); NaN when undefined
  std::string failure;                    // empty: the seed completed; else why it stopped (rows up to there)
  bool interrupted = false;               // a stop was requested before it finished: discard it
};

class Experiment {
 public:
  virtual ~Experiment() = default;
  virtual std::string name() const = 0;
  // One line for `diffgen list`.
  virtual std::string purpose() const = 0;
  // Every key with its type, default, range and meaning.
  virtual Schema schema() const = 0;
  // Checks what one key's range cannot: contradictory settings (a t0 below
  // eps, a grid that misses the target's mass). Throws ConfigError naming the
  // keys. Called before anything is written; run() may assume it passed.
  virtual void validate(const Config& config) const = 0;
  // Runs and writes every output into options.out_dir. Throws diffgen::Error
  // (ConfigError, DataError, NumericalError) with the documented exit code;
  // outputs computed before a NumericalError are written before it is thrown.
  // When interrupt_requested() (core/interrupt.hpp), saves checkpoints and
  // throws Interrupted; run again with options.resume to continue.
  virtual void run(const Config& config, const RunOptions& options) const = 0;

  // Whether run_seed is implemented, i.e. `diffgen sweep` can grid this experiment.
  virtual bool sweepable() const { return false; }
  // Runs seed k (streams of (seed, k), as in run()) and returns its numbers
  // without writing files. Numerical failures are recorded in the table, not
  // thrown; interrupt_requested() sets `interrupted`. Called concurrently for
  // different points: must not touch shared state.
  virtual SeedTable run_seed(const Config& config, Index seed_index) const;
};

// All experiments, in `list` order.
const std::vector<std::unique_ptr<Experiment>>& experiments();
// nullptr when no experiment has that name.
const Experiment* find_experiment(std::string_view name);

}  // namespace diffgen
