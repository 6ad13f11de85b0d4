// End-to-end tests of the experiments made of several training studies:
// mode-shift, capacity and optimizers. Short runs; the numbers themselves
// are checked in the unit tests of the training study.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome diffgen(const std::string& args) {
  FILE* pipe = popen((std::string(DIFFGEN_BINARY) + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path out_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffgen-grid-e2e-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

const std::string kShortModeShift =
    "run mode-shift --quiet --set distances=2,8 --set epochs=20 --set kl.every=5 --set kl_ode.every=10 "
    "--set plot.epochs=0,20 --seeds 2";

TEST(ModeShift, WritesEveryOutputTheSameForOneAndTwoThreads) {
  const fs::path a = out_dir("ms-a"), b = out_dir("ms-b");
  const Outcome ra = diffgen(kShortModeShift + " --threads 1 --out " + a.string());
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  ASSERT_EQ(diffgen(kShortModeShift + " --threads 2 --out " + b.string()).exit_code, 0);
  for (const char* f : {"config.toml", "metrics.csv", "summary.json", "report.md", "plots/best_kl.png", "plots/kl.png",
                        "plots/weights.png", "plots/weight_vs_distance.png", "plots/densities.png"})
    EXPECT_TRUE(fs::exists(a / f)) << f;
  for (const char* f : {"metrics.csv", "summary.json", "report.md"}) EXPECT_EQ(contents(a / f), contents(b / f)) << f;
  const std::string csv = contents(a / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find(',')), "distance");
  // 2 distances × 2 seeds × epochs 0..20.
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 2 * 21);
  const std::string summary = contents(a / "summary.json");
  for (const char* key : {"\"best_kl_a\"", "\"mean_weight_error\"", "\"weight_right_at_best\""})
    EXPECT_NE(summary.find(key), std::string::npos) << key;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(ModeShift, RefusesSettingsItOwnsAndBadDistances) {
  const fs::path o = out_dir("ms-bad");
  struct Case {
    std::string set, expected;
  };
  for (const Case& c : std::vector<Case>{{"--set target.mu=2", "target.mu"},
                                         {"--set distances=2,x", "'x'"},
                                         {"--set distances=2,2", "twice"},
                                         {"--set distances=2,40", "kl.lo/kl.hi"}}) {
    const Outcome r = diffgen("run mode-shift " + c.set + " --out " + o.string());
    EXPECT_EQ(r.exit_code, 2) << c.set << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(o)) << c.set;
  }
}

TEST(Capacity, ADivergingWidthIsAResultNotAFailure) {
  const fs::path o = out_dir("capacity");
  // At SGD lr 0.5 the fixed output constant makes H = 1024 diverge at once.
  const Outcome r = diffgen("run capacity --quiet --set widths=8,1024 --set epochs=4 --set kl.every=2 --set kl_ode.every=0 "
                        "--set plot.epochs=0 --out " + o.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string report = contents(o / "report.md");
  EXPECT_NE(report.find("1/1 (epoch"), std::string::npos) << report;
  for (const char* f : {"metrics.csv", "summary.json", "plots/kl_vs_width.png", "plots/kl_curves.png"})
    EXPECT_TRUE(fs::exists(o / f)) << f;
  const std::string csv = contents(o / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')).substr(0, 21), "output_scaling,hidden");
  fs::remove_all(o);
}

TEST(Capacity, RefusesHiddenAndOutputScalingWhichItSetsItself) {
  const fs::path o = out_dir("capacity-bad");
  for (const char* set : {"--set hidden=32", "--set output_scaling=width", "--set widths=8,1.5"}) {
    const Outcome r = diffgen(std::string("run capacity ") + set + " --out " + o.string());
    EXPECT_EQ(r.exit_code, 2) << set << "\n" << r.output;
    EXPECT_FALSE(fs::exists(o));
  }
}

}  // namespace
