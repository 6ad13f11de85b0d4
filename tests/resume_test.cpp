// End-to-end tests of `diffgen run ... --resume DIR`: every experiment killed
// (SIGKILL) or stopped (SIGTERM) midway and then resumed writes byte for byte
// the outputs of an uninterrupted run; a training task killed between its
// checkpoints continues from the last one; --resume refuses other settings
// and folders that are not runs.
#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using Resume = E2eTest;

// A configuration of each experiment with several tasks that takes a second
// or two on two cores, so that a kill lands after the first task finished
// and before the last. Everything is on the command line: the resumed run
// reads it back from config.toml.
struct Case {
  std::string experiment;
  std::vector<std::string> args;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"early-stopping", {"--seeds", "3", "--set", "train.epochs=1500", "--set", "checkpoint.every=50"}},
      {"mode-shift", {"--set", "distances=2,4,6", "--set", "train.epochs=1000"}},
      {"optimizers", {"--set", "train.epochs=800", "--set", "switch_after=400", "--set", "kl.every=10"}},
      {"capacity", {"--set", "widths=8,16,64", "--set", "scalings=width", "--set", "train.epochs=800"}},
      {"gradient-flow", {"--seeds", "4"}},
      {"rates", {"--set", "n_values=100,464,2154", "--set", "m_values=16,64,256", "--seeds", "2"}},
      {"sampler-kl", {"--set", "steps=8,16,32,64,128", "--set", "estimators=exact,perturbed"}},
      {"chen-t-sweep",
       {"--seeds", "2", "--set", "T_values=0.3,0.6,1.0", "--set", "m_values=40", "--set", "train.steps=200", "--set",
        "model.deep_mlp.hidden=32,32", "--set", "test.points=200", "--set", "test.sampler_steps=100", "--set",
        "bound.L.steps=100", "--set", "bound.term1.draws=50"}},
      // The joint arm's learned-T path is part of its stored result.
      {"chen-regularized",
       {"--set", "targets=swiss-roll-mixture", "--set", "T_values=1.0", "--set", "m_values=40", "--set",
        "train.steps=200", "--set", "model.deep_mlp.hidden=32,32", "--set", "test.points=200", "--set",
        "test.sampler_steps=100", "--set", "bound.L.steps=100", "--set", "bound.term1.draws=50", "--set",
        "regularized.curve_nodes=5", "--set", "regularized.curve_draws=20"}},
  };
  return all;
}

std::vector<std::string> command(const Case& c, const fs::path& out) {
  std::vector<std::string> args{"run", c.experiment, "--quiet", "--out", out.string()};
  args.insert(args.end(), c.args.begin(), c.args.end());
  return args;
}

// Killed after its first finished task, each experiment resumes (on one
// thread, where the runs used two) to the uninterrupted run's files.
TEST_F(Resume, EveryExperimentKilledMidwayResumesToTheSameOutputs) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.experiment);
    const fs::path whole = dir_ / (c.experiment + "-whole"), killed = dir_ / (c.experiment + "-killed");
    const pid_t pid = start(command(c, whole), c.experiment + "-whole");
    const int whole_status = wait_status(pid);
    ASSERT_TRUE(WIFEXITED(whole_status) && WEXITSTATUS(whole_status) == 0)
        << read_file(dir_ / (c.experiment + "-whole.log"));
    const int total = task_files(whole);
    ASSERT_GE(total, 2);
    const int status = interrupt_when(
        command(c, killed), c.experiment + "-killed", [&] { return task_files(killed) >= 1; }, SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    EXPECT_LT(task_files(killed), total);
    EXPECT_FALSE(fs::exists(killed / "summary.json"));
    const Result r = diffgen("run " + c.experiment + " --resume " + killed.string() + " --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.all();
    expect_same_outputs(whole, killed);
  }
}

