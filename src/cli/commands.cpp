// The subcommands (cli/commands.hpp): list, describe, run, sweep, with their
// output folders, progress bars and exit codes.
// Tested by tests/cli_test.cpp and the other end-to-end tests in tests/.
#include "cli/commands.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <system_error>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "cli/out_folder.hpp"
#include "report/plot.hpp"
#include "experiments/sweep.hpp"
#include "report/table.hpp"

namespace diffgen::cli {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i > 0 ? std::string(sep) : "") + items[i];
  return out;
}

std::vector<std::string> experiment_names() {
  std::vector<std::string> names;
  for (const auto& e : experiments()) names.push_back(e->name());
  return names;
}

// An output folder with its lock held (FolderLock) for as long as this lives.
struct LockedDir {
  fs::path dir;
  FolderLock lock;
};

// A fresh folder: the default name gets -2, -3, ... when two runs start in
// the same second. An explicit --out is created when missing and locked
// before anything in it is looked at.
LockedDir prepare_out_dir(const std::optional<fs::path>& out_dir, std::string_view default_name) {
  std::error_code ec;
  if (out_dir) {
    const fs::path& dir = *out_dir;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
      throw ConfigError(fmt::format("cannot create output folder '{}': {}", dir.string(),
                                    ec ? ec.message() : "a file of that name exists"));
    }
    return {dir, FolderLock(dir)};
  }
  const fs::path base = default_out_dir(default_name, std::time(nullptr));
  fs::create_directories(base.parent_path(), ec);
  if (ec) throw ConfigError(fmt::format("cannot create folder '{}': {}", base.parent_path().string(), ec.message()));
  constexpr int kMaxAttempts = 1000;
  for (int k = 1; k <= kMaxAttempts; ++k) {
    const fs::path dir = k == 1 ? base : fs::path(fmt::format("{}-{}", base.string(), k));
    if (fs::create_directory(dir, ec)) return {dir, FolderLock(dir)};
    if (ec) throw ConfigError(fmt::format("cannot create output folder '{}': {}", dir.string(), ec.message()));
  }
  throw ConfigError(fmt::format("cannot find a free output folder name after '{}'", base.string()));
}

std::string config_file_text(const Config& config, const RunArgs& args, int seeds) {
  // Keys whose value differs from the default: stable when this file is fed
  // back with --config (which marks every key as set).
  std::vector<std::string> changed;
  for (const auto& spec : config.schema().keys())
    if (config.get(spec.key) != spec.default_value) changed.push_back(spec.key);
  std::string header = fmt::format(
      "# Resolved configuration of `diffgen run {}` (diffgen {}): every key, defaults included.\n"
      "# Re-run with: diffgen run {} --config config.toml --seeds {}\n"
      "# Changed from the defaults: {}\n\n",
      args.experiment, kVersion, args.experiment, seeds, changed.empty() ? "none" : join(changed, ", "));
  return header + config.to_toml();
}

