// gradient-flow: a small run in process whose floors equal their independent
// computations and whose summary agrees with its own curves. Also covers
// gradient_flow_report.cpp and gradient_flow_plots.cpp (through the run's
// outputs).
#include "experiments/gradient_flow.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/io.hpp"
#include "experiments/run.hpp"
#include "metrics/kl.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
// KL (a) by score integration on 401 nodes against its closed form.
constexpr double kScoreIntegration = 1e-7;

class GradientFlowRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    config_ = std::make_unique<Config>(find_experiment("gradient-flow")->schema());
    for (const char* a : {"model.random_features.width=16", "data.n=20", "t_nodes=8", "tau.min=1.0", "tau.max=1e8",
                          "tau.per_decade=1", "kl.points=401"})
      config_->set_from_assignment(a);
    RunOptions options;
    options.out_dir = dir_->path();
    options.seeds = 2;
    run_experiment(*find_experiment("gradient-flow"), *config_, options);
    summary_ = Json::parse(read_text_file(*dir_ / "summary.json"));
  }
  static void TearDownTestSuite() {
    dir_.reset();
    config_.reset();
  }
  static double mean(const Json& spread) { return spread.at("mean").get<double>(); }

  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Config> config_;
  static inline Json summary_;
};

TEST_F(GradientFlowRun, TheFloorsEqualTheirIndependentComputations) {
  const FlowStudySettings s = flow_study_settings(*config_, {});
  const auto sde = make_sde(s.sde);
  const GaussianMixture target = s.target();
  const double smoothing = kl_smoothing_floor(target, 1.0, sde->s(s.kl.t0), s.kl.grid);
  // KL (a) of the exact score, by the score integration every model is
  // measured with: the closed form up to that route's quadrature error.
  EXPECT_NEAR(summary_.at("floors").at("smoothing").get<double>(), smoothing, kScoreIntegration);
  EXPECT_EQ(summary_.at("dsm_loss_infimum").get<double>(), dsm_loss_infimum(target, *sde, s.expected()));
  // The memorized training set of 20 points is far from the target: its KL
  // is many times the smoothing floor (THEORY.md §5).
  EXPECT_GT(mean(summary_.at("floors").at("empirical_oracle")), 5.0 * smoothing);
}

TEST_F(GradientFlowRun, TheSummaryAgreesWithItself) {
  const Json& emp = summary_.at("empirical");
  const Json& pop = summary_.at("population");
  EXPECT_EQ(emp.at("best_kl").at("count").get<Index>(), 2);
  EXPECT_NEAR(mean(summary_.at("gap").at("best_kl_empirical_minus_population")),
              mean(emp.at("best_kl")) - mean(pop.at("best_kl")), 1e-12);
  // The best over training is no worse than the end of training.
  EXPECT_LE(mean(emp.at("best_kl")), mean(emp.at("limit_kl")) + 1e-15);
  // G has at most m nonzero eigenvalues.
  EXPECT_LE(mean(summary_.at("spectrum").at("rank")), 16.0);
  EXPECT_EQ(summary_.at("tau_grid").at("points").get<Index>(), 9);
}

TEST_F(GradientFlowRun, WritesTheReportWithEveryFieldFilled) {
  const std::string report = read_text_file(*dir_ / "report.md");
  EXPECT_THAT(report, HasSubstr("gradient flow"));
  EXPECT_THAT(report, ::testing::Not(HasSubstr("{{")));
  EXPECT_TRUE(fs::exists(*dir_ / "densities.csv"));
}

}  // namespace
}  // namespace diffgen
