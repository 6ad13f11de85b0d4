// End-to-end tests of the diffgen program: they run the built binary the way
// a user or a script does and check exit codes (DESIGN.md) and messages.
#include <sys/stat.h>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using Cli = E2eTest;

TEST_F(Cli, ListNamesEarlyStopping) {
  const Result r = diffgen("list");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("early-stopping"));
  EXPECT_EQ(r.err, "");
}

TEST_F(Cli, DescribeListsTheKeys) {
  const Result r = diffgen("describe early-stopping");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* key : {"data.n", "train.lr", "train.optimizer", "model.mlp.hidden", "train.epochs", "seed"}) {
    EXPECT_THAT(r.out, HasSubstr(std::string("\n") + key + " ")) << key;
  }
  EXPECT_THAT(r.out, AllOf(HasSubstr("int"), HasSubstr("double"), HasSubstr("sgd, adam"), HasSubstr(">= 1")));
}

TEST_F(Cli, HelpAndVersion) {
  Result r = diffgen("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("run"), HasSubstr("list"), HasSubstr("describe")));
  r = diffgen("run --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("--config"), HasSubstr("--set"), HasSubstr("--seeds"), HasSubstr("--threads"),
                           HasSubstr("--out"), HasSubstr("--quiet")));
  r = diffgen("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("diffgen 0."));
}

TEST_F(Cli, BadUsageExitsTwoWithAHint) {
  Result r = diffgen("");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--help"));
  r = diffgen("frobnicate");
  EXPECT_EQ(r.code, 2);
  r = diffgen("run early-stopping --no-such-flag");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("--no-such-flag"), HasSubstr("diffgen run --help")));
  r = diffgen("run early-stopping --seeds abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--seeds"));
}

TEST_F(Cli, UnknownExperiment) {
  Result r = diffgen("run no-such-experiment");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("no-such-experiment"), HasSubstr("early-stopping")));
  r = diffgen("run early-stoping");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("did you mean 'early-stopping'?"));
  r = diffgen("describe no-such-experiment");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no-such-experiment"));
  EXPECT_FALSE(exists("runs"));
}

TEST_F(Cli, UnknownKeySuggestsTheClosest) {
  const Result r = diffgen("run early-stopping --set train.lrr=0.1");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("'train.lrr'"), HasSubstr("did you mean 'train.lr'")));
  EXPECT_FALSE(exists("runs"));  // nothing is written before the configuration is valid
}

// Keys renamed when the settings were grouped by concept name their new name.
TEST_F(Cli, RenamedKeyNamesItsNewName) {
  Result r = diffgen("run early-stopping --set lr=0.1");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("key 'lr' was renamed to 'train.lr'"));
  write("old.toml", "epochs = 10\n[kl_ode]\nevery = 5\n");
  r = diffgen("run early-stopping --config old.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("old.toml:1:"), HasSubstr("'epochs' was renamed to 'train.epochs'")));
  r = diffgen("run gradient-flow --set rf.width=64");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("renamed to 'model.random_features.width'"));
  r = diffgen("run sampler-kl --set trained.hidden=8");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("renamed to 'model.mlp.hidden'"));
  EXPECT_FALSE(exists("runs"));
}

// Lists are TOML arrays in files and "a,b" or "[a, b]" on the command line;
// every element is checked.
TEST_F(Cli, ListValuesAreCheckedElementByElement) {
  Result r = diffgen("run mode-shift --set distances=2,-4");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("distances"), HasSubstr("element 2 = -4")));
  r = diffgen("run mode-shift --set 'distances=[2, 2]'");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("lists 2 twice"));
  r = diffgen("run sampler-kl --set rules=mean,fast");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("element 2 = fast"), HasSubstr("mean, covariance")));
  EXPECT_FALSE(exists("runs"));
}

TEST_F(Cli, WrongTypeNamesTheKey) {
  const Result r = diffgen("run early-stopping --set data.n=abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("data.n = 'abc'"), HasSubstr("not an integer")));
  EXPECT_EQ(diffgen("run early-stopping --set data.n=1.5").code, 2);
}

TEST_F(Cli, OutOfRangeNamesTheKeyAndTheRange) {
  const Result r = diffgen("run early-stopping --set data.n=0");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("data.n = 0"), HasSubstr("out of range"), HasSubstr("1")));
  EXPECT_FALSE(exists("runs"));
}

TEST_F(Cli, NonFiniteNumberIsRejected) {
  const Result r = diffgen("run early-stopping --set train.lr=nan");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("train.lr"), HasSubstr("nan"), HasSubstr("not a finite number")));
  EXPECT_EQ(diffgen("run early-stopping --set train.lr=inf").code, 2);
}

TEST_F(Cli, ChoiceNotAllowed) {
  const Result r = diffgen("run early-stopping --set train.optimizer=adamw");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("train.optimizer = 'adamw'"), HasSubstr("sgd"), HasSubstr("adam")));
}

TEST_F(Cli, MissingConfigFileIsNamed) {
  const Result r = diffgen("run early-stopping --config no-such-preset.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no-such-preset.toml"));
  EXPECT_FALSE(exists("runs"));
}

