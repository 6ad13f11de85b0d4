// Running an experiment from a resolved configuration into a folder: plan,
// run the tasks on the engine (threads, MPI ranks, checkpoints, resume),
// then write every output through a RunWriter. The command line and the
// Python module both call this; the library prints nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "core/config.hpp"
#include "engine/communicator.hpp"
#include "engine/engine.hpp"
#include "experiments/experiment.hpp"
#include "report/run_writer.hpp"

namespace diffgen {

struct RunOptions {
  std::filesystem::path out_dir;  // created by the caller
  Index seeds = 1;                // independent seeds k = 0..seeds-1
  // Continue the run in out_dir from its stored results and checkpoints.
  bool resume = false;
  // Progress: units to do (once, first), then units done (any thread).
  std::function<void(std::int64_t)> on_start, on_progress;
  Communicator* comm = nullptr;  // null: one process
};

struct RunOutcome {
  RunWriter::Outcome writer;  // what to show; a failure to report with exit code 4
  EngineReport engine;        // tasks computed and reused
};

// Runs `experiment` with `config`; returns what the run wrote and found (on
// MPI ranks other than 0, an empty outcome). Throws ConfigError, DataError
// (before anything is written when the settings or a data file are bad) and
// Interrupted (after the running tasks saved their state).
RunOutcome run_experiment(const Experiment& experiment, const Config& config, const RunOptions& options);

// What decides a run's numbers: the experiment, the resolved configuration
// and the seed count. Stored with every task result (engine/engine.hpp).
std::string run_fingerprint(const Experiment& experiment, const Config& config, Index seeds);

}  // namespace diffgen
