// End-to-end tests of `diffgen sweep`: every experiment can be swept; the
// same files for 1 thread, 2 threads and 2 MPI ranks; a sweep killed midway
// and started again with the same --out finishes without recomputing or
// losing a task; bad files exit 2.
#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using Sweep = E2eTest;

const std::vector<std::string> kSweepOutputs = {"points.csv", "aggregate.csv", "scalars.csv", "summary.json",
                                                "report.md",  "sweep.toml"};

// 2 mode distances × 2 learning rates × 2 seeds, 40 epochs each.
const char* kSmallSweep = R"(experiment = "early-stopping"
seeds = 2
[set]
"train.epochs" = 40
"kl.every" = 10
"kl.ode.every" = 20
"plot.epochs" = [0, 40]
[grid]
"target.mu" = [2.0, 3.0]
"train.lr" = [0.1, 0.5]
)";

void expect_same_sweep(const fs::path& a, const fs::path& b) {
  for (const auto& f : kSweepOutputs) {
    const std::string ta = read_file(a / f);
    EXPECT_FALSE(ta.empty()) << a / f;
    EXPECT_EQ(ta, read_file(b / f)) << f << " differs between " << a << " and " << b;
  }
}

TEST_F(Sweep, SameFilesOnOneThreadTwoThreadsAndTwoMpiRanks) {
  write("sweep.toml", kSmallSweep);
  Result one = diffgen("sweep sweep.toml --quiet --threads 1 --out one");
  ASSERT_EQ(one.code, 0) << one.all();
  Result two = diffgen("sweep sweep.toml --quiet --threads 2 --out two");
  ASSERT_EQ(two.code, 0) << two.all();
  expect_same_sweep(dir_ / "one", dir_ / "two");
  EXPECT_EQ(task_files(dir_ / "one"), 8);
  for (const char* f : {"plots/kl_a.png", "plots/kl_b.png", "plots/scalar-best_kl_a.png"})
    EXPECT_TRUE(exists(std::string("one/") + f)) << f;

  if (diffgen("--version && command -v mpirun >/dev/null").code != 0)
    GTEST_SKIP() << "mpirun is not installed (scripts/setup.sh installs OpenMPI): the MPI half of this test did not run";
  // Root may run MPI only when it says so; LeakSanitizer (sanitized builds)
  // would report OpenMPI's own allocations at exit.
  const std::string mpirun = std::string("mpirun -n 2 --oversubscribe -x ASAN_OPTIONS=detect_leaks=0 ") +
                             (::geteuid() == 0 ? "--allow-run-as-root " : "");
  const std::string command = "cd '" + dir_.string() + "' && " + mpirun + DIFFGEN_BINARY +
                              " sweep sweep.toml --quiet --threads 1 --out mpi > mpi.log 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read("mpi.log");
  expect_same_sweep(dir_ / "one", dir_ / "mpi");
  // Rank 0 alone prints the folder.
  EXPECT_EQ(read("mpi.log"), "mpi\n");
}

// Each experiment over a grid of one key × 2 seeds, tiny settings: its points
// and aggregates come out and the sweep's report names the experiment.
TEST_F(Sweep, EveryExperimentCanBeSwept) {
  // The Chen2025 toys: one target, a tiny network and few draws everywhere.
  const std::string kTinyChen =
      "targets = [\"swiss-roll-mixture\"]\n\"train.steps\" = 30\n\"model.deep_mlp.hidden\" = [8]\n"
      "\"test.points\" = 40\n\"test.sampler_steps\" = 20\n\"bound.term1.draws\" = 10\n\"bound.L.steps\" = 20\n"
      "\"test.prior_mismatch_draws\" = 100\n\"bound.sm_loss.draws\" = 2\n";
  const std::vector<std::pair<std::string, std::string>> sweeps = {
      {"early-stopping", "[set]\n\"train.epochs\" = 4\n\"kl.every\" = 2\n\"kl.ode.every\" = 0\n"
                         "\"memorization.every\" = 0\n\"plot.epochs\" = [0]\n[grid]\n\"data.n\" = [50, 80]\n"},
      {"mode-shift", "[set]\ndistances = [2.0, 6.0]\n\"train.epochs\" = 4\n\"kl.every\" = 2\n\"kl.ode.every\" = 0\n"
                     "[grid]\n\"train.lr\" = [0.1, 0.5]\n"},
      {"optimizers", "[set]\n\"train.epochs\" = 4\nswitch_after = 2\n\"kl.every\" = 2\n\"kl.ode.every\" = 0\n"
                     "[grid]\n\"data.n\" = [50, 80]\n"},
      {"capacity", "[set]\nwidths = [4, 8]\n\"train.epochs\" = 4\n\"kl.every\" = 2\n\"kl.ode.every\" = 0\n"
                   "[grid]\nscalings = [[\"fixed\"], [\"width\"]]\n"},
      {"gradient-flow", "[set]\n\"model.random_features.width\" = 16\nt_nodes = 8\n\"tau.min\" = 1.0\n"
                        "\"tau.max\" = 1e6\n\"tau.per_decade\" = 1\n\"kl.points\" = 401\n[grid]\n\"data.n\" = [20, 40]\n"},
      {"rates", "[set]\nn_values = [20, 40]\nm_values = [8, 16]\n\"model.random_features.width\" = 16\nt_nodes = 8\n"
                "\"tau.min\" = 1.0\n\"tau.max\" = 1e6\n\"tau.per_decade\" = 1\n\"kl.points\" = 401\n"
                "[grid]\n\"target.mu\" = [2.0, 3.0]\n"},
      {"sampler-kl", "[set]\nsteps = [4, 8]\ndimensions = [1]\nestimators = [\"exact\"]\n\"grid.t_max\" = 10.0\n"
                     "\"fit.min_steps\" = 4\n[grid]\n\"target.var\" = [0.5, 1.0]\n"},
      {"chen-t-sweep",
       "[set]\nT_values = [0.3, 1.0]\nm_values = [20]\n" + kTinyChen + "[grid]\n\"train.lr\" = [0.001, 0.01]\n"},
      {"chen-m-sweep", "[set]\nm_values = [10, 20]\n" + kTinyChen + "[grid]\n\"train.lr\" = [0.001, 0.01]\n"},
      {"chen-regularized", "[set]\nT_values = [1.0]\nm_values = [20]\n\"regularized.curve_nodes\" = 4\n"
                           "\"regularized.curve_draws\" = 4\n" +
                               kTinyChen + "[grid]\n\"regularized.lambda\" = [0.1, 1.0]\n"},
  };
  for (const auto& [experiment, body] : sweeps) {
    SCOPED_TRACE(experiment);
    write(experiment + ".toml", "experiment = \"" + experiment + "\"\nseeds = 2\n" + body);
    const Result r = diffgen("sweep " + experiment + ".toml --quiet --out " + experiment);
    ASSERT_EQ(r.code, 0) << r.all();
    for (const auto& f : kSweepOutputs) EXPECT_TRUE(exists(experiment + "/" + f)) << f;
    const std::string points = read(experiment + "/points.csv");
    EXPECT_GT(std::count(points.begin(), points.end(), '\n'), 4) << points;
    EXPECT_THAT(read(experiment + "/report.md"), HasSubstr("# Sweep of " + experiment));
    EXPECT_THAT(read(experiment + "/summary.json"), HasSubstr("\"points\": 4"));
  }
}

