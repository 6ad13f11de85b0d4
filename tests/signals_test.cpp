// End-to-end tests of stop requests: a SIGTERM that lands while the outputs
// are being written still ends the run with exit code 130 (never a silent 0).
#include <cstdlib>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using Signals = E2eTest;

TEST_F(Signals, SigtermWhileWritingOutputsEndsWith130) {
  // A gnuplot that sends SIGTERM to the run drawing with it (once, mkdir being atomic: a second
  // signal exits at once): the signal lands exactly while the plots are written.
  fs::create_directories(dir_ / "bin");
  const std::string sent = (dir_ / "sent").string();
  write("bin/gnuplot", "#!/bin/sh\nmkdir " + sent + " 2>/dev/null && kill -TERM $PPID\nexit 0\n");
  fs::permissions(dir_ / "bin" / "gnuplot", fs::perms::owner_all);
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", ((dir_ / "bin").string() + ":" + old_path).c_str(), 1);
  const pid_t pid = start({"run", "early-stopping", "--set", "train.epochs=2", "--set", "data.n=20", "--quiet",
                           "--out", (dir_ / "out").string()},
                          "run");
  ::setenv("PATH", old_path.c_str(), 1);
  const int status = wait_status(pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_file(dir_ / "run.log");
  EXPECT_THAT(read_file(dir_ / "run.log"), AllOf(HasSubstr("SIGTERM"), HasSubstr("--resume")));
}

}  // namespace
}  // namespace diffgen::e2e
