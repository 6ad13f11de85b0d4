// The Chen2025 toy studies: the settings (the authors-toy preset, the checks
// across keys) and a small chen-t-sweep run in process whose outputs agree
// with their definitions. Also covers chen_study_settings.cpp,
// chen_t_sweep.cpp and chen_plots.cpp (through the run's outputs).
#include "experiments/chen_study.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <sstream>

#include "core/error.hpp"
#include "core/io.hpp"
#include "experiments/run.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;

Config chen_config(const std::vector<std::string>& assignments) {
  Config config(find_experiment("chen-t-sweep")->schema());
  for (const auto& a : assignments) config.set_from_assignment(a);
  return config;
}

TEST(ChenSettings, TheAuthorsToyPresetFillsOnlyWhatTheUserLeftUnset) {
  const ChenSettings consistent = chen_settings(chen_config({}));
  EXPECT_EQ(consistent.term1_variance, EncoderVariance::Variance);
  EXPECT_EQ(consistent.L.rule, ScoreNormRule::Trajectory);
  EXPECT_EQ(consistent.sm_loss, SmLossRule::Fresh);
  const ChenSettings toy = chen_settings(chen_config({"bound.preset=authors-toy", "bound.L.rule=clean-random-t"}));
  EXPECT_EQ(toy.term1_variance, EncoderVariance::StdAsVariance);
  EXPECT_EQ(toy.term1_entropy, EntropyRule::MonteCarlo);
  EXPECT_EQ(toy.term2, EncoderTermForm::MeanRootKl);
  EXPECT_EQ(toy.beta_integral, BetaIntegral::LeftRiemann);
  EXPECT_EQ(toy.sm_loss, SmLossRule::LastStep);
  EXPECT_EQ(toy.t_min, 0.0);
  EXPECT_EQ(toy.L.rule, ScoreNormRule::CleanRandomT);  // set by the user
}

std::string config_error(const std::vector<std::string>& assignments) {
  try {
    chen_settings(chen_config(assignments));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ChenSettings, ContradictorySettingsAreRefusedNamingTheKeys) {
  EXPECT_THAT(config_error({"T_values=0.3,1.0", "train.t_min=0.5"}), HasSubstr("train.t_min = 0.5"));
  EXPECT_THAT(config_error({"T_values=0.3", "test.ode.eps=0.3"}), HasSubstr("test.ode.eps"));
  EXPECT_THAT(config_error({"train.t_min=0", "model.deep_mlp.output=score-times-std"}), HasSubstr("s(0) = 0"));
  EXPECT_THAT(config_error({"sde.beta_min=30"}), HasSubstr("sde.beta_min"));
}

class ChenTSweepRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    config_ = std::make_unique<Config>(
        chen_config({"T_values=0.3,1.0", "m_values=20", "train.steps=60", "model.deep_mlp.hidden=16,16",
                     "test.points=60", "test.sampler_steps=50", "bound.term1.draws=20", "bound.L.steps=50",
                     "test.prior_mismatch_draws=500", "bound.sm_loss.draws=5"}));
    RunOptions options;
    options.out_dir = dir_->path();
    options.seeds = 2;
    run_experiment(*find_experiment("chen-t-sweep"), *config_, options);
    summary_ = Json::parse(read_text_file(*dir_ / "summary.json"));
  }
  static void TearDownTestSuite() {
    dir_.reset();
    config_.reset();
  }
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<Config> config_;
  static inline Json summary_;
};

TEST_F(ChenTSweepRun, EveryPointsBoundIsTheSumOfItsTerms) {
  std::istringstream csv(read_text_file(*dir_ / "metrics.csv"));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_THAT(header, HasSubstr("seed,target,m,T,term1,"));
  Index rows = 0;
  const double c = std::numbers::sqrt2 * 5.0;
  for (const auto& target : summary_.at("targets")) {
    for (const auto& row : target.at("per_T")) {
      const auto mean = [&](const char* key) { return row.at(key).at("mean").get<double>(); };
      EXPECT_NEAR(mean("bound"), mean("term1") + c * (mean("term2") + mean("term3")) + mean("sm_loss"), 1e-9);
      EXPECT_EQ(row.at("bound").at("count").get<int>(), 2);
      // −log m ≤ term1 ≤ 0 within its Monte Carlo error (20 draws per point here).
      const double slack = 4.0 * mean("term1_se");
      EXPECT_LE(mean("term1"), slack);
      EXPECT_GE(mean("term1"), -std::log(20.0) - slack);
      ++rows;
    }
  }
  EXPECT_EQ(rows, 4);  // two targets, two horizons
  Index lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 8);  // and two seeds
}

TEST_F(ChenTSweepRun, ExactErrorsOnlyForTheMixtureAndTheChosenTIsTheBoundsMinimum) {
  for (const auto& target : summary_.at("targets")) {
    const auto& per_T = target.at("per_T");
    const bool mixture = target.at("target") == "swiss-roll-mixture";
    EXPECT_EQ(per_T[0].at("exact_kl").at("count").get<int>(), mixture ? 2 : 0) << target.at("target");
    // term2 falls with T (the encoder forgets the data).
    EXPECT_GT(per_T[0].at("term2").at("mean").get<double>(), per_T[1].at("term2").at("mean").get<double>());
    const double b0 = per_T[0].at("bound").at("mean"), b1 = per_T[1].at("bound").at("mean");
    const auto& choice = target.at("choices").at("kde_kl");
    EXPECT_EQ(choice.at("T_chosen_by_bound").get<double>(), b0 <= b1 ? 0.3 : 1.0);
    const double rho = choice.at("spearman_bound_vs_metric").at("mean");
    EXPECT_TRUE(rho == 1.0 || rho == -1.0);  // two horizons: ranks agree or not
  }
  EXPECT_TRUE(summary_.at("failures").empty());
  for (const char* plot : {"terms_swiss-roll_m20.png", "bound_vs_error_swiss-roll-mixture_m20.png"})
    EXPECT_TRUE(std::filesystem::exists(*dir_ / "plots" / plot)) << plot;
}

// chen-m-sweep on the same small settings: term3 ∝ L/√m, so its fitted
// slope in m is near −1/2 whatever L does (L varies little across m).
TEST(ChenMSweep, TheGeneratorTermFallsLikeOneOverRootM) {
  TempDir dir;
  Config config(find_experiment("chen-m-sweep")->schema());
  for (const char* a : {"targets=swiss-roll-mixture", "m_values=10,40,160", "train.steps=60", "model.deep_mlp.hidden=16,16",
                        "test.points=60", "test.sampler_steps=50", "bound.term1.draws=20", "bound.L.steps=50",
                        "test.prior_mismatch_draws=500", "bound.sm_loss.draws=5"})
    config.set_from_assignment(a);
  RunOptions options;
  options.out_dir = dir.path();
  options.seeds = 2;
  run_experiment(*find_experiment("chen-m-sweep"), config, options);
  const Json summary = Json::parse(read_text_file(dir.path() / "summary.json"));
  const auto& target = summary.at("targets").at(0);
  EXPECT_EQ(target.at("per_m").size(), 3u);
  EXPECT_NEAR(target.at("slopes").at("term3").at("slope").get<double>(), -0.5, 0.3);
  EXPECT_TRUE(target.at("slopes").contains("exact_kl"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "plots" / "bound_and_error_vs_m_swiss-roll-mixture_T1.png"));
}

}  // namespace
}  // namespace diffgen
