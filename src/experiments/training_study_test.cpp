// One seed of the training study: its settings (keys, checks across keys, the
// grids of the smaller t0), its oracle floors against independent
// computations, the rows' measures, the optimizer switch, a stop and resume
// from the checkpoint, and the exact JSON round trip of its result. Also
// covers training_study_settings.cpp, training_study_eval.cpp and
// training_study_codec.cpp.
#include "experiments/training_study.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "metrics/kl.hpp"
#include "targets/gaussian_mixture.hpp"
#include "testing/tolerances.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Named tolerances.
using tolerance::kStandardErrors;
using tolerance::kSameQuadrature;

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// Every number of a row, by name.
constexpr std::pair<const char*, double StudyRow::*> kRowNumbers[] = {
    {"train_loss", &StudyRow::train_loss},
    {"kl_a", &StudyRow::kl_a},
    {"kl_b", &StudyRow::kl_b},
    {"memorized_fraction", &StudyRow::memorized_fraction},
    {"nn_distance", &StudyRow::nn_distance},
    {"kl_a_small", &StudyRow::kl_a_small},
    {"kl_emp_a", &StudyRow::kl_emp_a},
    {"kl_emp_a_small", &StudyRow::kl_emp_a_small},
    {"weight_right", &StudyRow::weight_right},
    {"memorized_baseline", &StudyRow::memorized_baseline},
    {"nn_distance_fresh", &StudyRow::nn_distance_fresh},
    {"closer_to_train", &StudyRow::closer_to_train},
};

// Every number of two rows' equal to the bit.
void expect_same_row(const StudyRow& a, const StudyRow& b, const std::string& where) {
  EXPECT_EQ(a.epoch, b.epoch) << where;
  EXPECT_EQ(a.steps, b.steps) << where;
  for (const auto& [name, member] : kRowNumbers)
    EXPECT_TRUE(same_bits(a.*member, b.*member)) << name << " at epoch " << a.epoch << where << ": " << a.*member
                                                 << " vs " << b.*member;
}

Config study_config() {
  Schema schema;
  add_training_study_keys(schema);
  return Config(schema);
}

