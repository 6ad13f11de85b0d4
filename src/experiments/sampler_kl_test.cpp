// sampler-kl: its settings, and the rates Reeves & Pfister 2025 predict for
// the exact estimator (THEORY.md §9): on a geometric grid the path KL Δ_n
// falls as n⁻¹ for the mean-only step and n⁻² for the covariance-matched
// step, and the final-marginal KL of the mean-only step as n⁻². Also covers
// sampler_kl_settings.cpp, sampler_kl_report.cpp, sampler_kl_text.cpp and
// sampler_kl_plots.cpp (through the run's outputs).
#include "experiments/sampler_kl.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/io.hpp"
#include "experiments/run.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Fitted slopes over n = 64..1024 (5 points) are within this of the rate.
constexpr double kSlopeTolerance = 0.1;

const Experiment& sampler_kl() { return *find_experiment("sampler-kl"); }

TEST(SamplerKlSettings, DefaultsAndLists) {
  Config c(sampler_kl().schema());
  EXPECT_EQ(c.get_int_list("steps").size(), 8u);
  EXPECT_EQ(c.get_int_list("steps").back(), 1024);
  EXPECT_EQ(c.get_int_list("dimensions"), (IntList{1, 8}));
  c.set("steps", "64, 8");
  c.set("rules", "covariance");
  EXPECT_NO_THROW(sampler_kl().validate(c));
  EXPECT_THROW(c.set("steps", "8, 8"), ConfigError);  // no step count twice
  EXPECT_THROW(c.set("rules", "median"), ConfigError);
  c.set("grid.t_min", "1000");  // above grid.t_max
  try {
    sampler_kl().validate(c);
    ADD_FAILURE() << "grid.t_min above grid.t_max was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("grid.t_min"));
  }
}

TEST(SamplerKlSettings, GridsAreIncreasingFromZeroToTMax) {
  SamplerKlSettings s;
  check_sampler_kl_settings(s);
  for (const GridKind kind : {GridKind::Uniform, GridKind::Geometric}) {
    const Vector t = sampler_grid(s, kind, 16);
    ASSERT_EQ(t.size(), 17) << enum_name(kind);
    EXPECT_EQ(t[0], 0.0);
    EXPECT_DOUBLE_EQ(t[16], s.t_max);
    for (Index i = 1; i < t.size(); ++i) EXPECT_GT(t[i], t[i - 1]) << enum_name(kind);
  }
  // Geometric: a constant ratio after the first point.
  const Vector g = sampler_grid(s, GridKind::Geometric, 16);
  EXPECT_NEAR(g[3] / g[2], g[10] / g[9], 1e-12);
}

class SamplerKlRates : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    Config c(sampler_kl().schema());
    for (const char* a : {"steps=[64, 128, 256, 512, 1024]", "dimensions=[1]", "estimators=[\"exact\"]",
                          "grids=[\"geometric\"]", "fit.min_steps=64"})
      c.set_from_assignment(a);
    RunOptions options;
    options.out_dir = dir_->path();
    run_experiment(sampler_kl(), c, options);
    summary_ = Json::parse(read_text_file(*dir_ / "summary.json"));
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static double slope(const std::string& rule, const std::string& metric) {
    for (const auto& f : summary_.at("fits"))
      if (f.at("rule") == rule && f.at("metric") == metric) return f.at("slope").get<double>();
    ADD_FAILURE() << "no fit of " << metric << " for " << rule;
    return 0.0;
  }

  static inline std::unique_ptr<TempDir> dir_;
  static inline Json summary_;
};

TEST_F(SamplerKlRates, PathKlFallsAsOneOverNForTheMeanOnlyStep) {
  EXPECT_NEAR(slope("mean", "delta_n"), -1.0, kSlopeTolerance);
}

TEST_F(SamplerKlRates, PathKlFallsAsOneOverNSquaredForTheCovarianceMatchedStep) {
  EXPECT_NEAR(slope("covariance", "delta_n"), -2.0, kSlopeTolerance);
}

TEST_F(SamplerKlRates, TheFinalKlOfTheMeanOnlyStepFallsAsOneOverNSquared) {
  EXPECT_NEAR(slope("mean", "kl_final"), -2.0, kSlopeTolerance);
}

TEST_F(SamplerKlRates, TheReportAndTheMetricsCoverEveryCell) {
  const std::string metrics = read_text_file(*dir_ / "metrics.csv");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 1 + 2 * 5);  // 2 rules × 5 step counts
  const std::string report = read_text_file(*dir_ / "report.md");
  EXPECT_THAT(report, HasSubstr("covariance"));
  EXPECT_THAT(report, Not(HasSubstr("{{")));  // every template field filled
}

}  // namespace
}  // namespace diffgen
