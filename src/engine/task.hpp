// What the engine runs: a plan of independent tasks. A task is a pure
// function of the run's settings that returns numbers (a TaskValue). Tasks
// whose value is a result are kept: written to the run folder as they finish,
// so a run that is stopped or killed continues from them. Others are
// intermediates that several tasks read (a training set's exact loss, a
// sampler's MMSE table): computed once per process when a task that needs
// them is to run, never written, and recomputed on a resume when needed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace diffgen {

using Json = nlohmann::json;

// A task's value, of the type its experiment knows it to be.
using TaskValue = std::shared_ptr<const void>;

template <class T>
TaskValue make_value(T value) {
  return std::make_shared<const T>(std::move(value));
}

template <class T>
const T& value_as(const TaskValue& value) {
  return *std::static_pointer_cast<const T>(value);
}

struct TaskInfo {
  // Unique within the plan and safe in a file name: the names of the task's
  // result (tasks/KEY.cbor) and checkpoint (checkpoints/KEY.bin) files.
  std::string key;
  // Relative cost: ready tasks start costliest first, so the last to run are short.
  double cost = 1.0;
  // Progress units the task reports through TaskContext::progress.
  std::int64_t units = 1;
  // Indices (into the plan) of the earlier tasks whose values this task reads
  // (intermediates, or kept results: a resumed run reads those back).
  std::vector<Index> needs;
  // A result (kept) or an intermediate (needs of others only).
  bool keep = true;
  // Groups tasks in timing.json (e.g. "training", "path KL d=8").
  std::string kind;
};

// What a running task may use besides its settings.
class TaskContext {
 public:
  // `values` points to the value of the plan's task 0 (one per task).
  TaskContext(const std::vector<TaskInfo>* plan, const TaskValue* values, Index task,
              std::filesystem::path checkpoint_file, std::function<void(std::int64_t)> progress)
      : plan_(plan),
        values_(values),
        task_(task),
        checkpoint_file_(std::move(checkpoint_file)),
        progress_(std::move(progress)) {}

  // The value of task `task`, which must be among this task's needs.
  template <class T>
  const T& input(Index task) const {
    return value_as<T>(input_value(task));
  }
  const TaskValue& input_value(Index task) const;

  // Where the task may save its state to continue after a stop (empty: the
  // run keeps no checkpoints). A fresh run starts without one.
  const std::filesystem::path& checkpoint_file() const { return checkpoint_file_; }
  // Reports finished units (any thread).
  void progress(std::int64_t units) const {
    if (progress_) progress_(units);
  }
  Index index() const { return task_; }
  // The values from task `offset` on (a sweep hands each combination's plan its own slice).
  const TaskValue* values_from(std::size_t offset) const { return values_ + offset; }
  const TaskInfo& info() const { return (*plan_)[static_cast<std::size_t>(task_)]; }

 private:
  const std::vector<TaskInfo>* plan_;
  const TaskValue* values_;
  Index task_;
  std::filesystem::path checkpoint_file_;
  std::function<void(std::int64_t)> progress_;
};

// Runs task i. Returns its value; throws Interrupted after saving its
// checkpoint when interrupt_requested() (core/interrupt.hpp), or a
// diffgen::Error that ends the run.
using TaskRunner = std::function<TaskValue(Index task, const TaskContext& context)>;

// Kept values to and from JSON, for the run folder and between MPI ranks.
struct TaskCodec {
  std::function<Json(Index task, const TaskValue& value)> encode;
  std::function<TaskValue(Index task, const Json& json)> decode;
};

}  // namespace diffgen