std::string config_error(const Config& config) {
  try {
    training_study_settings(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

// A short study: 20 epochs, every measure but KL (b) at epochs 0, 10, 20.
Config short_config() {
  Config c = study_config();
  for (const char* a : {"train.epochs=20", "kl.every=10", "kl.ode.every=0", "memorization.every=10",
                        "memorization.samples=400", "sampler.steps=100", "plot.epochs=0,20", "checkpoint.every=0"})
    c.set_from_assignment(a);
  return c;
}

// --- settings ---------------------------------------------------------------

TEST(TrainingStudySettings, DefaultsAreLi2023sSetup) {
  const TrainingStudySettings s = training_study_settings(study_config());
  EXPECT_EQ(s.n, 1000);
  EXPECT_EQ(s.target_mu, 3.0);
  EXPECT_EQ(s.train.epochs, 2000);
  EXPECT_EQ(s.train.trainer.batch_size, 32);
  EXPECT_EQ(s.model.mlp.hidden, 16);
  EXPECT_EQ(s.model.mlp.output_constant(), 1.0 / 16.0);
  EXPECT_TRUE(s.has_target());
  EXPECT_EQ(s.dim(), 1);
  // Plot epochs that are KL (a) epochs of the run.
  EXPECT_EQ(s.snapshot_epochs, (std::vector<Index>{0, 100, 200, 500, 1000, 2000}));
}

TEST(TrainingStudySettings, WidthAwareOutputScalingFollowsOneOverRootH) {
  Config config = study_config();
  config.set("model.mlp.hidden", "64");
  EXPECT_EQ(training_study_settings(config).model.mlp.output_constant(), 1.0 / 16.0);  // fixed: c does not follow H
  config.set("model.mlp.output_scaling", "width");
  EXPECT_DOUBLE_EQ(training_study_settings(config).model.mlp.output_constant(), 1.0 / 32.0);  // (1/16) √(16/64)
  config.set("model.mlp.hidden", "16");
  EXPECT_EQ(training_study_settings(config).model.mlp.output_constant(), 1.0 / 16.0);
  EXPECT_THROW(config.set("model.mlp.output_scaling", "mean-field"), ConfigError);
}

TEST(TrainingStudySettings, SnapshotEpochsAreThePlotEpochsThatAreKlEpochs) {
  Config config = short_config();
  config.set("plot.epochs", "0,5,10,20,40");
  EXPECT_EQ(training_study_settings(config).snapshot_epochs, (std::vector<Index>{0, 10, 20}));
}

// The parameter copies kept for evaluation are bounded up front: at
// hidden = 5000 (40,001 parameters) over 90,000 epochs evaluated every epoch
// they would take 26.8 GiB, in memory and in every checkpoint.
TEST(TrainingStudySettings, KeptParameterCopiesBeyondTheirBoundAreRefusedUpFront) {
  Config config = study_config();
  config.set("model.mlp.hidden", "5000");
  EXPECT_NO_THROW(training_study_settings(config));  // 2000 epochs, 201 copies: 64 MB
  config.set("train.epochs", "90000");
  config.set("kl.every", "1");
  const std::string e = config_error(config);
  EXPECT_THAT(e, HasSubstr("train.epochs = 90000 with kl.every = 1"));
  EXPECT_THAT(e, HasSubstr("40001 parameters at each of the 90001 evaluation epochs needs 26.8 GiB"));
  EXPECT_THAT(e, HasSubstr("at most 1 GiB"));
}

TEST(TrainingStudySettings, ContradictionsAreRefusedNamingTheKeys) {
  Config config = study_config();
  config.set("kl.t0", "2");  // beyond T = 1
  EXPECT_THAT(config_error(config), HasSubstr("kl.t0"));
  config = study_config();
  config.set("train.switch.epoch", "2000");  // at the last epoch: nothing left to switch
  EXPECT_THAT(config_error(config), HasSubstr("train.switch.epoch"));
  config.set("train.switch.epoch", "1999");
  EXPECT_NO_THROW(training_study_settings(config));
}

TEST(TrainingStudySettings, AOnePointTrainingSetWithMemorizationIsRefusedUpFront) {
  Config config = study_config();
  config.set("data.n", "1");
  EXPECT_THAT(config_error(config), AllOf(HasSubstr("data.n = 1"), HasSubstr("memorization.every")));
  config.set("memorization.every", "0");
  EXPECT_NO_THROW(training_study_settings(config));
}

TEST(TrainingStudySettings, KlBoundsWhoseDifferenceOverflowsAreRefused) {
  Config config = study_config();
  config.set("kl.lo", "-1e308");
  config.set("kl.hi", "1e308");
  EXPECT_THAT(config_error(config), AllOf(HasSubstr("kl.lo"), HasSubstr("kl.hi"), HasSubstr("finite hi - lo")));
}

TEST(TrainingStudySettings, AnEmpiricalFloorGridBeyondMemoryIsRefusedUpFront) {
  // s(ε) = √ε: a step of s/8 over [-12, 12] takes 1e151 nodes at ε = 1e-300
  // (the conversion overflowed) and 6e9 nodes at ε = 1e-15.
  for (const char* eps : {"1e-300", "1e-15"}) {
    Config config = study_config();
    config.set("sde.eps", eps);
    EXPECT_THAT(config_error(config), AllOf(HasSubstr("sde.eps"), HasSubstr("needs about"), HasSubstr("iB"))) << eps;
  }
}

TEST(TrainingStudySettings, AMissingDataFileIsADataErrorNamingIt) {
  Config config = study_config();
  config.set("data.file", "/nonexistent/points.csv");
  try {
    training_study_settings(config);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("/nonexistent/points.csv"));
  }
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
  try {
    grid_resolving(grid, 1e-6, "kl.t0_small");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("kl.t0_small"), HasSubstr("nodes")));
  }
}

TEST(KlSmall, DefaultIsResolvedOnTheDefaultGrid) {
  const TrainingStudySettings s = training_study_settings(study_config());
  EXPECT_TRUE(s.has_kl_small());
  EXPECT_EQ(s.kl_small.t0, 0.01);
  EXPECT_EQ(s.kl_small.method, KlMethod::Fine);
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
  EXPECT_FALSE(training_study_settings(config).has_kl_small());
}

