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

// `diffgen run`: its options, and the RunArgs they make once parsed (CLI11
// writes into the fields, so the object stays where add_to registered it).
struct RunCommand {
  CLI::App* app = nullptr;
  diffgen::cli::RunArgs args;
  std::string config_file, out_dir, resume_dir;
  int threads = 0, seeds = 0;
  CLI::Option *config_opt = nullptr, *out_opt = nullptr, *seeds_opt = nullptr, *threads_opt = nullptr,
              *resume_opt = nullptr;

  void add_to(CLI::App& parent) {
    app = parent.add_subcommand("run", "Run an experiment and write its outputs into a folder.");
    app->add_option("EXPERIMENT", args.experiment, "Experiment name (see `diffgen list`).")->required();
    config_opt = app->add_option("--config", config_file, "TOML file of settings, applied before --set.");
    app->add_option("--set", args.sets, "Set one key: key=value. Repeatable; applied in order, after --config.")
        ->allow_extra_args(false)
        ->type_name("KEY=VALUE");
    out_opt = app->add_option("--out", out_dir, "Output folder (default: runs/EXPERIMENT-<UTC timestamp>).");
    seeds_opt =
        app->add_option("--seeds", seeds, "Independent seeds k = 0..K-1 (default 1; with --resume, the run's own).")
            ->type_name("K");
    threads_opt = app->add_option("--threads", threads, "Worker threads (default: all cores).");
    app->add_flag("--quiet,-q", args.quiet, "No progress or table; print only the output folder.");
    app->add_flag("--force", args.force,
                  "When --out holds another diffgen run, delete it first (a folder of other files is never cleared).");
    resume_opt = app->add_option(
        "--resume", resume_dir,
        "Continue the run in DIR (after a kill or Ctrl-C) from its run.json, config.toml, finished tasks and "
        "checkpoints; the outputs equal an uninterrupted run's. Not with --config, --set or --out.");
    resume_opt->type_name("DIR");
    app->footer(
        "Writes run.json, config.toml, metrics.csv, summary.json, timing.json, plots/*.png, report.md, tasks/ (each\n"
        "finished task's numbers) and checkpoints/. Ctrl-C or SIGTERM keeps what finished, saves checkpoints and\n"
        "exits with code 130; continue with --resume DIR.\n"
        "`diffgen describe EXPERIMENT` lists the keys --set and --config accept.");
  }

  // The arguments, with only the options given on the command line set.
  diffgen::cli::RunArgs parsed_args() {
    if (config_opt->count() > 0) args.config_file = config_file;
    if (out_opt->count() > 0) args.out_dir = out_dir;
    if (threads_opt->count() > 0) args.threads = threads;
    if (seeds_opt->count() > 0) args.seeds = seeds;
    if (resume_opt->count() > 0) args.resume_dir = resume_dir;
    return args;
  }
};

// `diffgen describe`.
struct DescribeCommand {
  CLI::App* app = nullptr;
  std::string name;
  bool toml = false;

  void add_to(CLI::App& parent) {
    app = parent.add_subcommand("describe", "List an experiment's settings: type, default, range, meaning.");
    app->add_option("EXPERIMENT", name, "Experiment name (see `diffgen list`).")->required();
    app->add_flag("--toml", toml,
                  "Print the defaults as a TOML file with every key and its meaning (a preset to edit and pass "
                  "to --config).");
  }
};

// `diffgen sweep`, like RunCommand.
struct SweepCommand {
  CLI::App* app = nullptr;
  diffgen::cli::SweepArgs args;
  std::string out;
  int threads = 0;
  CLI::Option *out_opt = nullptr, *threads_opt = nullptr;

  void add_to(CLI::App& parent) {
    app = parent.add_subcommand(
        "sweep", "Run an experiment over a grid of settings x seeds (all cores; MPI ranks under mpirun).");
    app->add_option("FILE", args.file, "Sweep file (TOML): experiment, seeds, [set] and [grid].")->required();
    out_opt = app->add_option(
        "--out", out,
        "Output folder (default: runs/sweep-EXPERIMENT-<UTC timestamp>). Given again, the sweep continues there, "
        "skipping the tasks already finished.");
    threads_opt = app->add_option("--threads", threads, "Worker threads per process (default: all cores).");
    app->add_flag("--quiet,-q", args.quiet, "No progress or table; print only the output folder.");
    app->footer(
        "Example file:\n"
        "  experiment = \"early-stopping\"\n  seeds = 5\n  [set]\n  \"train.epochs\" = 1000\n  [grid]\n"
        "  \"target.mu\" = [1.0, 3.0, 5.0]\n"
        "Writes sweep.toml, tasks/, points.csv, aggregate.csv, scalars.csv, summary.json, plots/*.png and report.md.\n"
        "Over several processes or machines: mpirun -n K diffgen sweep FILE --out DIR (rank 0 writes).");
  }

  int execute() {
    if (out_opt->count() > 0) args.out_dir = out;
    if (threads_opt->count() > 0) args.threads = threads;
    const auto comm = diffgen::cli::make_communicator();
    return diffgen::cli::run_sweep_command(args, *comm);
  }
};

int run_cli(int argc, char** argv) {
  CLI::App app{"diffgen: measure, bound and improve how diffusion models generalize.", "diffgen"};
  app.set_version_flag("--version", fmt::format("diffgen {}", diffgen::cli::kVersion));
  app.require_subcommand(1);
  app.footer(
      "Run `diffgen COMMAND --help` for a command's options.\n"
      "Exit codes: 0 success; 2 bad usage or configuration; 3 bad or missing data file; 4 numerical failure;\n"
      "130 stopped by Ctrl-C or SIGTERM (continue with `diffgen run EXPERIMENT --resume DIR`); 1 internal error.");

  // The subcommands, in the order --help lists them.
  RunCommand run;
  run.add_to(app);
  DescribeCommand describe;
  describe.add_to(app);
  CLI::App* list = app.add_subcommand("list", "List the experiments and what each one shows.");
  SweepCommand sweep;
  sweep.add_to(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    const CLI::App* sub = run.app->parsed()        ? run.app
                          : describe.app->parsed() ? describe.app
                          : sweep.app->parsed()    ? sweep.app
                                                   : nullptr;
    fmt::print(stderr, "Run `diffgen{} --help` for usage.\n", sub ? " " + sub->get_name() : "");
    return kUsageExitCode;
  }

  if (list->parsed()) return diffgen::cli::list_experiments();
  if (sweep.app->parsed()) return sweep.execute();
  if (describe.app->parsed()) return diffgen::cli::describe_experiment(describe.name, describe.toml);
  return diffgen::cli::run_experiment(run.parsed_args());
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
