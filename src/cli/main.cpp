// The diffgen program. Parsing is CLI11's; every failure leaves through one
// place that maps it to the exit codes of DESIGN.md: 0 success, 2 bad usage
// or configuration, 3 bad or missing data file, 4 numerical failure, 130
// stopped by Ctrl-C or SIGTERM (resumable), 1 a bug.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <string>

#include "cli/commands.hpp"
#include "cli/mpi_communicator.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace {

constexpr int kUsageExitCode = 2;

int run_cli(int argc, char** argv) {
  using diffgen::cli::RunArgs;

  CLI::App app{"diffgen: measure, bound and improve how diffusion models generalize.", "diffgen"};
  app.set_version_flag("--version", fmt::format("diffgen {}", diffgen::cli::kVersion));
  app.require_subcommand(1);
  app.footer(
      "Run `diffgen COMMAND --help` for a command's options.\n"
      "Exit codes: 0 success; 2 bad usage or configuration; 3 bad or missing data file; 4 numerical failure;\n"
      "130 stopped by Ctrl-C or SIGTERM (continue with `diffgen run EXPERIMENT --resume DIR`); 1 internal error.");

  RunArgs args;
  std::string config_file, out_dir, resume_dir;
  int threads = 0, seeds = 0;
  CLI::App* run = app.add_subcommand("run", "Run an experiment and write its outputs into a folder.");
  run->add_option("EXPERIMENT", args.experiment, "Experiment name (see `diffgen list`).")->required();
  CLI::Option* config_opt = run->add_option("--config", config_file, "TOML file of settings, applied before --set.");
  run->add_option("--set", args.sets, "Set one key: key=value. Repeatable; applied in order, after --config.")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
  CLI::Option* out_opt = run->add_option("--out", out_dir, "Output folder (default: runs/EXPERIMENT-<UTC timestamp>).");
  CLI::Option* seeds_opt =
      run->add_option("--seeds", seeds, "Independent seeds k = 0..K-1 (default 1; with --resume, the run's own).")
          ->type_name("K");
  CLI::Option* threads_opt = run->add_option("--threads", threads, "Worker threads (default: all cores).");
  run->add_flag("--quiet,-q", args.quiet, "No progress or table; print only the output folder.");
  CLI::Option* resume_opt = run->add_option(
      "--resume", resume_dir,
      "Continue the run in DIR (after a kill or Ctrl-C) from its run.json, config.toml, finished tasks and "
      "checkpoints; the outputs equal an uninterrupted run's. Not with --config, --set or --out.");
  resume_opt->type_name("DIR");
  run->footer(
      "Writes run.json, config.toml, metrics.csv, summary.json, timing.json, plots/*.png, report.md, tasks/ (each\n"
      "finished task's numbers) and checkpoints/. Ctrl-C or SIGTERM keeps what finished, saves checkpoints and\n"
      "exits with code 130; continue with --resume DIR.\n"
      "`diffgen describe EXPERIMENT` lists the keys --set and --config accept.");

  std::string describe_name;
  CLI::App* describe = app.add_subcommand("describe", "List an experiment's settings: type, default, range, meaning.");
  describe->add_option("EXPERIMENT", describe_name, "Experiment name (see `diffgen list`).")->required();
  bool describe_toml = false;
  describe->add_flag("--toml", describe_toml,
                     "Print the defaults as a TOML file with every key and its meaning (a preset to edit and pass "
                     "to --config).");

  CLI::App* list = app.add_subcommand("list", "List the experiments and what each one shows.");

  diffgen::cli::SweepArgs sweep_args;
  std::string sweep_out;
  int sweep_threads = 0;
  CLI::App* sweep = app.add_subcommand(
      "sweep", "Run an experiment over a grid of settings x seeds (all cores; MPI ranks under mpirun).");
  sweep->add_option("FILE", sweep_args.file, "Sweep file (TOML): experiment, seeds, [set] and [grid].")->required();
  CLI::Option* sweep_out_opt = sweep->add_option(
      "--out", sweep_out,
      "Output folder (default: runs/sweep-EXPERIMENT-<UTC timestamp>). Given again, the sweep continues there, "
      "skipping the tasks already finished.");
  CLI::Option* sweep_threads_opt =
      sweep->add_option("--threads", sweep_threads, "Worker threads per process (default: all cores).");
  sweep->add_flag("--quiet,-q", sweep_args.quiet, "No progress or table; print only the output folder.");
  sweep->footer(
      "Example file:\n"
      "  experiment = \"early-stopping\"\n  seeds = 5\n  [set]\n  \"train.epochs\" = 1000\n  [grid]\n"
      "  \"target.mu\" = [1.0, 3.0, 5.0]\n"
      "Writes sweep.toml, tasks/, points.csv, aggregate.csv, scalars.csv, summary.json, plots/*.png and report.md.\n"
      "Over several processes or machines: mpirun -n K diffgen sweep FILE --out DIR (rank 0 writes).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    const CLI::App* sub = run->parsed() ? run : describe->parsed() ? describe : sweep->parsed() ? sweep : nullptr;
    fmt::print(stderr, "Run `diffgen{} --help` for usage.\n", sub ? " " + sub->get_name() : "");
    return kUsageExitCode;
  }

  if (list->parsed()) return diffgen::cli::list_experiments();
  if (sweep->parsed()) {
    if (sweep_out_opt->count() > 0) sweep_args.out_dir = sweep_out;
    if (sweep_threads_opt->count() > 0) sweep_args.threads = sweep_threads;
    const auto comm = diffgen::cli::make_communicator();
    return diffgen::cli::run_sweep_command(sweep_args, *comm);
  }
  if (describe->parsed()) return diffgen::cli::describe_experiment(describe_name, describe_toml);
  if (config_opt->count() > 0) args.config_file = config_file;
  if (out_opt->count() > 0) args.out_dir = out_dir;
  if (threads_opt->count() > 0) args.threads = threads;
  if (seeds_opt->count() > 0) args.seeds = seeds;
  if (resume_opt->count() > 0) args.resume_dir = resume_dir;
  return diffgen::cli::run_experiment(args);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const diffgen::Interrupted& e) {
    std::fflush(stdout);
    fmt::print(stderr, "diffgen: {}\n", e.what());
    return e.exit_code();
  } catch (const diffgen::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "error: {}\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 1;
  }
}
