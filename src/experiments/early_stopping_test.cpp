// early-stopping's summary on seeds with known numbers: per measure the
// minimum, its epoch and the final value over seeds, the seed-mean curve's
// minimum, the floors, the failures; the memorization reading's scale from
// the perfect learner to the memorizer; the definitions the report states.
// Also covers early_stopping_summary.cpp, memorization_reading.cpp and
// early_stopping_plots.cpp (an in-process run writes every plot).
#include "experiments/early_stopping.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/io.hpp"
#include "data/points_file.hpp"
#include "experiments/run.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TrainingStudySettings settings(std::vector<std::string> assignments = {}) {
  Schema schema;
  add_training_study_keys(schema);
  Config config(schema);
  for (const char* a : {"train.epochs=4", "kl.every=1", "kl.ode.every=0", "memorization.every=0", "plot.epochs=0"})
    config.set_from_assignment(a);
  for (const auto& a : assignments) config.set_from_assignment(a);
  return training_study_settings(config);
}

// Seed k's KL (a) along epochs 0..4; NaN where not evaluated.
SeedResult seed_with(Index k, std::vector<double> kl_a) {
  SeedResult r;
  r.seed_index = k;
  for (std::size_t e = 0; e < kl_a.size(); ++e) {
    StudyRow row;
    row.epoch = static_cast<Index>(e);
    row.train_loss = e == 0 ? kNaN : 1.0 / static_cast<double>(e);
    row.kl_a = kl_a[e];
    r.rows.push_back(row);
  }
  r.floors.population_a = 0.001 * static_cast<double>(k + 1);
  r.floors.empirical_a = 0.01;
  return r;
}

TEST(EarlyStoppingSummary, MinimaEpochsAndFinalValuesOverSeeds) {
  // Seed 0 is lowest at epoch 2; seed 1 at epoch 3, just below its epoch 1.
  const std::vector<SeedResult> seeds = {seed_with(0, {1.0, 0.5, 0.2, 0.3, 0.4}),
                                         seed_with(1, {1.0, 0.1, 0.6, 0.1 - 1e-3, kNaN})};
  std::vector<std::string> warnings;
  const Json j = early_stopping_summary(seeds, settings(), warnings);
  const Json& kl = j.at("kl_a");
  EXPECT_DOUBLE_EQ(kl.at("min").at("mean").get<double>(), (0.2 + 0.099) / 2);
  EXPECT_DOUBLE_EQ(kl.at("epoch_of_min").at("mean").get<double>(), 2.5);
  // The final value is the last finite one: 0.4 and seed 1's 0.099 at epoch 3.
  EXPECT_DOUBLE_EQ(kl.at("final").at("mean").get<double>(), (0.4 + 0.099) / 2);
  // The seed-mean curve from epoch 1: 0.3, 0.4, 0.1995, then 0.4 (seed 0 alone) — lowest at epoch 3.
  EXPECT_EQ(kl.at("mean_curve").at("epoch_of_min").get<Index>(), 3);
  EXPECT_DOUBLE_EQ(kl.at("mean_curve").at("min").get<double>(), (0.3 + 0.099) / 2);
  EXPECT_EQ(kl.at("mean_curve").at("final_epoch").get<Index>(), 4);
  ASSERT_EQ(kl.at("per_seed").size(), 2u);
  EXPECT_EQ(kl.at("per_seed")[1].at("epoch_of_min").get<Index>(), 3);
  EXPECT_DOUBLE_EQ(j.at("floors").at("population_a").at("mean").get<double>(), 0.0015);
  EXPECT_TRUE(j.at("failures").empty());
  EXPECT_FALSE(j.contains("kl_b"));  // kl.ode.every = 0
}

TEST(EarlyStoppingSummary, AFailedSeedIsListedWithItsEpoch) {
  std::vector<SeedResult> seeds = {seed_with(0, {1.0, 0.5, 0.2}), seed_with(1, {1.0, 0.7})};
  seeds[1].failure = "training diverged at epoch 2";
  seeds[1].failed_epoch = 2;
  std::vector<std::string> warnings;
  const Json j = early_stopping_summary(seeds, settings(), warnings);
  ASSERT_EQ(j.at("failures").size(), 1u);
  EXPECT_EQ(j.at("failures")[0].at("seed").get<Index>(), 1);
  EXPECT_EQ(j.at("failures")[0].at("epoch").get<Index>(), 2);
  // Its rows up to the failure still count.
  EXPECT_EQ(j.at("kl_a").at("final").at("count").get<Index>(), 2);
}

TEST(EarlyStoppingSummary, AnUnresolvedQuadratureIsAWarningNamingTheKey) {
  std::vector<SeedResult> seeds = {seed_with(0, {1.0, 0.5})};
  seeds[0].diagnostics.max_quadrature_error_a = 0.01;
  std::vector<std::string> warnings;
  early_stopping_summary(seeds, settings(), warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("kl.points"));
}

