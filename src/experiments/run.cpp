#include "experiments/run.hpp"

#include <fmt/format.h>

#include <chrono>

#include "core/parallel.hpp"

namespace diffgen {

std::string run_fingerprint(const Experiment& experiment, const Config& config, Index seeds) {
  return fmt::format("experiment = {}\nseeds = {}\n{}", experiment.name(), seeds, config.to_toml());
}

RunOutcome run_experiment(const Experiment& experiment, const Config& config, const RunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::unique_ptr<Study> study = experiment.plan(config, options.seeds);
  EngineOptions engine;
  engine.out_dir = options.out_dir;
  engine.fingerprint = run_fingerprint(experiment, config, options.seeds);
  engine.resume = options.resume;
  engine.on_start = options.on_start;
  engine.on_progress = options.on_progress;
  engine.comm = options.comm;
  RunOutcome outcome;
  const TaskCodec codec{[&](Index i, const TaskValue& v) { return study->encode(i, v); },
                        [&](Index i, const Json& j) { return study->decode(i, j); }};
  const auto values = run_tasks(
      study->tasks(), [&](Index i, const TaskContext& context) { return study->run_task(i, context); }, codec, engine,
      &outcome.engine);
  if (options.comm && !options.comm->is_root()) return outcome;
  RunWriter out(options.out_dir);
  study->report(values, out);
  // Wall-clock times go to timing.json: they differ from run to run, and every
  // other output is bit-identical across repeats, thread counts and resumes.
  Json timing = out.timing();
  Json tasks = Json::object();
  for (std::size_t i = 0; i < study->tasks().size(); ++i)
    if (outcome.engine.ran[i]) {
      const auto& kind = study->tasks()[i].kind;
      tasks[kind] = tasks.value(kind, 0.0) + outcome.engine.seconds[i];
    }
  timing["note"] =
      "wall-clock seconds of this invocation (a resumed run counts only what it computed itself); task times are "
      "summed by kind";
  timing["threads"] = num_threads();
  timing["ranks"] = options.comm ? options.comm->size() : 1;
  timing["tasks_computed"] = outcome.engine.computed;
  timing["tasks_reused"] = outcome.engine.reused;
  timing["seconds_by_task_kind"] = tasks;
  timing["seconds_wall"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.json("timing.json", timing);
  outcome.writer = out.outcome();
  return outcome;
}

}  // namespace diffgen
