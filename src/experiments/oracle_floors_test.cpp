// The oracle floors as summary.json and the report state them: the parts of
// the perfect learner's KL (b), a value inside its error estimate never shown
// as a number, the memorizer ratio as an estimate with its interval.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "experiments/early_stopping.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TrainingStudySettings settings(const std::string& prior = "gaussian") {
  Schema schema;
  add_training_study_keys(schema);
  Config config(schema);
  for (const std::string& a : std::vector<std::string>{"train.epochs=4", "kl.every=1", "kl.ode.every=2", "memorization.every=0",
                              "plot.epochs=0", "kl.ode.prior=" + prior})
    config.set_from_assignment(a);
  return training_study_settings(config);
}

// The floors of the default target under VE, as the evaluation computes them.
SeedResult seed_with_floors(Index k, double population_b, double error) {
  SeedResult r;
  r.seed_index = k;
  r.floors.population_a = 0.00144611;
  r.floors.empirical_a = 0.0078;
  r.floors.population_b = population_b;
  r.floors.population_b_error = error;
  r.floors.smoothing_b = 2.5e-11;
  r.floors.prior_mismatch_b = 0.0024953;
  r.floors.empirical_b = 16.6;
  r.floors.prior_mismatch_emp_b = 0.0025;
  r.floors.smoothing_a = 0.00144611;
  r.floors.smoothing_a_small = 2.5e-5;
  r.floors.memorizer_a_sets = {0.008, 0.010};
  r.floors.memorizer_a_small_sets = {0.03, 0.034};
  return r;
}

TEST(OracleFloors, TheGaussianPriorFloorIsNamedThePriorMismatch) {
  const auto s = settings();
  const std::vector<SeedResult> seeds{seed_with_floors(0, 0.0024947, 1.1e-6)};
  const auto j = floors_json(seeds, s);
  EXPECT_DOUBLE_EQ(j.at("prior_mismatch_b").at("mean").get<double>(), 0.0024953);
  EXPECT_DOUBLE_EQ(j.at("smoothing_b").at("mean").get<double>(), 2.5e-11);
  EXPECT_DOUBLE_EQ(j.at("population_b_error").get<double>(), 1.1e-6);
  EXPECT_FALSE(j.at("population_b_within_error").get<bool>());
  EXPECT_EQ(j.at("population_b_prior").get<std::string>(), "gaussian");
  std::string text;
  for (const auto& l : floor_lines(seeds, s)) text += l + "\n";
  EXPECT_THAT(text, HasSubstr("0.002495 (error estimate 1.1e-06)"));
  EXPECT_THAT(text, HasSubstr("prior mismatch KL(p_T ‖ N(0, s(T)²)) = 0.0024953"));
  EXPECT_THAT(text, HasSubstr("smoothing floor KL(p_0 ‖ p_ε) = 2.5e-11"));
  EXPECT_THAT(text, HasSubstr("not smoothing, is the Gaussian-prior floor"));
}

TEST(OracleFloors, AnExactPriorValueInsideItsErrorIsNotPrintedAsANegativeKl) {
  const auto s = settings("exact");
  const std::vector<SeedResult> seeds{seed_with_floors(0, -3.5e-7, 1.1e-6), seed_with_floors(1, -3.5e-7, 1.2e-6)};
  const auto j = floors_json(seeds, s);
  EXPECT_TRUE(j.at("population_b_within_error").get<bool>());
  EXPECT_DOUBLE_EQ(j.at("population_b_error").get<double>(), 1.2e-6);  // the largest over seeds
  std::string text;
  for (const auto& l : floor_lines(seeds, s)) text += l + "\n";
  EXPECT_THAT(text, HasSubstr("< 1.2e-06 (zero within its error estimate)"));
  EXPECT_THAT(text, Not(HasSubstr("-3.5e-07")));
  EXPECT_THAT(text, HasSubstr("(the best any learner can do at ε)"));
}

TEST(OracleFloors, TheMemorizerRatioIsAnEstimateOverAllSetsWithItsInterval) {
  const auto s = settings();
  const std::vector<SeedResult> seeds{seed_with_floors(0, 0.0025, 1e-6), seed_with_floors(1, 0.0025, 1e-6)};
  const auto j = floors_json(seeds, s);
  const auto& r = j.at("memorizer_ratio_a");
  EXPECT_EQ(r.at("count").get<Index>(), 4);
  EXPECT_NEAR(r.at("mean").get<double>(), 0.009 / 0.00144611, 1e-9);
  EXPECT_GT(r.at("ci95").get<double>(), 0.0);
  EXPECT_NEAR(j.at("memorizer_ratio_a_small").at("mean").get<double>(), 0.032 / 2.5e-5, 1e-6);
  std::string text;
  for (const auto& l : floor_lines(seeds, s)) text += l + "\n";
  EXPECT_THAT(text, HasSubstr("over 4 training sets of n = 1000"));
  EXPECT_THAT(text, HasSubstr("1280 ± "));  // plain numbers, not 1.28e+03
  EXPECT_THAT(text, HasSubstr("a perfect learner 0.001446 (the smoothing floor"));  // one value, no ± 0
}

TEST(OracleFloors, NoMemorizerSetsNoRatio) {
  const auto s = settings();
  SeedResult r = seed_with_floors(0, 0.0025, 1e-6);
  r.floors.memorizer_a_sets.clear();
  r.floors.memorizer_a_small_sets.clear();
  const auto j = floors_json({r}, s);
  EXPECT_FALSE(j.contains("memorizer_ratio_a"));
  for (const auto& l : floor_lines({r}, s)) EXPECT_THAT(l, Not(HasSubstr("memorized its training set scores")));
}

}  // namespace
}  // namespace diffgen