TEST_F(Cli, AConfigFileThatIsAFifoIsRefusedWithoutBlocking) {
  // Opening a FIFO for reading waits for a writer: the run used to hang.
  ASSERT_EQ(::mkfifo((dir_ / "preset.toml").c_str(), 0600), 0);
  const Result r = diffgen("run early-stopping --config preset.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("preset.toml"), HasSubstr("FIFO")));
  EXPECT_FALSE(exists("runs"));
}

TEST_F(Cli, ADataFileThatIsADeviceIsRefusedWithExitCode3) {
  // /dev/zero behind a .csv name was read until the memory ran out.
  std::filesystem::create_symlink("/dev/zero", dir_ / "points.csv");
  const Result r = diffgen("run early-stopping --set data.file=points.csv");
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.err, AllOf(HasSubstr("points.csv"), HasSubstr("device")));
}

TEST_F(Cli, AnEpsilonWhoseFloorGridExceedsMemoryIsRefusedBeforeTraining) {
  // eps = 1e-300 overflowed the empirical floor's grid size (a wrong floor,
  // exit 0); 1e-15 ran out of memory after training (std::bad_alloc, exit 1).
  for (const char* eps : {"1e-300", "1e-15"}) {
    const Result r = diffgen(std::string("run early-stopping --set sde.eps=") + eps);
    EXPECT_EQ(r.code, 2) << eps << r.err;
    EXPECT_THAT(r.err, AllOf(HasSubstr("sde.eps"), HasSubstr("needs about")));
  }
  EXPECT_FALSE(exists("runs"));
}

TEST_F(Cli, BadConfigFileNamesFileLineAndKey) {
  write("syntax.toml", "[data]\nn = 10\n[train]\nlr = = 1\n");
  Result r = diffgen("run early-stopping --config syntax.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("syntax.toml:4:"));

  write("typo.toml", "[data]\nn = 10\n[train]\nlrr = 0.1\n");
  r = diffgen("run early-stopping --config typo.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("typo.toml:4:"), HasSubstr("'train.lrr'"), HasSubstr("'train.lr'")));

  write("type.toml", "[data]\nn = \"ten\"\n");
  r = diffgen("run early-stopping --config type.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("type.toml:2:"), HasSubstr("data.n = 'ten'")));
}

TEST_F(Cli, SetIsAppliedAfterTheConfigFileInOrder) {
  write("preset.toml", "[train]\noptimizer = \"adam\"\nepochs = 1\n[data]\nn = 30\n");
  const Result r = diffgen(
      "run early-stopping --config preset.toml --set train.optimizer=sgd --set data.n=5 --set data.n=7 --out o -q");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string config = read_file(dir_ / "o" / "config.toml");
  EXPECT_THAT(config, AllOf(HasSubstr("\noptimizer = \"sgd\"\n"), HasSubstr("\nn = 7\n"), HasSubstr("\nepochs = 1\n")));
}

TEST_F(Cli, SeedsAndThreadsMustBePositiveAndSeedsBounded) {
  Result r = diffgen("run early-stopping --seeds 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--seeds"));
  r = diffgen("run early-stopping --threads 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--threads"));
  // Bounded above too: every seed's curves stay in memory until the report.
  r = diffgen("run early-stopping --seeds 2000000000");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--seeds = 2000000000 is out of range: must be in [1, 10000]"));
  EXPECT_FALSE(exists("runs"));
}

// A tiny real run: the documented outputs appear, and the saved config.toml
// reproduces the run's configuration when fed back through --config.
TEST_F(Cli, RunWritesOutputsAndItsConfigReadsBack) {
  Result r = diffgen("run early-stopping --set data.n=20 --set train.epochs=2 --set seed=3 --out first --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("first"));
  for (const char* file : {"config.toml", "run.json", "metrics.csv", "summary.json", "report.md", "timing.json",
                           "tasks/seed-0.cbor"}) {
    EXPECT_TRUE(fs::exists(dir_ / "first" / file)) << file;
  }
  const std::string config = read_file(dir_ / "first" / "config.toml");
  EXPECT_THAT(config, AllOf(HasSubstr("\nn = 20\n"), HasSubstr("\nepochs = 2\n"), HasSubstr("\nseed = 3\n")));
  EXPECT_THAT(read_file(dir_ / "first" / "metrics.csv"), HasSubstr("seed"));

  r = diffgen("run early-stopping --config first/config.toml --out second --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(dir_ / "second" / "config.toml"), config);
}

TEST_F(Cli, DefaultOutputFolderIsTimestamped) {
  const Result r = diffgen("run early-stopping --set data.n=20 --set train.epochs=1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(exists("runs"));
  int folders = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "runs")) {
    ++folders;
    const std::string name = entry.path().filename().string();
    // early-stopping-YYYYmmdd-HHMMSS
    EXPECT_THAT(name, ::testing::MatchesRegex("early-stopping-[0-9]{8}-[0-9]{6}"));
    EXPECT_THAT(r.out, HasSubstr(name));
  }
  EXPECT_EQ(folders, 1);
  EXPECT_THAT(r.err, Not(HasSubstr("error")));
}

}  // namespace
}  // namespace diffgen::e2e
