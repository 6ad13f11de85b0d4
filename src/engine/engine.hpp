// The engine: runs a plan of tasks (engine/task.hpp) on the thread pool and
// over MPI ranks, keeps each finished result in the run folder, continues a
// stopped run from them, and stops cleanly on a signal.
//
// Scheduling. A task is ready when the intermediates it needs are computed;
// ready tasks start costliest first on every thread. A task's numbers depend
// on the settings only (its random streams are derived from the seed and the
// task), so results are bit-identical for any thread or rank count and order.
// With one task to run, it runs on the calling thread, so its own parallel
// loops use every core; run side by side, tasks run their loops serially.
//
// Files (with a store folder): OUT/tasks/KEY.cbor holds a kept task's result
// with the run's fingerprint; OUT/checkpoints/KEY.bin is the task's own
// checkpoint. A resumed run reuses every stored result (refusing one from
// other settings) and runs the rest; a fresh run removes both folders first.
//
// MPI. Rank 0 decides which tasks are pending and deals them to ranks in
// rounds (round-robin in cost order), gathers the results after each round
// and writes them; intermediates are computed on each rank that needs them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/communicator.hpp"
#include "engine/task.hpp"

namespace diffgen {

struct EngineOptions {
  // The run folder (results in tasks/, checkpoints in checkpoints/); empty:
  // nothing is written and nothing can be resumed.
  std::filesystem::path out_dir;
  // Everything that decides the numbers (the resolved configuration, the
  // seed count): stored with each result; a resume refuses others.
  std::string fingerprint;
  bool resume = false;
  // Progress: the units to do (called once, first), then units done (any thread).
  std::function<void(std::int64_t total)> on_start;
  std::function<void(std::int64_t units)> on_progress;
  Communicator* comm = nullptr;  // null: one process
};

struct EngineReport {
  Index computed = 0;            // kept tasks run by this call (all ranks)
  Index reused = 0;              // kept tasks whose stored results were reused
  std::vector<double> seconds;   // wall seconds per task on this process (0: not run here)
  std::vector<bool> ran;         // per task: run by this process
};

// Runs every kept task without a stored result (and the intermediates they
// need). Returns one value per task: kept tasks' values on rank 0 (empty on
// the others), intermediates' as left in memory (may be null). Throws
// Interrupted when a stop was requested (after the running tasks finished or
// saved their state), or the first error a task threw. ConfigError when a
// stored result has another fingerprint; DataError when it cannot be read.
std::vector<TaskValue> run_tasks(const std::vector<TaskInfo>& plan, const TaskRunner& run, const TaskCodec& codec,
                                 const EngineOptions& options, EngineReport* report = nullptr);

// The files of task `key` in a run folder.
std::filesystem::path task_result_file(const std::filesystem::path& out_dir, const std::string& key);
std::filesystem::path task_checkpoint_file(const std::filesystem::path& out_dir, const std::string& key);

// Checks a plan before running it: unique, file-safe keys; needs that point
// to earlier tasks. std::logic_error otherwise (a bug in a planner).
void check_plan(const std::vector<TaskInfo>& plan);

}  // namespace diffgen