// Top-level outputs, folders marked with '/', temporary files left out.
std::vector<std::string> output_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    names.push_back(entry.is_directory() ? name + "/" : name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A path as a shell word, quoted only when it needs to be.
std::string shell_word(const std::string& word) {
  static const std::regex kPlain(R"([A-Za-z0-9_./:@%+=,-]+)");
  if (std::regex_match(word, kPlain)) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// A fresh run writes only into an empty folder (its lock held): another
// run's leftovers (stale plots, a second run's metrics) would mix with its
// outputs, and an interrupted run's checkpoints are its only way to resume.
// With --force a diffgen run's folder is cleared first; a folder of other
// files is never cleared, since they may be the user's own.
void claim_for_fresh_run(const fs::path& dir, bool force) {
  const FolderContents contents = classify_folder(dir);
  if (contents == FolderContents::Empty) return;
  if (contents == FolderContents::Other)
    throw ConfigError(fmt::format("--out '{}' is not empty and does not hold a diffgen run; choose an empty or new "
                                  "folder (--force clears only a diffgen run's folder)",
                                  dir.string()));
  if (force) {
    clear_folder(dir);
    return;
  }
  std::string holds = "a diffgen run";
  try {
    const RunManifest m = read_manifest(dir);
    std::error_code ec;
    // timing.json is the last file a run writes.
    holds = fs::exists(dir / "timing.json", ec)
                ? fmt::format("a finished run of {}", m.experiment)
                : fmt::format("an interrupted run of {}, resumable with: diffgen run {} --resume {}", m.experiment,
                              m.experiment, shell_word(dir.string()));
  } catch (const ConfigError&) {
  }
  throw ConfigError(fmt::format("--out '{}' already holds {}; add --force to clear it and start afresh",
                                dir.string(), holds));
}

// Removes what a killed run left half-written: atomic-write temporaries
// (.NAME.tmp.*) in the folder and its subfolders, and gnuplot scripts in the
// temporary folder whose process is gone.
void remove_leftovers(const fs::path& dir) {
  remove_temporaries(dir);
  remove_stale_plot_scripts();
}

// The checks of --resume that need no experiment code: the folder is a run's.
void check_resume_folder(const RunArgs& args, const fs::path& dir) {
  if (args.config_file || !args.sets.empty())
    throw ConfigError(fmt::format(
        "--resume continues the run in '{}' with the settings it saved in its config.toml; --config and --set "
        "cannot be combined with it (to change settings, start a new run with --out)",
        dir.string()));
  if (args.out_dir)
    throw ConfigError(
        fmt::format("--resume writes into the run's own folder '{}'; --out cannot be combined with it", dir.string()));
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw ConfigError(fmt::format("cannot resume: folder '{}' does not exist", dir.string()));
  if (!fs::is_directory(dir, ec)) throw ConfigError(fmt::format("cannot resume: '{}' is not a folder", dir.string()));
  if (!fs::is_regular_file(dir / "config.toml", ec))
    throw ConfigError(fmt::format(
        "cannot resume '{}': it has no config.toml, so it is not the output folder of a diffgen run", dir.string()));
}

// What the command line shows of a finished run (unless --quiet): the
// experiment's table and headlines on stdout, warnings on stderr.
void show(const RunWriter::Outcome& outcome, bool quiet) {
  if (!quiet) {
    fmt::print("{}", outcome.terminal);
    std::fflush(stdout);
  }
  for (const auto& w : outcome.warnings) fmt::print(stderr, "warning: {}\n", w);
}

// A progress bar on stderr for the engine's units, when stderr is a terminal.
struct Progress {
  std::unique_ptr<ProgressBar> bar;
  std::function<void(std::int64_t)> on_start(std::string label, bool enabled) {
    return [this, label, enabled](std::int64_t total) {
      bar = std::make_unique<ProgressBar>(label, total, enabled && ::isatty(STDERR_FILENO));
    };
  }
  std::function<void(std::int64_t)> on_progress() {
    return [this](std::int64_t units) {
      if (bar) bar->add(units);
    };
  }
};

// Runs `experiment` into `dir` (prepared, config.toml and run.json written)
// with the interrupt handlers installed for the duration of the run.
int execute(const Experiment& experiment, const Config& config, const fs::path& dir, int seeds, bool resume,
            bool quiet) {
  Progress progress;
  RunOptions options;
  options.out_dir = dir;
  options.seeds = seeds;
  options.resume = resume;
  options.on_start = progress.on_start(fmt::format("{} ({} seed{})", experiment.name(), seeds, seeds > 1 ? "s" : ""),
                                       !quiet);
  options.on_progress = progress.on_progress();
  if (!quiet) {
    fmt::print(stderr, "diffgen: {} {} ({} seed{}, {} thread{}) {} {}\n", resume ? "resuming" : "running",
               experiment.name(), seeds, seeds == 1 ? "" : "s", num_threads(), num_threads() == 1 ? "" : "s",
               resume ? "in" : "into", dir.string());
  }
  RunOutcome outcome;
  try {
    const InterruptHandlers handlers;
    outcome = run_experiment(experiment, config, options);
    if (progress.bar) progress.bar->finish();
    // A stop requested while the outputs were written: they are complete, but
    // the caller asked us to stop and must not read exit 0 as "not stopped".
    if (interrupt_requested()) throw Interrupted("the outputs were being written; they are complete");
  } catch (const Interrupted& e) {
    if (progress.bar) progress.bar->finish();
    std::fflush(stdout);
    throw Interrupted(fmt::format("{} stopped {}: {}\nContinue with: diffgen run {} --resume {}", experiment.name(),
                                  interrupt_signal() == SIGTERM ? "by SIGTERM" : "by Ctrl-C (SIGINT)", e.what(),
                                  experiment.name(), shell_word(dir.string())));
  } catch (const std::exception&) {
    std::fflush(stdout);
    fmt::print(stderr, "note: outputs written before the failure are in {}\n", dir.string());
    throw;
  }
  show(outcome.writer, quiet);
  if (outcome.writer.failure) throw NumericalError(*outcome.writer.failure);
  std::fflush(stderr);
  if (quiet) {
    fmt::print("{}\n", dir.string());
  } else {
    fmt::print("Outputs in {}: {}\n", dir.string(), join(output_names(dir), ", "));
  }
  return 0;
}

// `diffgen run NAME --resume DIR`: the settings and seed count are the run's own.
int resume_experiment(const Experiment& experiment, const RunArgs& args) {
  const fs::path dir = *args.resume_dir;
  check_resume_folder(args, dir);
  // Locked before the folder is read: a run still writing into it would change it under us.
  const FolderLock lock(dir);
  const RunManifest recorded = read_manifest(dir);
  if (recorded.experiment != experiment.name())
    throw ConfigError(fmt::format("cannot resume '{}' as {}: it holds a run of '{}' (diffgen run {} --resume {})",
                                  dir.string(), experiment.name(), recorded.experiment, recorded.experiment,
                                  shell_word(dir.string())));
  if (args.seeds && recorded.seeds != *args.seeds)
    throw ConfigError(
        fmt::format("'{}' was run with --seeds {}; a resume continues it with the same seeds (got --seeds {})",
                    dir.string(), recorded.seeds, *args.seeds));
  Config config(experiment.schema());
  config.merge_toml_file(dir / "config.toml");
  // Before validate, which reads the data file: a changed or missing input is
  // a question of which run this is (exit 2), not of a bad file.
  check_inputs_unchanged(dir, recorded.inputs, config);
  experiment.validate(config);
  if (args.threads) set_num_threads(*args.threads);
  remove_leftovers(dir);
  return execute(experiment, config, dir, recorded.seeds, true, args.quiet);
}

nlohmann::json inputs_json(const std::map<std::string, InputFile>& inputs) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, file] : inputs) j[key] = {{"path", file.path}, {"fnv1a64", file.hash}};
  return j;
}

}  // namespace