TEST_F(Sweep, AKilledSweepStartedAgainSkipsFinishedTasksAndEndsLikeAnUninterruptedOne) {
  // 12 points of 300 epochs: long enough to be killed midway.
  std::string text = kSmallSweep;
  text.replace(text.find("\"train.epochs\" = 40"), 19, "\"train.epochs\" = 300");
  text.replace(text.find("seeds = 2"), 9, "seeds = 3");
  write("sweep.toml", text);
  const fs::path out = dir_ / "killed";
  const int status =
      interrupt_when({"sweep", "sweep.toml", "--quiet", "--threads", "1", "--out", out.string()}, "killed",
                     [&] { return task_files(out) >= 2; }, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  const int finished = task_files(out);
  ASSERT_GE(finished, 2);
  ASSERT_LT(finished, 12);
  EXPECT_FALSE(fs::exists(out / "points.csv"));

  const Result again = diffgen("sweep sweep.toml --threads 2 --out killed");
  ASSERT_EQ(again.code, 0) << again.all();
  EXPECT_THAT(again.out, HasSubstr(std::to_string(12 - finished) + " computed now, " + std::to_string(finished) +
                                   " already finished"));
  const Result whole = diffgen("sweep sweep.toml --quiet --threads 2 --out whole");
  ASSERT_EQ(whole.code, 0) << whole.all();
  expect_same_sweep(out, dir_ / "whole");
}

TEST_F(Sweep, BadFilesExitTwoNamingTheProblemAndWriteNothing) {
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"experiment = \"early-stopping\"\n[grid]\n\"train.lrr\" = [0.1]\n", "unknown key 'train.lrr'"},
      {"experiment = \"early-stopping\"\n[grid]\nlr = [0.1]\n", "'lr' was renamed to 'train.lr'"},
      {"experiment = \"early-stopping\"\n[grid]\n\"data.n\" = [100, 0]\n", "data.n"},
      {"experiment = \"nope\"\n", "unknown experiment 'nope'"},
      {"experiment = \"early-stopping\"\n[grid\n", "bad.toml:2"},
      {"experiment = \"mode-shift\"\n[grid]\ndistances = [[2.0, -1.0]]\n", "element 2 = -1"},
  };
  for (const auto& c : cases) {
    write("bad.toml", c.text);
    const Result r = diffgen("sweep bad.toml --out out");
    EXPECT_EQ(r.code, 2) << c.text << r.all();
    EXPECT_THAT(r.all(), HasSubstr(c.expected));
    EXPECT_FALSE(exists("out")) << "a refused sweep created its folder";
  }
  const Result missing = diffgen("sweep absent.toml");
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.all(), HasSubstr("does not exist"));
}

// Points that fail (here: a network whose training diverges) leave the other
// points' outputs written; the sweep exits with code 4 and names every failed
// point, like `diffgen run`. Not labelled slow: a few seconds.
using SweepFailures = E2eTest;

TEST_F(SweepFailures, DivergedPointsExitWithCode4NamingEachPoint) {
  write("diverge.toml", R"(experiment = "sampler-kl"
seeds = 2
[set]
"steps" = [4, 8]
"dimensions" = [1]
"train.epochs" = 2
"data.n" = 200
[grid]
"train.lr" = [0.5, 1e6]
)");
  const Result r = diffgen("sweep diverge.toml --out out --quiet");
  EXPECT_EQ(r.code, 4) << r.all();
  EXPECT_THAT(r.err, HasSubstr("2 of 4 points stopped early (train.lr=1000000 seed 0; train.lr=1000000 seed 1)"));
  EXPECT_THAT(r.err, HasSubstr("training diverged"));
  // The exact and perturbed estimators of the failed points, and every row of
  // the other points, are written.
  const std::string csv = read_file(dir_ / "out" / "points.csv");
  EXPECT_THAT(csv, HasSubstr(",exact,"));
  for (const auto& f : kSweepOutputs) EXPECT_TRUE(exists("out/" + f)) << f;
}

}  // namespace
}  // namespace diffgen::e2e
