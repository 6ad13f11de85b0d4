// End-to-end tests of the output folder as something one run owns: a second
// run into a folder in use is refused (flock), a fresh run never writes over
// or deletes another run's files without --force (and then starts from an
// empty folder), a folder of other files is never cleared, a resume refuses a
// changed data file and removes what a killed run left half-written, and a
// killed run's gnuplot child does not outlive it.
#include <cmath>
#include <cstdlib>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using OutFolder = E2eTest;

// Waits up to a minute for `ready()`; false when the run `pid` ended first.
bool wait_for(pid_t pid, const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready() && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return ready();
}

// A run of early-stopping that trains long enough to be caught midway.
std::vector<std::string> long_run(const fs::path& out, int epochs) {
  return {"run",   "early-stopping", "--quiet", "--out", out.string(), "--set", "train.epochs=" + std::to_string(epochs),
          "--set", "checkpoint.every=50"};
}

bool has_checkpoint(const fs::path& out) { return fs::exists(out / "checkpoints" / "seed-0.bin"); }

TEST_F(OutFolder, SecondRunIntoAFolderInUseIsRefusedAndLeavesItAlone) {
  const fs::path out = dir_ / "out";
  const pid_t first = start(long_run(out, 200000), "first");
  ASSERT_TRUE(wait_for(first, [&] { return has_checkpoint(out); })) << read_file(dir_ / "first.log");
  for (const std::string extra : {"", " --force"}) {
    const Result r = diffgen("run early-stopping --set train.epochs=2 --quiet --out " + out.string() + extra);
    EXPECT_EQ(r.code, 2) << r.all();
    EXPECT_THAT(r.err, HasSubstr("'" + out.string() + "' is in use by another diffgen run (pid " +
                                 std::to_string(first) + ")"));
  }
  EXPECT_THAT(read_file(out / "config.toml"), HasSubstr("epochs = 200000"));
  EXPECT_TRUE(has_checkpoint(out));
  // A resume of the folder while it is being written is refused the same way.
  const Result r = diffgen("run early-stopping --resume " + out.string());
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_THAT(r.err, HasSubstr("in use by another diffgen run"));
  ::kill(first, SIGKILL);
  wait_status(first);
  // The kernel released the lock with the process: the folder is usable again.
  const Result again = diffgen("run early-stopping --set train.epochs=2 --quiet --force --out " + out.string());
  EXPECT_EQ(again.code, 0) << again.all();
}

TEST_F(OutFolder, FinishedRunIsNotOverwrittenAndForceLeavesNoStalePlot) {
  const std::string run = "run early-stopping --set train.epochs=2 --set data.n=20 --quiet --out out";
  ASSERT_EQ(diffgen(run).code, 0);
  std::ofstream(dir_ / "out" / "plots" / "stale.png") << "old";
  Result r = diffgen(run);
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_THAT(r.err, AllOf(HasSubstr("already holds a finished run of early-stopping"), HasSubstr("--force")));
  EXPECT_TRUE(exists("out/plots/stale.png"));
  r = diffgen(run + " --force");
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(exists("out/plots/stale.png"));
  EXPECT_TRUE(exists("out/metrics.csv"));
}

TEST_F(OutFolder, FreshRunIntoAnInterruptedFolderIsRefusedAndItStaysResumable) {
  const fs::path out = dir_ / "out";
  const pid_t pid = start(long_run(out, 1500), "killed");
  ASSERT_TRUE(wait_for(pid, [&] { return has_checkpoint(out); })) << read_file(dir_ / "killed.log");
  ::kill(pid, SIGKILL);
  wait_status(pid);
  const std::string checkpoint = read_file(out / "checkpoints" / "seed-0.bin");
  const Result r = diffgen("run early-stopping --set train.epochs=2 --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_THAT(r.err, AllOf(HasSubstr("interrupted run of early-stopping"),
                           HasSubstr("diffgen run early-stopping --resume " + out.string()), HasSubstr("--force")));
  EXPECT_EQ(read_file(out / "checkpoints" / "seed-0.bin"), checkpoint);
  const Result resumed = diffgen("run early-stopping --resume " + out.string() + " --quiet");
  EXPECT_EQ(resumed.code, 0) << resumed.all();
}

TEST_F(OutFolder, FolderOfOtherFilesIsNeverCleared) {
  fs::create_directories(dir_ / "mine");
  write("mine/notes.txt", "keep me");
  for (const std::string extra : {"", " --force"}) {
    const Result r = diffgen("run early-stopping --set train.epochs=2 --out mine" + extra);
    EXPECT_EQ(r.code, 2) << r.all();
    EXPECT_THAT(r.err, HasSubstr("does not hold a diffgen run"));
  }
  EXPECT_EQ(read("mine/notes.txt"), "keep me");
  EXPECT_FALSE(exists("mine/config.toml"));
}