void write_manifest(const fs::path& dir, const RunManifest& manifest) {
  write_json_atomic(dir / "run.json", nlohmann::json{{"experiment", manifest.experiment},
                                                     {"seeds", manifest.seeds},
                                                     {"diffgen_version", manifest.version},
                                                     {"inputs", inputs_json(manifest.inputs)},
                                                     {"resume", fmt::format("diffgen run {} --resume DIR",
                                                                            manifest.experiment)}});
}

RunManifest read_manifest(const fs::path& dir) {
  const fs::path file = dir / "run.json";
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw ConfigError(fmt::format("cannot resume '{}': it has no run.json, so it is not the output folder of a "
                                  "diffgen run (or one written by a diffgen before 0.2)",
                                  dir.string()));
  try {
    const auto j = nlohmann::json::parse(read_text_file(file));
    RunManifest m;
    m.experiment = j.at("experiment").get<std::string>();
    m.seeds = j.at("seeds").get<int>();
    m.version = j.value("diffgen_version", "");
    const nlohmann::json inputs = j.value("inputs", nlohmann::json::object());
    for (const auto& [key, file] : inputs.items())
      m.inputs[key] = {file.at("path").get<std::string>(), file.at("fnv1a64").get<std::string>()};
    if (m.seeds < 1) throw std::invalid_argument("seeds < 1");
    return m;
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("cannot resume '{}': its run.json is not readable ({})", dir.string(), e.what()));
  }
}

