// End-to-end tests of the experiments made of several training studies:
// mode-shift, capacity and optimizers. Short runs; the numbers themselves
// are checked in the unit tests of the training study.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "e2e.hpp"

namespace diffgen::e2e {
namespace {

using ModeShift = E2eTest;
using Capacity = E2eTest;

const std::string kShortModeShift =
    "run mode-shift --quiet --set distances=2,8 --set train.epochs=20 --set kl.every=5 --set kl.ode.every=10 "
    "--set plot.epochs=0,20 --seeds 2";

TEST_F(ModeShift, WritesEveryOutputTheSameForOneAndTwoThreads) {
  const fs::path a = dir_ / "ms-a", b = dir_ / "ms-b";
  const Result ra = diffgen(kShortModeShift + " --threads 1 --out " + a.string());
  ASSERT_EQ(ra.code, 0) << ra.all();
  ASSERT_EQ(diffgen(kShortModeShift + " --threads 2 --out " + b.string()).code, 0);
  for (const char* f : {"config.toml", "metrics.csv", "summary.json", "report.md", "plots/best_kl.png", "plots/kl.png",
                        "plots/weights.png", "plots/weight_vs_distance.png", "plots/densities.png"})
    EXPECT_TRUE(fs::exists(a / f)) << f;
  for (const char* f : {"metrics.csv", "summary.json", "report.md"}) EXPECT_EQ(read_file(a / f), read_file(b / f)) << f;
  const std::string csv = read_file(a / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find(',')), "distance");
  // 2 distances × 2 seeds × epochs 0..20.
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 2 * 21);
  const std::string summary = read_file(a / "summary.json");
  for (const char* key : {"\"best_kl_a\"", "\"mean_weight_error\"", "\"weight_right_at_best\""})
    EXPECT_NE(summary.find(key), std::string::npos) << key;
  fs::remove_all(a);
  fs::remove_all(b);
}

// The growth exponent of the best KL (a) in d is fitted per seed, so it has a
// 95% interval over the seeds, and every output words the claim by it.
TEST_F(ModeShift, GrowthExponentHasAnIntervalOverSeedsInEveryOutput) {
  const fs::path o = dir_ / "ms-growth";
  const Result r = diffgen(kShortModeShift + " --out " + o.string());
  ASSERT_EQ(r.code, 0) << r.all();
  const auto summary = nlohmann::json::parse(read_file(o / "summary.json"));
  ASSERT_TRUE(summary.at("growth_exponent_best_kl_a").is_object()) << summary.dump(2);
  const auto& g = summary["growth_exponent_best_kl_a"];
  EXPECT_EQ(g.at("count"), 2);
  ASSERT_EQ(g.at("per_seed").size(), 2u);
  const double s0 = g["per_seed"][0], s1 = g["per_seed"][1], mean = g.at("mean"), ci = g.at("ci95");
  EXPECT_NEAR(mean, (s0 + s1) / 2, 1e-12);
  // Two seeds: t(0.975, 1) · |s0 - s1| / 2.
  EXPECT_NEAR(ci, 12.706204736174698 * std::abs(s0 - s1) / 2, 1e-9 * (1 + ci));
  const std::string reading = g.at("reading");
  EXPECT_FALSE(reading.empty());
  const std::string report = read_file(o / "report.md");
  EXPECT_NE(report.find(reading), std::string::npos) << report;
  EXPECT_NE(report.find("per seed:"), std::string::npos) << report;
  const std::string csv = read_file(o / "growth_exponent.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "seed,exponent,distances_fitted");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  fs::remove_all(o);
}

TEST_F(ModeShift, RefusesSettingsItOwnsAndBadDistances) {
  const fs::path o = dir_ / "ms-bad";
  struct Case {
    std::string set, expected;
  };
  for (const Case& c : std::vector<Case>{{"--set target.mu=2", "target.mu"},
                                         {"--set distances=2,x", "'x'"},
                                         {"--set distances=2,2", "twice"},
                                         {"--set distances=2,40", "kl.lo/kl.hi"}}) {
    const Result r = diffgen("run mode-shift " + c.set + " --out " + o.string());
    EXPECT_EQ(r.code, 2) << c.set << "\n" << r.all();
    EXPECT_NE(r.all().find(c.expected), std::string::npos) << r.all();
    EXPECT_FALSE(fs::exists(o)) << c.set;
  }
}

TEST_F(Capacity, ADivergingWidthIsAResultNotAFailure) {
  const fs::path o = dir_ / "capacity";
  // At SGD lr 0.5 the fixed output constant makes H = 1024 diverge at once.
  const Result r = diffgen("run capacity --quiet --set widths=8,1024 --set train.epochs=4 --set kl.every=2 --set kl.ode.every=0 "
                        "--set plot.epochs=0 --out " + o.string());
  ASSERT_EQ(r.code, 0) << r.all();
  const std::string report = read_file(o / "report.md");
  EXPECT_NE(report.find("1/1 (epoch"), std::string::npos) << report;
  for (const char* f : {"metrics.csv", "summary.json", "plots/kl_vs_width.png", "plots/kl_curves.png"})
    EXPECT_TRUE(fs::exists(o / f)) << f;
  const std::string csv = read_file(o / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')).substr(0, 21), "output_scaling,hidden");
  fs::remove_all(o);
}

TEST_F(Capacity, RefusesHiddenAndOutputScalingWhichItSetsItself) {
  const fs::path o = dir_ / "capacity-bad";
  for (const char* set : {"--set model.mlp.hidden=32", "--set model.mlp.output_scaling=width", "--set widths=8,1.5"}) {
    const Result r = diffgen(std::string("run capacity ") + set + " --out " + o.string());
    EXPECT_EQ(r.code, 2) << set << "\n" << r.all();
    EXPECT_FALSE(fs::exists(o));
  }
}

}  // namespace
}  // namespace diffgen::e2e
