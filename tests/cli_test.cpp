// End-to-end tests of the diffgen program: they run the built binary the way
// a user or a script does and check exit codes (DESIGN.md) and messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Each test runs the program in its own empty folder, so default output
// folders (runs/...) land there and can be checked.
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "diffgen_cli_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `args` is shell text appended to the program path.
  Result diffgen(const std::string& args) const {
    const std::string command =
        "cd '" + dir_.string() + "' && '" DIFFGEN_BINARY "' " + args + " >stdout.txt 2>stderr.txt";
    const int status = std::system(command.c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(dir_ / "stdout.txt");
    r.err = read_file(dir_ / "stderr.txt");
    fs::remove(dir_ / "stdout.txt");
    fs::remove(dir_ / "stderr.txt");
    return r;
  }

  void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }
  bool created_runs() const { return fs::exists(dir_ / "runs"); }

  fs::path dir_;
};

TEST_F(Cli, ListNamesEarlyStopping) {
  const Result r = diffgen("list");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("early-stopping"));
  EXPECT_EQ(r.err, "");
}

TEST_F(Cli, DescribeListsTheKeys) {
  const Result r = diffgen("describe early-stopping");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* key : {"n", "lr", "optimizer", "hidden", "epochs", "seed"}) {
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
  EXPECT_FALSE(created_runs());
}

TEST_F(Cli, UnknownKeySuggestsTheClosest) {
  const Result r = diffgen("run early-stopping --set lrr=0.1");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("'lrr'"), HasSubstr("did you mean 'lr'")));
  EXPECT_FALSE(created_runs());  // nothing is written before the configuration is valid
}

TEST_F(Cli, WrongTypeNamesTheKey) {
  const Result r = diffgen("run early-stopping --set n=abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("n = 'abc'"), HasSubstr("not an integer")));
  EXPECT_EQ(diffgen("run early-stopping --set n=1.5").code, 2);
}

TEST_F(Cli, OutOfRangeNamesTheKeyAndTheRange) {
  const Result r = diffgen("run early-stopping --set n=0");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("n = 0"), HasSubstr("out of range"), HasSubstr("1")));
  EXPECT_FALSE(created_runs());
}

TEST_F(Cli, NonFiniteNumberIsRejected) {
  const Result r = diffgen("run early-stopping --set lr=nan");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("lr"), HasSubstr("nan"), HasSubstr("not a finite number")));
  EXPECT_EQ(diffgen("run early-stopping --set lr=inf").code, 2);
}

TEST_F(Cli, ChoiceNotAllowed) {
  const Result r = diffgen("run early-stopping --set optimizer=adamw");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("optimizer = 'adamw'"), HasSubstr("sgd"), HasSubstr("adam")));
}

TEST_F(Cli, MissingConfigFileIsNamed) {
  const Result r = diffgen("run early-stopping --config no-such-preset.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no-such-preset.toml"));
  EXPECT_FALSE(created_runs());
}

TEST_F(Cli, BadConfigFileNamesFileLineAndKey) {
  write("syntax.toml", "n = 10\nlr = = 1\n");
  Result r = diffgen("run early-stopping --config syntax.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("syntax.toml:2:"));

  write("typo.toml", "n = 10\nlrr = 0.1\n");
  r = diffgen("run early-stopping --config typo.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("typo.toml:2:"), HasSubstr("'lrr'"), HasSubstr("'lr'")));

  write("type.toml", "n = \"ten\"\n");
  r = diffgen("run early-stopping --config type.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("type.toml:1:"), HasSubstr("n = 'ten'")));
}

TEST_F(Cli, SetIsAppliedAfterTheConfigFileInOrder) {
  write("preset.toml", "optimizer = \"adam\"\nn = 30\nepochs = 1\n");
  const Result r =
      diffgen("run early-stopping --config preset.toml --set optimizer=sgd --set n=5 --set n=7 --out o -q");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string config = read_file(dir_ / "o" / "config.toml");
  EXPECT_THAT(config, AllOf(HasSubstr("\noptimizer = \"sgd\"\n"), HasSubstr("\nn = 7\n"), HasSubstr("\nepochs = 1\n")));
}

TEST_F(Cli, SeedsAndThreadsMustBePositive) {
  Result r = diffgen("run early-stopping --seeds 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--seeds"));
  r = diffgen("run early-stopping --threads 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--threads"));
  EXPECT_FALSE(created_runs());
}

// A tiny real run: the documented outputs appear, and the saved config.toml
// reproduces the run's configuration when fed back through --config.
TEST_F(Cli, RunWritesOutputsAndItsConfigReadsBack) {
  Result r = diffgen("run early-stopping --set n=20 --set epochs=2 --set seed=3 --out first --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("first"));
  for (const char* file : {"config.toml", "metrics.csv", "summary.json", "report.md"}) {
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
  const Result r = diffgen("run early-stopping --set n=20 --set epochs=1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(created_runs());
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