// The KL reading places the learned density on the scale from the perfect
// learner (index 0) to the memorizer (1): D = KL to the empirical density
// minus KL to the target; the learner's D is pop_emp - pop, the memorizer's -emp.
TEST(MemorizationReading, PlacesTheDensityBetweenThePerfectLearnerAndTheMemorizer) {
  const TrainingStudySettings s = settings({"kl.t0_small=0"});
  for (const auto& [to_emp, index, verdict] :
       std::vector<std::tuple<double, double, std::string>>{{0.033, 0.25, "generalization"},
                                                            {0.009, 0.75, "memorization"}}) {
    SeedResult seed = seed_with(0, {1.0, 0.005});
    seed.rows[1].kl_emp_a = to_emp;
    seed.floors.population_a = 0.001;      // pop
    seed.floors.population_emp_a = 0.041;  // pop_emp: the learner's D = 0.04
    seed.floors.empirical_a = 0.008;       // the memorizer's D = -0.008
    const MemorizationReading r = memorization_reading({seed}, s);
    // D = to_emp - 0.005; index = (0.04 - D) / 0.048.
    EXPECT_NEAR(r.json.at("kl").at("memorization_index").get<double>(), index, 1e-12) << to_emp;
    EXPECT_EQ(r.json.at("kl").at("points_to").get<std::string>(), verdict);
    ASSERT_EQ(r.lines.size(), 1u);
  }
  // A density farther from the target than the memorizer is no reading.
  SeedResult far = seed_with(0, {1.0, 0.5});
  far.rows[1].kl_emp_a = 0.6;
  far.floors.empirical_a = 0.008;
  EXPECT_EQ(memorization_reading({far}, s).json.at("kl").at("points_to").get<std::string>(), "inconclusive");
}

TEST(StudyDefinitions, StateTheTimesAndMethods) {
  const StudyDefinitions d = study_definitions(settings());
  EXPECT_THAT(d.kl_a, HasSubstr("t0 = 0.065"));
  EXPECT_THAT(d.kl_small, HasSubstr("t0_small = 0.01"));
  EXPECT_THAT(d.emp(0.01), HasSubstr("t0 = 0.01"));
}

TEST(EarlyStoppingRun, WritesEveryPlotOfTheStudy) {
  const TempDir temp;
  const fs::path& dir = temp.path();
  Config config(find_experiment("early-stopping")->schema());
  for (const char* a : {"data.n=100", "train.epochs=4", "kl.every=2", "kl.ode.every=4", "kl.ode.points=401",
                        "memorization.every=4", "memorization.samples=100", "sampler.steps=50", "plot.epochs=[0, 4]"})
    config.set_from_assignment(a);
  RunOptions options;
  options.out_dir = dir;
  options.seeds = 2;
  const RunOutcome outcome = run_experiment(*find_experiment("early-stopping"), config, options);
  EXPECT_FALSE(outcome.writer.failure);
  EXPECT_GE(outcome.writer.plots.size(), 5u);
  for (const auto& plot : outcome.writer.plots) EXPECT_GT(fs::file_size(dir / plot), 1000u) << plot;
  const std::string report = read_text_file(dir / "report.md");
  EXPECT_THAT(report, ::testing::Not(HasSubstr("{{")));
}

TEST(EarlyStoppingRun, SavesEachTrainingSetAndARerunOnItReproducesTheFloors) {
  const TempDir temp;
  const auto run = [&](const fs::path& dir, const std::vector<std::string>& extra, Index seeds) {
    Config config(find_experiment("early-stopping")->schema());
    for (const char* a : {"data.n=100", "train.epochs=2", "kl.every=2", "kl.ode.every=2", "kl.ode.points=201",
                          "memorization.every=0", "plot.epochs=[0]", "kl.memorizer_sets=2"})
      config.set_from_assignment(a);
    for (const auto& a : extra) config.set_from_assignment(a);
    RunOptions options;
    options.out_dir = dir;
    options.seeds = seeds;
    run_experiment(*find_experiment("early-stopping"), config, options);
    return Json::parse(read_text_file(dir / "summary.json"));
  };
  const Json first = run(temp.path() / "a", {}, 2);
  EXPECT_GT(first["kl_b"]["largest_error_estimate"].get<double>(), 0.0);
  // Each seed's training set, as the run drew it.
  ASSERT_TRUE(fs::exists(temp.path() / "a" / "train-seed-1.npy"));
  const fs::path saved = temp.path() / "a" / "train-seed-0.npy";
  Schema schema;
  add_training_study_keys(schema);
  Config c(schema);
  c.set_from_assignment("data.n=100");
  const Matrix read = load_points(saved);
  ASSERT_EQ(read.rows(), 100);
  EXPECT_EQ((read - training_set(training_study_settings(c), 0)).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_NE((read - training_set(training_study_settings(c), 1)).cwiseAbs().maxCoeff(), 0.0);
  // Seed 0 again on that file, against the target: the same training set,
  // so the same memorizer floors, bit for bit.
  const Json one = run(temp.path() / "c", {}, 1);
  const Json again = run(temp.path() / "b", {"data.file=" + saved.string(), "data.from_target=true"}, 1);
  ASSERT_TRUE(again.contains("floors")) << again.dump();
  for (const char* f : {"empirical_a", "empirical_a_small", "empirical_b", "prior_mismatch_emp_b"})
    EXPECT_EQ(again["floors"][f]["mean"].get<double>(), one["floors"][f]["mean"].get<double>()) << f;
  EXPECT_EQ(again["n"].get<Index>(), 100);
  // Training used the same points and streams: the whole run is the same.
  EXPECT_EQ(again["kl_a"]["final"]["mean"].get<double>(), one["kl_a"]["final"]["mean"].get<double>());
  EXPECT_EQ(again["data_file"].get<std::string>(), saved.string());
  EXPECT_FALSE(fs::exists(temp.path() / "b" / "train-seed-0.npy"));  // the file is the user's already
}

TEST(EarlyStoppingSettings, FromTargetNeedsA1DDataFile) {
  Schema schema;
  add_training_study_keys(schema);
  Config c(schema);
  c.set_from_assignment("data.from_target=true");
  EXPECT_THROW(training_study_settings(c), ConfigError);
}

}  // namespace
}  // namespace diffgen
