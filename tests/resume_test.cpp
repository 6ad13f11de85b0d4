// End-to-end tests of checkpoints and `diffgen run ... --resume DIR`: a run
// killed (SIGKILL) or stopped (SIGTERM) midway and then resumed writes
// byte for byte the outputs of an uninterrupted run; --resume refuses other
// settings and missing folders. The runs are spawned (not system()) so the
// test holds their pid.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

// 2000 epochs of two seeds (about a second on two cores), a checkpoint every
// 50 epochs. Everything must be fixed on the command line: the resumed run
// reads it back from config.toml.
const std::vector<std::string> kRun = {"run",     "early-stopping",
                                       "--set",   "epochs=2000",
                                       "--set",   "checkpoint.every=50",
                                       "--set",   "kl.every=20",
                                       "--set",   "kl_ode.every=500",
                                       "--set",   "plot.epochs=0,500,2000",
                                       "--seeds", "2",
                                       "--quiet"};
// The outputs that must not depend on whether the run was interrupted (timing.json may).
const char* const kIdentical[] = {"config.toml", "metrics.csv", "densities.csv", "summary.json", "report.md"};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "diffgen_resume_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Starts diffgen with `args`; stdout and stderr go to dir_/NAME.log.
  pid_t start(std::vector<std::string> args, const std::string& name) const {
    args.insert(args.begin(), DIFFGEN_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = (dir_ / (name + ".log")).string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, DIFFGEN_BINARY, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "posix_spawn failed";
    return rc == 0 ? pid : -1;
  }
  static int wait_status(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }
  // Runs to the end: the exit code (-1 when killed by a signal) and the output.
  std::pair<int, std::string> run(std::vector<std::string> args, const std::string& name) const {
    const pid_t pid = start(std::move(args), name);
    if (pid < 0) return {-1, ""};
    const int status = wait_status(pid);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(dir_ / (name + ".log"))};
  }
  static std::vector<std::string> with_out(std::vector<std::string> args, const fs::path& out) {
    args.push_back("--out");
    args.push_back(out.string());
    return args;
  }
  static std::uintmax_t size_of(const fs::path& p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    return ec ? 0 : n;
  }
  // Starts the run into `out` and sends `sig` once seed 0's checkpoint is
  // `size` bytes or more: a checkpoint grows with the epochs it holds, so
  // half the size of the finished run's is about halfway through training.
  // Returns the wait status.
  int interrupt_midway(const fs::path& out, std::uintmax_t size, int sig) const {
    const pid_t pid = start(with_out(kRun, out), out.filename().string());
    if (pid < 0) return -1;
    const fs::path checkpoint = out / "checkpoints" / "seed-0.bin";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (size_of(checkpoint) < size && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        ADD_FAILURE() << "the run ended before it could be interrupted: "
                      << read_file(dir_ / (out.filename().string() + ".log"));
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(::kill(pid, sig), 0);
    return wait_status(pid);
  }
  void expect_identical_outputs(const fs::path& a, const fs::path& b) const {
    for (const char* f : kIdentical) {
      ASSERT_TRUE(fs::exists(a / f)) << f;
      EXPECT_EQ(read_file(a / f), read_file(b / f)) << f << " differs";
    }
    EXPECT_TRUE(fs::exists(b / "timing.json"));
  }
  // The uninterrupted run, and the size of its final checkpoint.
  std::uintmax_t reference(const fs::path& out) const {
    const auto [code, output] = run(with_out(kRun, out), "reference");
    EXPECT_EQ(code, 0) << output;
    return size_of(out / "checkpoints" / "seed-0.bin");
  }

  fs::path dir_;
};