TEST(KlSmall, ACoarseGridOrAnotherProcessRaisesTheNodes) {
  Config config = study_config();
  config.set("kl.points", "401");  // h = 0.06 < s(0.01) = 0.10
  TrainingStudySettings s = training_study_settings(config);
  EXPECT_EQ(s.kl.grid.points, 401);
  EXPECT_LE(s.kl_small.grid.step(), VeSde(25.0).s(0.01) / kMinNodesPerBandwidth);
  // VP: s(0.01) = 0.045, narrower than under VE.
  config = study_config();
  config.set("sde.kind", "vp");
  s = training_study_settings(config);
  const double s_vp = make_sde(s.sde)->s(0.01);
  EXPECT_LT(s_vp, 0.05);
  EXPECT_GT(s.kl_small.grid.points, 2401);
  EXPECT_LE(s.kl_small.grid.step(), s_vp / kMinNodesPerBandwidth);
}

// --- one seed, end to end ---------------------------------------------------

TEST(TrainingStudy, FloorsMatchTheirDefinitions) {
  const TrainingStudySettings s = training_study_settings(short_config());
  const SeedResult r = run_training_study(s, 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  const auto sde = make_sde(s.sde);
  const GaussianMixture target = GaussianMixture::symmetric_two_mode(3.0);
  // The population oracle learns p_t0 exactly: its KL is the smoothing floor.
  EXPECT_NEAR(r.floors.population_a, kl_smoothing_floor(target, 1.0, sde->s(0.065)), 1e-9);
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

TEST(TrainingStudy, RowsCarryTheMeasuresWhereTheyAreEvaluated) {
  const TrainingStudySettings s = training_study_settings(short_config());
  const SeedResult r = run_training_study(s, 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  ASSERT_EQ(r.rows.size(), 21u);
  EXPECT_TRUE(std::isnan(r.rows[0].train_loss));  // no training at epoch 0
  for (const auto& row : r.rows) {
    const bool evaluated = row.epoch % 10 == 0;
    if (row.epoch > 0) {
      EXPECT_TRUE(std::isfinite(row.train_loss)) << row.epoch;
    }
    for (const auto field : {&StudyRow::kl_a, &StudyRow::kl_a_small, &StudyRow::kl_emp_a, &StudyRow::kl_emp_a_small,
                             &StudyRow::weight_right, &StudyRow::nn_distance_fresh, &StudyRow::memorized_fraction})
      EXPECT_EQ(std::isfinite(row.*field), evaluated) << row.epoch;
    EXPECT_TRUE(std::isnan(row.kl_b));  // kl.ode.every = 0
    if (!evaluated) continue;
    EXPECT_GE(row.kl_a, 0.0);
    EXPECT_GE(row.kl_a_small, 0.0);
    EXPECT_GE(row.kl_emp_a, 0.0);
    EXPECT_GT(row.weight_right, 0.0);
    EXPECT_LT(row.weight_right, 1.0);
    // The seed's baseline, on every evaluated row.
    EXPECT_EQ(row.memorized_baseline, r.memorization_baseline.memorized_fraction);
  }
  // Snapshots at the plot epochs 0 and 20, on the KL grid.
  ASSERT_EQ(r.snapshots.size(), 2u);
  EXPECT_EQ(r.snapshots[1].epoch, 20);
  EXPECT_EQ(r.snapshots[1].x.size(), s.kl.grid.points);
  EXPECT_TRUE(r.snapshots[1].x_b.size() == 0);  // no KL (b) in this run
  // Fresh target samples against the training set: in 1-D their fraction is
  // the ratio threshold (a Poisson-process identity, metrics/memorization.hpp),
  // up to the edges of the mixture's support.
  const auto& b = r.memorization_baseline;
  const double se = std::sqrt((1.0 / 3.0) * (2.0 / 3.0) / 400.0);
  EXPECT_NEAR(b.memorized_fraction, 1.0 / 3.0, kStandardErrors * se);
  EXPECT_NEAR(b.memorized_fraction_se, se, 0.2 * se);
  // As close to the training set as to a fresh set of its size (same law, same size).
  EXPECT_NEAR(b.nn_distance, b.nn_distance_fresh,
              kStandardErrors * std::hypot(b.nn_distance_se, b.nn_distance_fresh_se));
  EXPECT_TRUE(std::isnan(r.memorization_memorizer.memorized_fraction));  // opt-in
}

TEST(TrainingStudy, KlOfTheOdeDensityIsEvaluatedOnItsOwnSchedule) {
  Config config = short_config();
  config.set("kl.ode.every", "20");
  config.set("kl.ode.points", "401");
  config.set("memorization.every", "0");
  const SeedResult r = run_training_study(training_study_settings(config), 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  for (const auto& row : r.rows) EXPECT_EQ(std::isfinite(row.kl_b), row.epoch % 20 == 0) << row.epoch;
  EXPECT_GT(r.floors.population_b, 0.0);
  EXPECT_GT(r.rows[20].kl_b, 0.0);
  EXPECT_GT(r.floors.empirical_b, r.floors.population_b);  // the memorized set is far from the target
  EXPECT_GT(r.diagnostics.ode_steps, 0);
  // Every KL (b) carries its error estimate.
  for (const auto& row : r.rows) EXPECT_EQ(std::isfinite(row.kl_b_error), std::isfinite(row.kl_b)) << row.epoch;
  EXPECT_GT(r.rows[20].kl_b_error, 0.0);
  EXPECT_GT(r.diagnostics.max_solver_error_b, 0.0);
}

// No training and no sampling: only the floors of the untrained model.
Config floors_only_config() {
  Config config = short_config();
  for (const char* a : {"train.epochs=0", "plot.epochs=0", "memorization.every=0"}) config.set_from_assignment(a);
  return config;
}

TEST(TrainingStudy, ThePerfectLearnersKlBIsItsPriorMismatchNotTheSmoothingFloor) {
  // Gaussian prior: the exact score's PF-ODE output is KL(p_T ‖ N(0, s(T)²))
  // = 0.0024953 from p_ε, and p_ε only 2.5e-11 from p_0. With the exact prior
  // the value is the smoothing floor, within its error estimate.
  Config config = floors_only_config();
  config.set("kl.ode.every", "1");
  const SeedResult g = run_training_study(training_study_settings(config), 0);
  ASSERT_FALSE(g.failure) << *g.failure;
  EXPECT_NEAR(g.floors.prior_mismatch_b, 0.0024953, 5e-7);
  EXPECT_NEAR(g.floors.smoothing_b, 2.5e-11, 1e-11);
  EXPECT_NEAR(g.floors.population_b, g.floors.prior_mismatch_b + g.floors.smoothing_b, g.floors.population_b_error);
  EXPECT_GT(g.floors.prior_mismatch_emp_b, 0.0);
  config.set("kl.ode.prior", "exact");
  const SeedResult e = run_training_study(training_study_settings(config), 0);
  EXPECT_LE(std::abs(e.floors.population_b - e.floors.smoothing_b), e.floors.population_b_error);
  EXPECT_EQ(e.floors.prior_mismatch_b, g.floors.prior_mismatch_b);
}

TEST(TrainingStudy, TheMemorizerSetsGiveExactKlsOfMemorizedSetsFromTheirOwnStreams) {
  Config config = floors_only_config();
  config.set("kl.memorizer_sets", "3");
  const SeedResult r = run_training_study(training_study_settings(config), 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  ASSERT_EQ(r.floors.memorizer_a_sets.size(), 3u);
  ASSERT_EQ(r.floors.memorizer_a_small_sets.size(), 3u);
  // The perfect learner's exact floor is what its score integration gives.
  EXPECT_NEAR(r.floors.smoothing_a, r.floors.population_a, 1e-7);
  // Three different training sets, none of them the seed's own.
  EXPECT_NE(r.floors.memorizer_a_sets[0], r.floors.memorizer_a_sets[1]);
  for (double v : r.floors.memorizer_a_sets) EXPECT_NE(v, r.floors.empirical_a);
  // Each near the seed's own memorizer (same law of training sets), far above the perfect learner at t0_small.
  for (double v : r.floors.memorizer_a_small_sets) EXPECT_GT(v, 100.0 * r.floors.smoothing_a_small);
}

TEST(TrainingStudy, TheMemorizersSamplesAreCloserToTheTrainingSetThanFreshSamples) {
  // n = 20: training points far enough apart (~0.3) for the sampler's last
  // step (a denoising step from s ≈ 0.07) to land on one.
  Config config = short_config();
  config.set("data.n", "20");
  config.set("train.epochs", "0");
  config.set("plot.epochs", "0");
  config.set("memorization.memorizer", "true");
  config.set("sampler.steps", "200");
  const SeedResult r = run_training_study(training_study_settings(config), 0);
  ASSERT_FALSE(r.failure) << *r.failure;
  const auto& m = r.memorization_memorizer;
  const auto& b = r.memorization_baseline;
  EXPECT_LT(m.nn_distance, 0.5 * m.nn_distance_fresh);
  EXPECT_LT(m.nn_distance, 0.5 * b.nn_distance);
  const double se = std::hypot(m.memorized_fraction_se, b.memorized_fraction_se);
  EXPECT_GT(m.memorized_fraction, b.memorized_fraction + 2.0 * se);
}

TEST(TrainingStudy, IsBitIdenticalForOneAndTwoThreads) {
  const TrainingStudySettings s = training_study_settings(short_config());
  set_num_threads(1);
  const SeedResult one = run_training_study(s, 1);
  set_num_threads(2);
  const SeedResult two = run_training_study(s, 1);
  set_num_threads(0);
  ASSERT_EQ(one.rows.size(), two.rows.size());
  for (std::size_t i = 0; i < one.rows.size(); ++i) {
    expect_same_row(one.rows[i], two.rows[i], "");
  }
  EXPECT_TRUE(same_bits(one.floors.empirical_a_small, two.floors.empirical_a_small));
  EXPECT_TRUE(same_bits(one.floors.population_emp_a_small, two.floors.population_emp_a_small));
  EXPECT_TRUE(same_bits(one.memorization_baseline.nn_distance, two.memorization_baseline.nn_distance));
}

TEST(TrainingStudy, ADivergingRunKeepsItsRowsAndNamesTheEpoch) {
  Config config = short_config();
  config.set("train.lr", "1e6");  // SGD at lr 10⁶ overflows within an epoch or two
  config.set("memorization.every", "0");
  const SeedResult r = run_training_study(training_study_settings(config), 0);
  ASSERT_TRUE(r.failure);
  EXPECT_GE(r.failed_epoch, 1);
  EXPECT_THAT(*r.failure, HasSubstr("epoch"));
  ASSERT_FALSE(r.rows.empty());
  EXPECT_TRUE(std::isfinite(r.rows[0].kl_a));  // epoch 0 was evaluated before the failure
  EXPECT_LT(static_cast<Index>(r.rows.size()), 21);
}

// --- the optimizer switch (Li2023 Fig. 10) ----------------------------------

Config switch_config(Index switch_epoch) {
  Config c = study_config();
  for (const char* kv : {"data.n=64", "train.epochs=6", "kl.every=3", "kl.ode.every=0", "memorization.every=0",
                         "train.batch=16", "checkpoint.every=0", "plot.epochs=0"})
    c.set_from_assignment(kv);
  c.set("train.switch.epoch", std::to_string(switch_epoch));
  return c;
}

TEST(OptimizerSwitch, FollowsSgdUntilTheSwitchThenAdam) {
  const auto plain = run_training_study(training_study_settings(switch_config(0)), 0);
  const auto switched = run_training_study(training_study_settings(switch_config(3)), 0);
  ASSERT_EQ(plain.rows.size(), switched.rows.size());
  for (std::size_t i = 1; i < plain.rows.size(); ++i) {
    const StudyRow &p = plain.rows[i], &w = switched.rows[i];
    if (p.epoch <= 3) {
      EXPECT_EQ(p.train_loss, w.train_loss) << "epoch " << p.epoch;
      if (std::isfinite(p.kl_a)) {
        EXPECT_EQ(p.kl_a, w.kl_a) << "epoch " << p.epoch;
      }
    } else {
      EXPECT_NE(p.train_loss, w.train_loss) << "epoch " << p.epoch << ": Adam at 1e-4 is not SGD at 0.5";
    }
  }
}

// --- stop and resume from the checkpoint ------------------------------------

class StudyResume : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_interrupt();
  }
  void TearDown() override {
    clear_interrupt();
  }
  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

// Stops seed 1 after `stop` epochs (as Ctrl-C would, at the epoch boundary),
// then resumes from its checkpoint: every number equals the run without a stop.
void expect_resumes_bit_identically(const Config& config, const fs::path& file, Index stop) {
  const TrainingStudySettings s = training_study_settings(config);
  const SeedResult whole = run_training_study(s, 1);
  const StudyCheckpointing checkpointing{file, "early-stopping", &config, 2};
  Index epochs_done = 0;
  EXPECT_THROW(run_training_study(
                   s, 1, [&](Index units) { if (units == 1 && ++epochs_done == stop) request_interrupt(); },
                   checkpointing),
               Interrupted);
  clear_interrupt();
  ASSERT_TRUE(fs::exists(file)) << "a stop saves even with checkpoint.every = 0";
  EXPECT_EQ(load_checkpoint(file).trainer.epoch, stop);
  const SeedResult resumed = run_training_study(s, 1, {}, checkpointing);
  EXPECT_EQ(resumed.resumed_from_epoch, stop);
  ASSERT_EQ(resumed.rows.size(), whole.rows.size());
  for (std::size_t i = 0; i < whole.rows.size(); ++i)
    expect_same_row(whole.rows[i], resumed.rows[i], ", stopped at " + std::to_string(stop));
  EXPECT_TRUE(same_bits(whole.floors.empirical_a, resumed.floors.empirical_a));
}

TEST_F(StudyResume, ResumesBitIdenticallyFromEitherSideOfTheOptimizerSwitch) {
  const Config config = switch_config(3);
  for (const Index stop : {2, 5}) {
    SCOPED_TRACE(stop);
    expect_resumes_bit_identically(config, dir_ / ("seed-" + std::to_string(stop) + ".bin"), stop);
  }
}

TEST_F(StudyResume, ACheckpointOfOtherSettingsIsRefusedNamingTheKey) {
  const Config config = switch_config(0);
  const fs::path file = dir_ / "seed-1.bin";
  expect_resumes_bit_identically(config, file, 4);
  Config other = config;
  other.set("train.lr", "0.25");
  try {
    run_training_study(training_study_settings(other), 1, {}, StudyCheckpointing{file, "early-stopping", &other, 2});
    ADD_FAILURE() << "a checkpoint of other settings was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), AllOf(HasSubstr("train.lr"), HasSubstr(file.string())));
  }
}

TEST_F(StudyResume, ACheckpointPastTheLastEpochCannotBeContinued) {
  const Config config = switch_config(0);
  const fs::path file = dir_ / "seed-1.bin";
  expect_resumes_bit_identically(config, file, 5);
  StudyCheckpoint c = load_checkpoint(file);
  TrainingStudySettings shorter = training_study_settings(config);
  shorter.train.epochs = 3;
  EXPECT_THROW(check_resumable(c, shorter, file), DataError);
}

// --- the stored result ------------------------------------------------------

TEST(SeedResultJson, RoundTripsEveryDoubleNaNAndInfinity) {
  const TrainingStudySettings s = training_study_settings(short_config());
  SeedResult r = run_training_study(s, 0);
  r.failure = "diverged at epoch 21";
  r.failed_epoch = 21;
  r.floors.empirical_b = std::numeric_limits<double>::infinity();
  r.rows[3].kl_a = -0.0;
  r.rows[4].kl_a = 5e-324;
  const SeedResult back = seed_result_from_json(seed_result_to_json(r));
  EXPECT_EQ(back.seed_index, r.seed_index);
  EXPECT_EQ(back.failure, r.failure);
  EXPECT_EQ(back.failed_epoch, 21);
  ASSERT_EQ(back.rows.size(), r.rows.size());
  for (std::size_t i = 0; i < r.rows.size(); ++i) expect_same_row(r.rows[i], back.rows[i], "");
  EXPECT_TRUE(same_bits(back.floors.empirical_b, r.floors.empirical_b));
  EXPECT_TRUE(same_bits(back.floors.population_emp_a_small, r.floors.population_emp_a_small));
  EXPECT_TRUE(same_bits(back.memorization_baseline.closer_to_train, r.memorization_baseline.closer_to_train));
  ASSERT_EQ(back.snapshots.size(), r.snapshots.size());
  EXPECT_EQ(back.snapshots[1].log_q_a, r.snapshots[1].log_q_a);
  EXPECT_EQ(back.diagnostics.max_quadrature_error_a, r.diagnostics.max_quadrature_error_a);
}

}  // namespace
}  // namespace diffgen
