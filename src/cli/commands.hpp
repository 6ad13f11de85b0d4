// The subcommands of the diffgen program (DESIGN.md, "The command line"):
// a thin layer that resolves a Config from the experiment's Schema and the
// user's --config/--set, prepares the output folder and calls the library.
#pragma once

#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "experiments/experiment.hpp"

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
  int seeds = 1;
  std::optional<int> threads;  // default: every core
  bool quiet = false;
};

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
int describe_experiment(std::string_view name);
// `diffgen run ...`. Errors propagate as diffgen::Error with their exit code.
int run_experiment(const RunArgs& args);

}  // namespace diffgen::cli