// A training task killed between checkpoints continues from its last one; a
// damaged checkpoint is a data error (exit 3) naming the file.
TEST_F(Resume, KilledTrainingContinuesFromItsCheckpoint) {
  const Case c{"early-stopping", {"--seeds", "2", "--set", "train.epochs=2000", "--set", "checkpoint.every=50",
                                  "--set", "kl.every=20", "--set", "kl.ode.every=500"}};
  const fs::path whole = dir_ / "whole", killed = dir_ / "killed";
  ASSERT_EQ(wait_status(start(command(c, whole), "whole")), 0) << read_file(dir_ / "whole.log");
  const fs::path checkpoint = killed / "checkpoints" / "seed-0.bin";
  const auto half = fs::file_size(whole / "checkpoints" / "seed-0.bin") / 2;
  const auto size = [&] {
    std::error_code ec;
    const auto n = fs::file_size(checkpoint, ec);
    return ec ? 0 : n;
  };
  const int status = interrupt_when(command(c, killed), "killed", [&] { return size() >= half; }, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(task_files(killed), 0);
  const Result r = diffgen("run early-stopping --resume " + killed.string() + " --quiet");
  ASSERT_EQ(r.code, 0) << r.all();
  expect_same_outputs(whole, killed);

  // A damaged checkpoint of an unfinished task is refused, naming it.
  fs::remove_all(killed / "tasks");
  const fs::path seed1 = killed / "checkpoints" / "seed-1.bin";
  std::string bytes = read_file(seed1);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
  std::ofstream(seed1, std::ios::binary) << bytes;
  const Result bad = diffgen("run early-stopping --resume " + killed.string());
  EXPECT_EQ(bad.code, 3) << bad.all();
  EXPECT_THAT(bad.all(), AllOf(HasSubstr(seed1.string()), HasSubstr("checksum")));
}

TEST_F(Resume, TerminatedRunExitsWith130AndResumes) {
  const Case& c = cases()[0];
  const fs::path whole = dir_ / "whole", stopped = dir_ / "stopped";
  ASSERT_EQ(wait_status(start(command(c, whole), "whole")), 0) << read_file(dir_ / "whole.log");
  const int status = interrupt_when(command(c, stopped), "stopped", [&] { return task_files(stopped) >= 1; }, SIGTERM);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_THAT(read_file(dir_ / "stopped.log"),
              AllOf(HasSubstr("SIGTERM"), HasSubstr("diffgen run early-stopping --resume " + stopped.string())));
  EXPECT_FALSE(fs::exists(stopped / "summary.json"));
  Result r = diffgen("run early-stopping --resume " + stopped.string() + " --quiet");
  ASSERT_EQ(r.code, 0) << r.all();
  expect_same_outputs(whole, stopped);
  // Resuming a finished run rewrites the same outputs.
  r = diffgen("run early-stopping --resume " + stopped.string() + " --quiet");
  ASSERT_EQ(r.code, 0) << r.all();
  expect_same_outputs(whole, stopped);
}

TEST_F(Resume, ResumeRefusesNewSettings) {
  const fs::path out = dir_ / "small";
  ASSERT_EQ(diffgen("run early-stopping --set train.epochs=2 --set data.n=20 --out " + out.string() + " --quiet").code,
            0);
  Result r = diffgen("run early-stopping --resume " + out.string() + " --set train.epochs=3");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), AllOf(HasSubstr("--resume"), HasSubstr("--set")));
  r = diffgen("run early-stopping --resume " + out.string() + " --config x.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), HasSubstr("--config"));
  r = diffgen("run early-stopping --resume " + out.string() + " --seeds 3");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), AllOf(HasSubstr("--seeds 1"), HasSubstr("--seeds 3")));
  r = diffgen("run mode-shift --resume " + out.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), HasSubstr("a run of 'early-stopping'"));
  // Edited settings in the folder no longer match the stored results: the key is named.
  std::string config = read_file(out / "config.toml");
  config.replace(config.find("\nlr = 0.5\n"), 10, "\nlr = 0.25\n");
  std::ofstream(out / "config.toml") << config;
  r = diffgen("run early-stopping --resume " + out.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), AllOf(HasSubstr("seed-0"), HasSubstr("lr = 0.5 then"), HasSubstr("lr = 0.25 now")));
}

TEST_F(Resume, ResumeOfAFolderThatIsNoRunNamesIt) {
  const fs::path missing = dir_ / "no-such-run";
  Result r = diffgen("run early-stopping --resume " + missing.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), AllOf(HasSubstr(missing.string()), HasSubstr("does not exist")));
  EXPECT_FALSE(fs::exists(missing));
  fs::create_directory(dir_ / "empty");
  r = diffgen("run early-stopping --resume " + (dir_ / "empty").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), HasSubstr("config.toml"));
  write("empty/config.toml", "");
  r = diffgen("run early-stopping --resume " + (dir_ / "empty").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.all(), HasSubstr("run.json"));
}

}  // namespace
}  // namespace diffgen::e2e
