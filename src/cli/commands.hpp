// The subcommands of the diffgen program (DESIGN.md, "The command line"):
// a thin layer that resolves a Config from the experiment's Schema and the
// user's --config/--set, prepares the output folder and calls the library.
#pragma once

#include <ctime>
#include <map>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/out_folder.hpp"
#include "core/config.hpp"
#include "engine/communicator.hpp"
#include "experiments/experiment.hpp"
#include "experiments/run.hpp"

namespace diffgen::cli {

#ifdef DIFFGEN_VERSION
inline constexpr std::string_view kVersion = DIFFGEN_VERSION;
#else
inline constexpr std::string_view kVersion = "0.1.0";  // keep equal to project(VERSION) in CMakeLists.txt
#endif

struct RunArgs {
  std::string experiment;
  std::optional<std::filesystem::path> config_file;  // merged first
  std::vector<std::string> sets;                     // "key=value", applied in order after the file
  std::optional<std::filesystem::path> out_dir;      // default: runs/EXPERIMENT-<UTC timestamp>
  std::optional<int> seeds;                          // default 1, or the resumed run's own
  std::optional<int> threads;                        // default: every core
  bool quiet = false;
  // Clear --out first when it holds another diffgen run (never a folder of other files).
  bool force = false;
  // Continue the run in this folder from its run.json, config.toml and stored
  // task results (no --config, --set or --out with it).
  std::optional<std::filesystem::path> resume_dir;
};

// The run.json manifest of a run folder: which experiment and how many seeds
// wrote it (what --resume continues), and the diffgen version.
struct RunManifest {
  std::string experiment;
  int seeds = 1;
  std::string version;
  // The input files the configuration names (data.file): a resume refuses changed ones.
  std::map<std::string, InputFile> inputs;
};
void write_manifest(const std::filesystem::path& dir, const RunManifest& manifest);
// ConfigError when the folder has no readable run.json.
RunManifest read_manifest(const std::filesystem::path& dir);

// The experiment called `name`; otherwise ConfigError naming it, the closest
// known name and the list of known names.
const Experiment& require_experiment(std::string_view name);

// Schema defaults, then the --config file, then each --set in order.
Config resolve_config(const Experiment& experiment, const RunArgs& args);

// runs/EXPERIMENT-YYYYmmdd-HHMMSS for the UTC time `now`.
std::filesystem::path default_out_dir(std::string_view experiment, std::time_t now);

// `diffgen list`: each experiment and its one-line purpose.
int list_experiments();
// `diffgen describe NAME`: every key with its type, default, range or choices and meaning.
// With `as_toml`, the defaults as a TOML preset instead (every key with its
// meaning as a comment; `--config` accepts it as is).
int describe_experiment(std::string_view name, bool as_toml = false);
// `diffgen run ...`, or `diffgen run NAME --resume DIR`. Errors propagate as
// diffgen::Error with their exit code; a run stopped by SIGINT/SIGTERM throws
// Interrupted (exit code 130) whose message says how to resume it.
int run_experiment(const RunArgs& args);

struct SweepArgs {
  std::filesystem::path file;                    // the sweep file (experiments/sweep.hpp)
  std::optional<std::filesystem::path> out_dir;  // default: runs/sweep-EXPERIMENT-<UTC timestamp>
  std::optional<int> threads;                    // per rank; default: every core
  bool quiet = false;
};

// `diffgen sweep FILE [--out DIR]`, on every rank of `comm` (one process, or
// MPI ranks under mpirun). Rank 0 prints and writes; a second call with the
// same --out continues the sweep.
int run_sweep_command(const SweepArgs& args, Communicator& comm);

}  // namespace diffgen::cli