const Experiment& require_experiment(std::string_view name) {
  if (const Experiment* e = find_experiment(name)) return *e;
  const auto names = experiment_names();
  const auto near = closest_names(name, names);
  std::string hint;
  if (!near.empty()) hint = fmt::format(" (did you mean '{}'?)", near.front());
  throw ConfigError(fmt::format("unknown experiment '{}'{}; known experiments: {}", name, hint,
                                names.empty() ? "none" : join(names, ", ")));
}

Config resolve_config(const Experiment& experiment, const RunArgs& args) {
  Config config(experiment.schema());
  if (args.config_file) config.merge_toml_file(*args.config_file);
  for (const auto& assignment : args.sets) config.set_from_assignment(assignment);
  return config;
}

fs::path default_out_dir(std::string_view experiment, std::time_t now) {
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  return fs::path("runs") / fmt::format("{}-{}", experiment, stamp);
}

int list_experiments() {
  const auto& all = experiments();
  std::size_t width = 0;
  for (const auto& e : all) width = std::max(width, display_width(e->name()));
  fmt::print("Experiments (run one with `diffgen run NAME`; `diffgen describe NAME` lists its settings):\n\n");
  for (const auto& e : all) {
    const std::string name = e->name();
    fmt::print("  {}{}  {}\n", name, std::string(width - display_width(name), ' '), e->purpose());
  }
  return 0;
}

int describe_experiment(std::string_view name, bool as_toml) {
  const Experiment& experiment = require_experiment(name);
  const Schema schema = experiment.schema();
  if (as_toml) {
    fmt::print("# diffgen run {} — the default preset (`diffgen describe {} --toml`).\n# {}\n\n{}", experiment.name(),
               experiment.name(), experiment.purpose(), Config(schema).to_toml());
    return 0;
  }
  Table table({"key", "type", "default", "allowed", "description"});
  for (std::size_t j = 0; j < table.num_columns(); ++j) table.set_align(j, Align::Left);
  for (const auto& spec : schema.keys()) {
    std::string value = format_value(spec.default_value);
    if (value.empty()) value = "\"\"";
    // One key per line: line breaks in a description become spaces.
    std::string description = spec.description;
    std::replace(description.begin(), description.end(), '\n', ' ');
    table.add_row({spec.key, std::string(type_name(spec.type)), value, allowed_text(spec), description});
  }
  fmt::print("{}: {}\n\n{}\n", experiment.name(), experiment.purpose(), table.to_text());
  fmt::print(
      "Change a key with --set key=value (repeatable), or in a TOML file given to --config\n"
      "(dotted keys go in tables: kl.every = 5 is [kl] every = 5). Every run saves all keys in config.toml.\n");
  return 0;
}

