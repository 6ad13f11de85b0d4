// Helpers of the end-to-end tests: each test runs the built diffgen program
// the way a user or a script does, in a fresh temporary folder, and checks
// exit codes (DESIGN.md), messages and output files.
#pragma once

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace diffgen::e2e {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Result {
  int code = -1;  // the exit code; -1 when ended by a signal
  std::string out, err;
  std::string all() const { return out + err; }
};

// The outputs of a run that do not depend on the thread count, on a kill and
// resume, or on the run's timing (timing.json does).
inline const std::vector<std::string>& reproducible_outputs() {
  static const std::vector<std::string> files = {"config.toml",  "run.json",  "metrics.csv",  "summary.json",
                                                 "report.md",    "densities.csv", "curves.csv"};
  return files;
}

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "diffgen_e2e_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `diffgen ARGS` in the test's folder (`args` is shell text).
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

  // Starts `diffgen ARGS` without waiting; its output goes to NAME.log.
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
    posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
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

  // Starts the run and sends `signal` as soon as `ready()` holds. Returns the
  // wait status, or -1 when the run ended before (a failure of the test's
  // sizing: the run must be long enough to be interrupted).
  int interrupt_when(std::vector<std::string> args, const std::string& name, const std::function<bool()>& ready,
                     int signal) const {
    const pid_t pid = start(std::move(args), name);
    if (pid < 0) return -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!ready() && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        ADD_FAILURE() << "the run ended before it could be interrupted: " << read_file(dir_ / (name + ".log"));
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    EXPECT_EQ(::kill(pid, signal), 0);
    return wait_status(pid);
  }

  // How many finished task results a run folder holds.
  static int task_files(const fs::path& out) {
    std::error_code ec;
    int n = 0;
    for (const auto& entry : fs::directory_iterator(out / "tasks", ec))
      n += entry.path().extension() == ".cbor" ? 1 : 0;
    return n;
  }

  // Every reproducible output of `a` exists in `b` with the same bytes.
  static void expect_same_outputs(const fs::path& a, const fs::path& b) {
    for (const auto& f : reproducible_outputs()) {
      if (!fs::exists(a / f)) continue;
      ASSERT_TRUE(fs::exists(b / f)) << f << " missing in " << b;
      EXPECT_EQ(read_file(a / f), read_file(b / f)) << f << " differs between " << a << " and " << b;
    }
  }

  void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }
  std::string read(const std::string& name) const { return read_file(dir_ / name); }
  bool exists(const std::string& name) const { return fs::exists(dir_ / name); }

  fs::path dir_;
};

}  // namespace diffgen::e2e