TEST_F(OutFolder, ResumeRefusesAChangedDataFile) {
  std::string csv = "x,y\n";
  for (int i = 0; i < 40; ++i)
    csv += std::to_string(std::cos(i * 0.1) * 3) + "," + std::to_string(std::sin(i * 0.1)) + "\n";
  write("ring.csv", csv);
  const std::string file = (dir_ / "ring.csv").string();
  ASSERT_EQ(diffgen("run early-stopping --set data.file=ring.csv --set train.epochs=4 --set memorization.every=2 "
                    "--set memorization.samples=20 --set sampler.steps=20 --quiet --out out")
                .code,
            0);
  EXPECT_THAT(read("out/run.json"), AllOf(HasSubstr("\"data.file\""), HasSubstr(file), HasSubstr("fnv1a64")));
  Result r = diffgen("run early-stopping --resume out --quiet");
  EXPECT_EQ(r.code, 0) << r.all();
  write("ring.csv", csv + "0.5,0.5\n");
  r = diffgen("run early-stopping --resume out --quiet");
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_THAT(r.err, AllOf(HasSubstr("data.file"), HasSubstr(file), HasSubstr("changed")));
  fs::remove(dir_ / "ring.csv");
  r = diffgen("run early-stopping --resume out --quiet");
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_THAT(r.err, AllOf(HasSubstr("data.file"), HasSubstr(file), HasSubstr("missing")));
}

// The pid of a process that has ended (reaped), for leftovers of a killed run.
pid_t gone_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST_F(OutFolder, ResumeRemovesTheTemporariesAKillLeft) {
  ASSERT_EQ(diffgen("run early-stopping --set train.epochs=2 --set data.n=20 --quiet --out out").code, 0);
  const pid_t dead = gone_pid();
  write("out/.metrics.csv.tmp.99999.0", "half");
  write("out/plots/.kl.png.tmp.99999.3.png", "half");
  write("out/tasks/.seed-0.cbor.tmp.99999.1", "half");
  const fs::path script = fs::temp_directory_path() / ("diffgen-plot-" + std::to_string(dead) + "-abcdef");
  const fs::path mine = fs::temp_directory_path() / ("diffgen-plot-" + std::to_string(::getpid()) + "-abcdef");
  std::ofstream(script) << "plot x";
  std::ofstream(mine) << "plot x";
  const Result r = diffgen("run early-stopping --resume out --quiet");
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(exists("out/.metrics.csv.tmp.99999.0"));
  EXPECT_FALSE(exists("out/plots/.kl.png.tmp.99999.3.png"));
  EXPECT_FALSE(exists("out/tasks/.seed-0.cbor.tmp.99999.1"));
  EXPECT_FALSE(fs::exists(script)) << "a script of a process that is gone";
  EXPECT_TRUE(fs::exists(mine)) << "a script of a live process stays";
  fs::remove(mine);
}

// The children of `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> kids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string stat = read_file(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) kids.push_back(static_cast<pid_t>(std::stol(entry.path().filename().string())));
  }
  return kids;
}

TEST_F(OutFolder, GnuplotDiesWithAKilledRun) {
  // A stand-in gnuplot that hangs, so the child is there to be seen.
  fs::create_directories(dir_ / "bin");
  write("bin/gnuplot", "#!/bin/sh\nexec sleep 60\n");
  fs::permissions(dir_ / "bin" / "gnuplot", fs::perms::owner_all);
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", ((dir_ / "bin").string() + ":" + old_path).c_str(), 1);
  const pid_t pid = start({"run", "early-stopping", "--set", "train.epochs=2", "--set", "data.n=20", "--quiet",
                           "--out", (dir_ / "out").string()},
                          "run");
  ::setenv("PATH", old_path.c_str(), 1);
  std::vector<pid_t> kids;
  ASSERT_TRUE(wait_for(pid, [&] { return !(kids = children_of(pid)).empty(); })) << read_file(dir_ / "run.log");
  ::kill(pid, SIGKILL);
  wait_status(pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const auto alive = [&] {
    for (pid_t k : kids)
      if (::kill(k, 0) == 0 && read_file(fs::path("/proc") / std::to_string(k) / "stat").find(") Z") ==
                                   std::string::npos)
        return true;
    return false;
  };
  while (alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(alive()) << "gnuplot outlived the killed run";
}

}  // namespace
}  // namespace diffgen::e2e
