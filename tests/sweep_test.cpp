// End-to-end tests of `diffgen sweep`: the same files for 1 thread, 2
// threads and 2 MPI ranks; a sweep killed midway and started again with the
// same --out finishes without recomputing or losing a point; bad files exit 2.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct Output {
  int exit_code;
  std::string text;  // stdout and stderr together
};

Output shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffgen-sweep-e2e-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::size_t count_points(const fs::path& out) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out / "points", ec))
    if (e.path().extension() == ".json") ++n;
  return n;
}

const std::vector<std::string> kTextOutputs = {"points.csv", "aggregate.csv", "scalars.csv", "summary.json",
                                               "report.md", "sweep.toml"};

// 2 mode distances × 2 learning rates × 2 seeds, 40 epochs each.
const char* kSmallSweep = R"(experiment = "early-stopping"
seeds = 2
[set]
epochs = 40
kl.every = 10
kl_ode.every = 20
plot.epochs = "0,40"
[grid]
"target.mu" = [2.0, 3.0]
lr = [0.1, 0.5]
)";

void expect_same_outputs(const fs::path& a, const fs::path& b) {
  for (const auto& f : kTextOutputs) {
    const std::string ta = slurp(a / f);
    EXPECT_FALSE(ta.empty()) << a / f;
    EXPECT_EQ(ta, slurp(b / f)) << f << " differs between " << a << " and " << b;
  }
}

TEST(Sweep, SameFilesOnOneThreadTwoThreadsAndTwoMpiRanks) {
  const fs::path dir = scratch("ranks");
  std::ofstream(dir / "sweep.toml") << kSmallSweep;
  const std::string bin = DIFFGEN_BINARY;
  const std::string file = (dir / "sweep.toml").string();
  const Output one = shell(bin + " sweep " + file + " --quiet --threads 1 --out " + (dir / "one").string());
  ASSERT_EQ(one.exit_code, 0) << one.text;
  const Output two = shell(bin + " sweep " + file + " --quiet --threads 2 --out " + (dir / "two").string());
  ASSERT_EQ(two.exit_code, 0) << two.text;
  expect_same_outputs(dir / "one", dir / "two");
  EXPECT_EQ(count_points(dir / "one"), 8u);
  for (const char* f : {"plots/kl_a.png", "plots/kl_b.png", "plots/scalar-best_kl_a.png"})
    EXPECT_TRUE(fs::exists(dir / "one" / f)) << f;

  if (shell("command -v mpirun").exit_code != 0)
    GTEST_SKIP() << "mpirun is not installed (scripts/setup.sh installs OpenMPI): the MPI half of this test did not run";
  // Root may run MPI only when it says so; LeakSanitizer (sanitized builds)
  // would report OpenMPI's own allocations at exit.
  const std::string mpirun = std::string("mpirun -n 2 --oversubscribe -x ASAN_OPTIONS=detect_leaks=0 ") +
                             (::geteuid() == 0 ? "--allow-run-as-root " : "");
  const Output mpi = shell(mpirun + bin + " sweep " + file + " --quiet --threads 1 --out " + (dir / "mpi").string());
  ASSERT_EQ(mpi.exit_code, 0) << mpi.text;
  expect_same_outputs(dir / "one", dir / "mpi");
  // Rank 0 alone prints the folder.
  EXPECT_EQ(mpi.text, (dir / "mpi").string() + "\n");
  fs::remove_all(dir);
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

TEST(Sweep, AKilledSweepStartedAgainSkipsFinishedPointsAndEndsLikeAnUninterruptedOne) {
  const fs::path dir = scratch("kill");
  // 12 points of 300 epochs: long enough to be killed midway.
  std::string text = kSmallSweep;
  text.replace(text.find("epochs = 40"), 11, "epochs = 300");
  text.replace(text.find("seeds = 2"), 9, "seeds = 3");
  std::ofstream(dir / "sweep.toml") << text;
  const std::string bin = DIFFGEN_BINARY;
  const std::string file = (dir / "sweep.toml").string();
  const fs::path out = dir / "killed";

  const pid_t pid = spawn({bin, "sweep", file, "--quiet", "--threads", "1", "--out", out.string()}, dir / "log.txt");
  ASSERT_GT(pid, 0);
  // Kill it once some points are written and before all are.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (count_points(out) < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the sweep finished before it could be killed: " << slurp(dir / "log.txt");
  const std::size_t finished = count_points(out);
  ASSERT_GE(finished, 2u);
  ASSERT_LT(finished, 12u);
  EXPECT_FALSE(fs::exists(out / "points.csv"));

  const Output again = shell(bin + " sweep " + file + " --threads 2 --out " + out.string());
  ASSERT_EQ(again.exit_code, 0) << again.text;
  EXPECT_NE(again.text.find(std::to_string(12 - finished) + " computed now, " + std::to_string(finished) +
                            " already finished"),
            std::string::npos)
      << again.text;
  const Output whole = shell(bin + " sweep " + file + " --quiet --threads 2 --out " + (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, 0) << whole.text;
  expect_same_outputs(out, dir / "whole");
  fs::remove_all(dir);
}

TEST(Sweep, BadFilesExitTwoNamingTheProblemAndWriteNothing) {
  const fs::path dir = scratch("bad");
  const std::string bin = DIFFGEN_BINARY;
  struct Case {
    std::string text, expected;
  };
  const std::vector<Case> cases = {
      {"experiment = \"early-stopping\"\n[grid]\nlrr = [0.1]\n", "unknown key 'lrr'"},
      {"experiment = \"early-stopping\"\n[grid]\nn = [100, 0]\n", "n"},
      {"experiment = \"nope\"\n", "unknown experiment 'nope'"},
      {"experiment = \"early-stopping\"\n[grid\n", "bad.toml:2"},
  };
  for (const auto& c : cases) {
    std::ofstream(dir / "bad.toml") << c.text;
    const fs::path out = dir / "out";
    const Output r = shell(bin + " sweep " + (dir / "bad.toml").string() + " --out " + out.string());
    EXPECT_EQ(r.exit_code, 2) << c.text << r.text;
    EXPECT_NE(r.text.find(c.expected), std::string::npos) << r.text;
    EXPECT_FALSE(fs::exists(out)) << "a refused sweep created its folder";
  }
  const Output missing = shell(bin + " sweep " + (dir / "absent.toml").string());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.text.find("does not exist"), std::string::npos) << missing.text;
  fs::remove_all(dir);
}

}  // namespace