int run_experiment(const RunArgs& args) {
  const Experiment& experiment = require_experiment(args.experiment);
  // Every seed's curves stay in memory until the report: bounded, like a
  // sweep's points, so that a typo cannot ask for millions of runs.
  constexpr int kMaxSeeds = 10000;
  if (args.seeds && (*args.seeds < 1 || *args.seeds > kMaxSeeds))
    throw ConfigError(fmt::format("--seeds = {} is out of range: must be in [1, {}]", *args.seeds, kMaxSeeds));
  if (args.threads && *args.threads < 1) {
    throw ConfigError(fmt::format("--threads = {} is out of range: must be >= 1", *args.threads));
  }
  if (args.resume_dir) return resume_experiment(experiment, args);
  const int seeds = args.seeds.value_or(1);
  // Everything the user gave is checked before anything is created on disk.
  const Config config = resolve_config(experiment, args);
  experiment.validate(config);
  if (args.threads) set_num_threads(*args.threads);
  const LockedDir out = prepare_out_dir(args.out_dir, args.experiment);
  const fs::path& dir = out.dir;
  claim_for_fresh_run(dir, args.force);
  remove_stale_plot_scripts();
  write_file_atomic(dir / "config.toml", config_file_text(config, args, seeds));
  write_manifest(dir, {experiment.name(), seeds, std::string(kVersion), input_files(config)});
  return execute(experiment, config, dir, seeds, false, args.quiet);
}

int run_sweep_command(const SweepArgs& args, Communicator& comm) {
  if (args.threads && *args.threads < 1)
    throw ConfigError(fmt::format("--threads = {} is out of range: must be >= 1", *args.threads));
  // Every rank reads the file (on several machines, each needs a copy) and
  // checks it before anything is created on disk.
  const SweepPlan plan = parse_sweep_file(args.file);
  if (args.threads) set_num_threads(*args.threads);
  std::string dir_text, error;
  // Rank 0 alone writes, so it alone holds the folder's lock, for the whole sweep.
  std::optional<LockedDir> out;
  if (comm.is_root()) {
    try {
      out.emplace(prepare_out_dir(args.out_dir, "sweep-" + plan.experiment->name()));
      dir_text = out->dir.string();
      remove_leftovers(out->dir);
    } catch (const ConfigError& e) {
      error = e.what();
    }
  }
  dir_text = comm.broadcast(error.empty() ? "ok:" + dir_text : "error:" + error);
  if (dir_text.rfind("error:", 0) == 0) throw ConfigError(dir_text.substr(6));
  const fs::path dir = dir_text.substr(3);

  Progress progress;
  SweepOptions options;
  options.out_dir = dir;
  options.on_start = progress.on_start(fmt::format("sweep {}", plan.experiment->name()), comm.is_root() && !args.quiet);
  options.on_progress = progress.on_progress();
  if (comm.is_root() && !args.quiet) {
    fmt::print(stderr, "diffgen: sweeping {} over {} points ({} combination{} x {} seed{}) on {} rank{} x {} thread{} into {}\n",
               plan.experiment->name(), plan.num_points(), plan.num_combinations(),
               plan.num_combinations() == 1 ? "" : "s", plan.seeds, plan.seeds == 1 ? "" : "s", comm.size(),
               comm.size() == 1 ? "" : "s", num_threads(), num_threads() == 1 ? "" : "s", dir.string());
  }
  SweepSummary summary;
  try {
    const InterruptHandlers handlers;
    summary = run_sweep(plan, options, comm);
    if (progress.bar) progress.bar->finish();
    if (interrupt_requested()) throw Interrupted("the outputs were being written; they are complete");
  } catch (const Interrupted& e) {
    if (progress.bar) progress.bar->finish();
    std::fflush(stdout);
    throw Interrupted(fmt::format("sweep stopped: {}\nContinue with: diffgen sweep {} --out {}", e.what(),
                                  shell_word(args.file.string()), shell_word(dir.string())));
  }
  if (!comm.is_root()) return 0;
  show(summary.outcome, args.quiet);
  if (args.quiet) {
    fmt::print("{}\n", dir.string());
  } else {
    fmt::print("{} tasks: {} computed now, {} already finished{}. Outputs in {}: {}\n", summary.tasks,
               summary.computed, summary.reused,
               summary.failed > 0 ? fmt::format("; {} points stopped early (see report.md)", summary.failed) : "",
               dir.string(), join(output_names(dir), ", "));
  }
  if (summary.outcome.failure) throw NumericalError(*summary.outcome.failure);
  return 0;
}

}  // namespace diffgen::cli