TEST_F(Resume, KilledRunResumesToTheUninterruptedOutputs) {
  const fs::path whole = dir_ / "whole", killed = dir_ / "killed";
  const std::uintmax_t final_size = reference(whole);
  ASSERT_GT(final_size, 0u);
  const int status = interrupt_midway(killed, final_size / 2, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  EXPECT_FALSE(fs::exists(killed / "summary.json"));
  const std::uintmax_t saved = size_of(killed / "checkpoints" / "seed-0.bin");
  EXPECT_GE(saved, final_size / 2);
  EXPECT_LT(saved, final_size);

  // --seeds is taken from the run; --threads may differ.
  const auto [code, output] =
      run({"run", "early-stopping", "--resume", killed.string(), "--threads", "1", "--quiet"}, "resume-killed");
  ASSERT_EQ(code, 0) << output;
  expect_identical_outputs(whole, killed);

  // A damaged checkpoint is a data error (exit 3) naming the file.
  const fs::path checkpoint = killed / "checkpoints" / "seed-1.bin";
  std::string bytes = read_file(checkpoint);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
  std::ofstream(checkpoint, std::ios::binary) << bytes;
  const auto [bad_code, bad_output] = run({"run", "early-stopping", "--resume", killed.string()}, "resume-corrupt");
  EXPECT_EQ(bad_code, 3) << bad_output;
  EXPECT_THAT(bad_output, AllOf(HasSubstr(checkpoint.string()), HasSubstr("checksum")));
}

TEST_F(Resume, TerminatedRunSavesExitsWith130AndResumes) {
  const fs::path whole = dir_ / "whole", stopped = dir_ / "stopped";
  const std::uintmax_t final_size = reference(whole);
  ASSERT_GT(final_size, 0u);
  const int status = interrupt_midway(stopped, final_size / 2, SIGTERM);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string log = read_file(dir_ / "stopped.log");
  EXPECT_THAT(log, AllOf(HasSubstr("SIGTERM"), HasSubstr("diffgen run early-stopping --resume " + stopped.string())));
  EXPECT_TRUE(fs::exists(stopped / "checkpoints" / "seed-0.bin"));
  EXPECT_TRUE(fs::exists(stopped / "checkpoints" / "seed-1.bin"));
  EXPECT_FALSE(fs::exists(stopped / "summary.json"));

  const auto [code, output] = run({"run", "early-stopping", "--resume", stopped.string(), "--quiet"}, "resume");
  ASSERT_EQ(code, 0) << output;
  expect_identical_outputs(whole, stopped);

  // Resuming a finished run rewrites the same outputs.
  const auto [again, again_output] = run({"run", "early-stopping", "--resume", stopped.string(), "--quiet"}, "again");
  ASSERT_EQ(again, 0) << again_output;
  expect_identical_outputs(whole, stopped);
}

TEST_F(Resume, ResumeRefusesNewSettings) {
  const fs::path out = dir_ / "small";
  ASSERT_EQ(
      run({"run", "early-stopping", "--set", "epochs=2", "--set", "n=20", "--out", out.string(), "--quiet"}, "small")
          .first,
      0);
  auto [code, output] = run({"run", "early-stopping", "--resume", out.string(), "--set", "epochs=3"}, "set");
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, AllOf(HasSubstr("--resume"), HasSubstr("--set")));
  std::tie(code, output) = run({"run", "early-stopping", "--resume", out.string(), "--config", "x.toml"}, "config");
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, HasSubstr("--config"));
  std::tie(code, output) = run({"run", "early-stopping", "--resume", out.string(), "--seeds", "3"}, "seeds");
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, AllOf(HasSubstr("--seeds 1"), HasSubstr("--seeds 3")));
  // Edited settings in the folder no longer match the checkpoint: the key is named.
  std::string config = read_file(out / "config.toml");
  config.replace(config.find("\nlr = 0.5\n"), 10, "\nlr = 0.25\n");
  std::ofstream(out / "config.toml") << config;
  std::tie(code, output) = run({"run", "early-stopping", "--resume", out.string()}, "edited");
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, AllOf(HasSubstr("seed-0.bin"), HasSubstr("lr = 0.5 in the checkpoint, 0.25 now")));
}

TEST_F(Resume, ResumeOfAMissingFolderNamesIt) {
  const fs::path missing = dir_ / "no-such-run";
  auto [code, output] = run({"run", "early-stopping", "--resume", missing.string()}, "missing");
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, AllOf(HasSubstr(missing.string()), HasSubstr("does not exist")));
  EXPECT_FALSE(fs::exists(missing));
  fs::create_directory(dir_ / "empty");
  std::tie(code, output) = run({"run", "early-stopping", "--resume", (dir_ / "empty").string()}, "empty");
  EXPECT_EQ(code, 2);
  EXPECT_THAT(output, HasSubstr("config.toml"));
}

}  // namespace
