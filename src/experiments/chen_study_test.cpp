// The Chen2025 toy studies: the settings (the authors-toy preset, the checks
// across keys, data.file) and small chen-t-sweep, chen-m-sweep and
// chen-regularized runs in process whose outputs agree with their
// definitions. Also covers chen_study_settings.cpp, chen_grid_study.cpp,
// chen_t_sweep.cpp, chen_m_sweep.cpp, chen_regularized.cpp and
// chen_plots.cpp (through the runs' outputs).
#include "experiments/chen_study.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <sstream>

#include "core/error.hpp"
#include "core/io.hpp"
#include "data/points_file.hpp"
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

// The options that keep a run to seconds.
const std::vector<std::string> kSmall{"train.steps=60", "model.deep_mlp.hidden=16,16", "test.points=60",
                                      "test.sampler_steps=50", "bound.term1.draws=20", "bound.L.steps=50",
                                      "test.prior_mismatch_draws=500", "bound.sm_loss.draws=5"};

Json run_small(const std::string& experiment, std::vector<std::string> assignments, const TempDir& dir,
               Index seeds) {
  Config config(find_experiment(experiment)->schema());
  assignments.insert(assignments.begin(), kSmall.begin(), kSmall.end());
  for (const auto& a : assignments) config.set_from_assignment(a);
  RunOptions options;
  options.out_dir = dir.path();
  options.seeds = seeds;
  run_experiment(*find_experiment(experiment), config, options);
  return Json::parse(read_text_file(dir.path() / "summary.json"));
}

// Every arm of chen-regularized on the mixture, two seeds: each reported
// difference is the arm's mean minus the baseline's (paired, same counts),
// plain and penalty keep their T, and the joint arm's T moves within its range.
TEST(ChenRegularized, PairedDifferencesAgainstThePlainBaselineAndALearnedTInItsRange) {
  TempDir dir;
  const Json summary = run_small("chen-regularized",
                                 {"targets=swiss-roll-mixture", "T_values=0.3,1.0", "m_values=20",
                                  "regularized.T_range=0.25,1.5", "regularized.curve_nodes=5",
                                  "regularized.curve_draws=10", "regularized.T_lr=0.05"},
                                 dir, 2);
  EXPECT_NEAR(summary.at("lambda").get<double>(), std::numbers::sqrt2 * 5.0, 1e-12);  // 0 stands for √2R
  const auto& target = summary.at("targets").at(0);
  const auto& arms = target.at("arms");
  ASSERT_EQ(arms.size(), 5u);  // plain and penalty at two horizons, joint
  const auto mean_of = [&](const std::string& arm, double T, const std::string& key) {
    for (const auto& a : arms)
      if (a.at("arm") == arm && a.at("T").get<double>() == T) return a.at(key).at("mean").get<double>();
    ADD_FAILURE() << arm << " at T = " << T << " is missing";
    return 0.0;
  };
  const auto& differences = target.at("differences");
  EXPECT_EQ(differences.size(), 4u * 5u);  // four arms besides the baseline; four test errors and the bound
  for (const auto& d : differences) {
    const std::string arm = d.at("arm"), quantity = d.at("quantity");
    const double T = d.at("T");
    EXPECT_FALSE(arm == "plain" && T == 1.0) << "the baseline is not compared with itself";
    EXPECT_EQ(d.at("difference").at("count").get<int>(), 2);
    EXPECT_NEAR(d.at("difference").at("mean").get<double>(), mean_of(arm, T, quantity) - mean_of("plain", 1.0, quantity),
                1e-9 * (1.0 + std::abs(mean_of("plain", 1.0, quantity))))
        << arm << " " << T << " " << quantity;
  }
  EXPECT_EQ(mean_of("plain", 0.3, "T_final"), 0.3);
  EXPECT_EQ(mean_of("penalty", 1.0, "T_final"), 1.0);
  const double T_joint = mean_of("joint", 1.0, "T_final");
  EXPECT_GE(T_joint, 0.25);
  EXPECT_LE(T_joint, 1.5);
  EXPECT_NE(T_joint, 1.0);
  const std::string csv = read_text_file(dir.path() / "metrics.csv");
  EXPECT_THAT(csv, HasSubstr("seed,target,m,T,arm,term1,"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 5);
  for (const char* plot : {"arms_swiss-roll-mixture.png", "learned_T_swiss-roll-mixture.png"})
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "plots" / plot)) << plot;
}

std::string plan_error(const std::string& experiment, const std::vector<std::string>& assignments) {
  Config config(find_experiment(experiment)->schema());
  try {
    for (const auto& a : assignments) config.set_from_assignment(a);
    find_experiment(experiment)->plan(config, 1);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChenRegularized, SettingsThatCannotBeComparedAreRefusedNamingTheKeys) {
  EXPECT_THAT(plan_error("chen-regularized", {"regularized.baseline_T=0.5"}), HasSubstr("regularized.baseline_T = 0.5"));
  EXPECT_THAT(plan_error("chen-regularized", {"regularized.arms=penalty,joint"}), HasSubstr("plain"));
  EXPECT_THAT(plan_error("chen-regularized", {"regularized.T_start=3"}), HasSubstr("regularized.T_start = 3"));
  EXPECT_THAT(plan_error("chen-regularized", {"regularized.T_range=1.5,0.5"}), HasSubstr("lo < hi"));
  EXPECT_THAT(plan_error("chen-regularized", {"m_values=20,40"}), HasSubstr("one m"));
  EXPECT_EQ(plan_error("chen-regularized", {}), "");
}

// A data file is split per seed into m training points and held-out test
// points; it has no density, so no exact KL and no KDE-KL floor.
TEST(ChenDataFile, TrainsOnTheFilesPointsAndTestsOnTheRest) {
  TempDir dir;
  Rng rng(3);
  Matrix points(70, 2);
  rng.fill_normal(points);
  save_points_npy(dir.path() / "points.npy", points);
  TempDir out;
  const Json summary = run_small("chen-t-sweep",
                                 {"data.file=" + (dir.path() / "points.npy").string(), "m_values=20", "T_values=0.5"},
                                 out, 1);
  const auto& target = summary.at("targets").at(0);
  EXPECT_EQ(target.at("target"), "file");
  const auto& row = target.at("per_T").at(0);
  EXPECT_EQ(row.at("exact_kl").at("count").get<int>(), 0);
  EXPECT_EQ(row.at("kde_kl_floor").at("count").get<int>(), 0);
  EXPECT_EQ(row.at("energy_distance").at("count").get<int>(), 1);
  EXPECT_TRUE(summary.at("failures").empty());
  const std::string file = "data.file=" + (dir.path() / "points.npy").string();
  EXPECT_THAT(plan_error("chen-t-sweep", {file, "m_values=69"}), HasSubstr("fewer than 2"));
  EXPECT_THAT(plan_error("chen-t-sweep", {file, "targets=swiss-roll"}), HasSubstr("targets does not have file"));
  EXPECT_THAT(plan_error("chen-t-sweep", {"targets=file"}), HasSubstr("data.file is not set"));
  write_file_atomic(dir.path() / "bad.csv", "1,2\n3\n");
  try {
    Config config(find_experiment("chen-t-sweep")->schema());
    config.set_from_assignment("data.file=" + (dir.path() / "bad.csv").string());
    find_experiment("chen-t-sweep")->plan(config, 1);
    FAIL() << "a malformed file was accepted";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.csv"));
  }
}

}  // namespace
}  // namespace diffgen
