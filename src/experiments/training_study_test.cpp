#include "experiments/training_study.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "metrics/kl.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Named tolerances.
constexpr double kStatisticalSe = 4.0;    // statistical checks: within 4 standard errors
constexpr double kSameQuadrature = 1e-9;  // one KL by two routes on the same grid

Config study_config() {
  Schema schema;
  add_training_study_keys(schema);
  return Config(schema);
}

std::string config_error(const Config& config) {
  try {
    TrainingStudySettings::from_config(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

// --- output_scaling ---------------------------------------------------------

TEST(OutputScaling, WidthAwareEqualsTheFixedScaleAtSixteenUnitsAndFollowsOneOverRootH) {
  const double c = 1.0 / 16.0;
  EXPECT_EQ(effective_output_scale("fixed", c, 16), c);
  EXPECT_EQ(effective_output_scale("fixed", c, 2048), c);  // the reference: c does not follow H
  EXPECT_EQ(effective_output_scale("width", c, 16), c);
  for (const Index h : {1, 4, 64, 2048}) {
    EXPECT_DOUBLE_EQ(effective_output_scale("width", c, h), 0.25 / std::sqrt(static_cast<double>(h))) << h;
    // c · √H is constant.
    EXPECT_DOUBLE_EQ(effective_output_scale("width", 0.5, h) * std::sqrt(static_cast<double>(h)), 2.0) << h;
  }
  EXPECT_THROW(effective_output_scale("mean-field", c, 16), ConfigError);
}

TEST(OutputScaling, FromConfigAppliesItToTheNetwork) {
  Config config = study_config();
  config.set("hidden", "64");
  EXPECT_EQ(TrainingStudySettings::from_config(config).mlp.output_scale, 1.0 / 16.0);
  config.set("output_scaling", "width");
  const TrainingStudySettings s = TrainingStudySettings::from_config(config);
  EXPECT_EQ(s.output_scaling, "width");
  EXPECT_DOUBLE_EQ(s.mlp.output_scale, 1.0 / 32.0);  // (1/16) √(16/64)
  config.set("hidden", "16");
  EXPECT_EQ(TrainingStudySettings::from_config(config).mlp.output_scale, 1.0 / 16.0);
}

// --- KL at the smaller t0 ---------------------------------------------------

TEST(GridResolving, KeepsAFineEnoughGridAndRaisesACoarseOneToTheFewestNodes) {
  const Grid grid{-12.0, 12.0, 2401};  // h = 0.01
  // VE, t0 = 0.01: s = 0.1016 spans 10 steps.
  EXPECT_EQ(grid_resolving(grid, 0.1016, "k").points, 2401);
  EXPECT_EQ(grid_resolving(grid, 0.06, "k").points, 2401);  // exactly 6 steps
  // s = 0.0317 (VE, t0 = 0.001) needs h <= 0.00528.
  const Grid raised = grid_resolving(grid, 0.0317, "k");
  EXPECT_EQ(raised.lo, grid.lo);
  EXPECT_EQ(raised.hi, grid.hi);
  EXPECT_EQ((raised.points - 1) % 4, 0);
  EXPECT_LE(raised.step(), 0.0317 / kMinNodesPerBandwidth);
  // The fewest such nodes: four intervals fewer is too coarse.
  EXPECT_GT(Grid({-12.0, 12.0, raised.points - 4}).step(), 0.0317 / kMinNodesPerBandwidth);
  EXPECT_TRUE(raised.validate().empty());
  // Beyond kMaxResolvingNodes the key is named and the run refused.
  try {
    grid_resolving(grid, 1e-6, "kl.t0_small");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("kl.t0_small"), HasSubstr("nodes")));
  }
}

TEST(KlSmall, DefaultIsResolvedOnTheDefaultGrid) {
  const TrainingStudySettings s = TrainingStudySettings::from_config(study_config());
  EXPECT_TRUE(s.has_kl_small());
  EXPECT_EQ(s.kl_small.t0, 0.01);
  EXPECT_EQ(s.kl_small.method, "fine");
  EXPECT_EQ(s.kl_small.grid.points, s.kl.grid.points);
  // VE, sigma = 25: s(0.01) = 0.1016, ten steps of h = 0.01.
  EXPECT_NEAR(VeSde(25.0).s(0.01) / s.kl.grid.step(), 10.16, 0.01);
}

TEST(KlSmall, IsRefusedOutsideEpsToT0AndCanBeTurnedOff) {
  Config config = study_config();
  config.set("kl.t0_small", "0.065");  // = kl.t0
  EXPECT_THAT(config_error(config), AllOf(HasSubstr("kl.t0_small = 0.065"), HasSubstr("kl.t0")));
  config.set("kl.t0_small", "1e-6");  // below eps
  EXPECT_THAT(config_error(config), AllOf(HasSubstr("kl.t0_small"), HasSubstr("eps")));
  config.set("kl.t0_small", "0");
  EXPECT_FALSE(TrainingStudySettings::from_config(config).has_kl_small());
}

TEST(KlSmall, ACoarseGridOrAnotherProcessRaisesTheNodes) {
  Config config = study_config();
  config.set("kl.points", "401");  // h = 0.06 < s(0.01) = 0.10
  TrainingStudySettings s = TrainingStudySettings::from_config(config);
  EXPECT_EQ(s.kl.grid.points, 401);
  EXPECT_LE(s.kl_small.grid.step(), VeSde(25.0).s(0.01) / kMinNodesPerBandwidth);
  // VP: s(0.01) = 0.045, narrower than under VE.
  config = study_config();
  config.set("sde.kind", "vp");
  s = TrainingStudySettings::from_config(config);
  const double s_vp = make_sde(s.sde)->s(0.01);
  EXPECT_LT(s_vp, 0.05);
  EXPECT_GT(s.kl_small.grid.points, 2401);
  EXPECT_LE(s.kl_small.grid.step(), s_vp / kMinNodesPerBandwidth);
}

// --- one seed, end to end ---------------------------------------------------

// A short study whose floors and baseline are checked against independent
// computations.
Config short_config() {
  Config c = study_config();
  for (const char* a : {"epochs=20", "kl.every=10", "kl_ode.every=0", "memorization.every=10",
                        "memorization.samples=400", "memorization.steps=100", "plot.epochs=0,20", "checkpoint.every=0"})
    c.set_from_assignment(a);
  return c;
}

TEST(TrainingStudy, FloorsAtTheSmallerT0MatchTheirDefinitions) {
  const TrainingStudySettings s = TrainingStudySettings::from_config(short_config());
  const SeedResult r = run_training_study(s, 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  const auto sde = make_sde(s.sde);
  const GaussianMixture target = GaussianMixture::symmetric_two_mode(3.0);
  // The population oracle learns p_t0 exactly: its KL is the smoothing floor.
  EXPECT_NEAR(r.floors.population_a_small, kl_smoothing_floor(target, 1.0, sde->s(0.01)), 1e-9);
  // The memorized training set: far above the perfect learner at t0 = 0.01,
  // and well above its own KL at 0.065 (THEORY.md §5).
  EXPECT_GT(r.floors.empirical_a_small, 300.0 * r.floors.population_a_small);
  EXPECT_GT(r.floors.empirical_a_small, 2.5 * r.floors.empirical_a);
  EXPECT_GT(r.floors.empirical_a, 2.0 * r.floors.population_a);
  // KL(p_emp,t0 ‖ p_t0) by a second route: both densities in closed form on the grid.
  Rng data_rng = Rng::stream(s.seed, {kStreamData, 0});
  const Matrix data = target.sample(s.n, data_rng);
  for (const auto& [t0, value] :
       {std::pair{0.065, r.floors.population_emp_a}, std::pair{0.01, r.floors.population_emp_a_small}}) {
    const Vector x = s.kl.grid.nodes();
    const double direct = kl_on_grid(s.kl.grid, empirical_mixture_log_density(data.col(0), 1.0, sde->s(t0), x),
                                     target.log_density(x, 1.0, sde->s(t0)))
                              .kl;
    EXPECT_NEAR(value, direct, kSameQuadrature) << t0;
  }
}

TEST(TrainingStudy, RowsCarryTheMemorizationMeasuresWhereTheyAreEvaluated) {
  const TrainingStudySettings s = TrainingStudySettings::from_config(short_config());
  const SeedResult r = run_training_study(s, 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  ASSERT_EQ(r.rows.size(), 21u);
  for (const auto& row : r.rows) {
    const bool evaluated = row.epoch % 10 == 0;
    EXPECT_EQ(std::isfinite(row.kl_a_small), evaluated) << row.epoch;
    EXPECT_EQ(std::isfinite(row.kl_emp_a), evaluated) << row.epoch;
    EXPECT_EQ(std::isfinite(row.kl_emp_a_small), evaluated) << row.epoch;
    EXPECT_EQ(std::isfinite(row.weight_right), evaluated) << row.epoch;
    EXPECT_EQ(std::isfinite(row.nn_distance_fresh), evaluated) << row.epoch;
    if (!evaluated) continue;
    EXPECT_GE(row.kl_a_small, 0.0);
    EXPECT_GE(row.kl_emp_a, 0.0);
    EXPECT_GT(row.weight_right, 0.0);
    EXPECT_LT(row.weight_right, 1.0);
    // The seed's baseline, on every evaluated row.
    EXPECT_EQ(row.memorized_baseline, r.memorization_baseline.memorized_fraction);
  }
  // Fresh target samples against the training set: in 1-D their fraction is
  // the ratio threshold (a Poisson-process identity, metrics/memorization.hpp),
  // up to the edges of the mixture's support.
  const auto& b = r.memorization_baseline;
  const double se = std::sqrt((1.0 / 3.0) * (2.0 / 3.0) / 400.0);
  EXPECT_NEAR(b.memorized_fraction, 1.0 / 3.0, kStatisticalSe * se);
  EXPECT_NEAR(b.memorized_fraction_se, se, 0.2 * se);
  // As close to the training set as to a fresh set of its size (same law, same size).
  EXPECT_NEAR(b.nn_distance, b.nn_distance_fresh,
              kStatisticalSe * std::hypot(b.nn_distance_se, b.nn_distance_fresh_se));
  EXPECT_TRUE(std::isnan(r.memorization_memorizer.memorized_fraction));  // opt-in
}

TEST(TrainingStudy, TheMemorizersSamplesAreCloserToTheTrainingSetThanFreshSamples) {
  // n = 20: training points far enough apart (~0.3) for the sampler's last
  // step (a denoising step from s ≈ 0.07) to land on one. At n = 1000 in 1-D
  // the sample measures have little range (see the early-stopping report).
  Config config = short_config();
  config.set("n", "20");
  config.set("epochs", "0");
  config.set("memorization.memorizer", "true");
  config.set("memorization.steps", "200");
  const SeedResult r = run_training_study(TrainingStudySettings::from_config(config), 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  const auto& m = r.memorization_memorizer;
  const auto& b = r.memorization_baseline;
  EXPECT_LT(m.nn_distance, 0.5 * m.nn_distance_fresh);
  EXPECT_LT(m.nn_distance, 0.5 * b.nn_distance);
  const double se = std::hypot(m.memorized_fraction_se, b.memorized_fraction_se);
  EXPECT_GT(m.memorized_fraction, b.memorized_fraction + 2.0 * se);
}

TEST(TrainingStudy, NewMeasuresAreIdenticalForOneAndTwoThreads) {
  const TrainingStudySettings s = TrainingStudySettings::from_config(short_config());
  set_num_threads(1);
  const SeedResult one = run_training_study(s, 1);
  set_num_threads(2);
  const SeedResult two = run_training_study(s, 1);
  ASSERT_EQ(one.rows.size(), two.rows.size());
  const auto same = [](double a, double b) {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
  };
  for (std::size_t i = 0; i < one.rows.size(); ++i) {
    const auto &a = one.rows[i], &b = two.rows[i];
    for (const auto field : {&StudyRow::kl_a, &StudyRow::kl_a_small, &StudyRow::kl_emp_a, &StudyRow::kl_emp_a_small,
                             &StudyRow::weight_right, &StudyRow::memorized_fraction, &StudyRow::nn_distance,
                             &StudyRow::nn_distance_fresh, &StudyRow::memorized_baseline})
      EXPECT_TRUE(same(a.*field, b.*field)) << "epoch " << a.epoch;
  }
  EXPECT_TRUE(same(one.floors.empirical_a_small, two.floors.empirical_a_small));
  EXPECT_TRUE(same(one.floors.population_emp_a_small, two.floors.population_emp_a_small));
  EXPECT_TRUE(same(one.memorization_baseline.nn_distance, two.memorization_baseline.nn_distance));
}

}  // namespace
}  // namespace diffgen
