// The study grid behind mode-shift, optimizers and capacity: each variant is
// the training study with its settings (a mode-shift variant is bit-identical
// to early-stopping at the same settings; an optimizers schedule follows its
// optimizers), the plans' task keys, the divergence of the fixed output
// constant at H >= 512 that width-aware scaling removes (capacity), and the
// readings of curves over seeds (study_readings.hpp) on known rows. Also
// covers study_readings.cpp, mode_shift.cpp, optimizers.cpp, capacity.cpp.
#include "experiments/study_grid.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>

#include "core/io.hpp"
#include "experiments/run.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// --- readings of curves -----------------------------------------------------

std::vector<StudyRow> rows_of(const std::vector<double>& kl_a) {
  std::vector<StudyRow> rows;
  for (std::size_t e = 0; e < kl_a.size(); ++e) {
    StudyRow r;
    r.epoch = static_cast<Index>(e);
    r.kl_a = kl_a[e];
    rows.push_back(r);
  }
  return rows;
}

SeedResult seed_of(const std::vector<double>& kl_a) {
  SeedResult s;
  s.rows = rows_of(kl_a);
  return s;
}

TEST(StudyReadings, MinimumLastValueAndFirstCrossing) {
  const auto rows = rows_of({kNaN, 0.5, 0.2, 0.2, 0.3, kNaN});
  const CurveMinimum m = curve_minimum(rows, &StudyRow::kl_a);
  EXPECT_EQ(m.value, 0.2);
  EXPECT_EQ(m.epoch, 2);  // a tie goes to the earliest epoch
  EXPECT_EQ(curve_last(rows, &StudyRow::kl_a), 0.3);
  EXPECT_EQ(first_epoch_at_or_below(rows, &StudyRow::kl_a, 0.25), 2);
  EXPECT_EQ(first_epoch_at_or_below(rows, &StudyRow::kl_a, 0.1), -1);
  const auto never = rows_of({kNaN, kNaN});
  EXPECT_TRUE(std::isnan(curve_minimum(never, &StudyRow::kl_a).value));
  EXPECT_EQ(curve_minimum(never, &StudyRow::kl_a).epoch, -1);
  EXPECT_TRUE(std::isnan(curve_last(never, &StudyRow::kl_a)));
}

TEST(StudyReadings, MeanCurveAndBandOverSeedsThatReachedTheEpoch) {
  // Seed 1 stopped after epoch 1; epoch 0 was not evaluated.
  const std::vector<SeedResult> seeds = {seed_of({kNaN, 1.0, 2.0, 4.0}), seed_of({kNaN, 3.0}),
                                         seed_of({kNaN, 2.0, 4.0, 6.0})};
  const auto curve = mean_curve(seeds, &StudyRow::kl_a);
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_EQ(curve[0].epoch, 1);
  EXPECT_EQ(curve[0].spread.count, 3);
  EXPECT_DOUBLE_EQ(curve[0].spread.mean, 2.0);
  EXPECT_EQ(curve[2].spread.count, 2);
  EXPECT_DOUBLE_EQ(curve[2].spread.mean, 5.0);
  const CurveBand band = curve_band(seeds, &StudyRow::kl_a);
  EXPECT_EQ(band.epoch, (std::vector<double>{1, 2, 3}));
  // Three values 1, 3, 2: sd 1, half-width t(0.975, 2) / √3.
  EXPECT_NEAR(band.hi[0] - band.mean[0], 4.302652730 / std::sqrt(3.0), 1e-8);
  EXPECT_DOUBLE_EQ(band.mean[0] - band.lo[0], band.hi[0] - band.mean[0]);
  EXPECT_DOUBLE_EQ(final_spread(seeds, &StudyRow::kl_a).mean, (4.0 + 3.0 + 6.0) / 3);
}

TEST(StudyReadings, FinalMinusTheBaselineOnRowsWhereBothAreMeasured) {
  SeedResult s = seed_of({0.5, 0.4, 0.3});
  s.rows[1].memorized_fraction = 0.5;
  s.rows[1].memorized_baseline = 0.3;
  s.rows[2].memorized_fraction = 0.6;  // no baseline on this row
  const auto d = final_minus({s}, &StudyRow::memorized_fraction, &StudyRow::memorized_baseline);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_DOUBLE_EQ(d[0], 0.2);
}

TEST(StudySeedTable, KeysByEpochWithEveryColumnAfterEpochAndSteps) {
  SeedResult s = seed_of({0.5, 0.2, 0.3});
  const SeedTable t = study_seed_table(s);
  EXPECT_EQ(t.keys, std::vector<std::string>{"epoch"});
  ASSERT_EQ(t.metrics.size(), study_columns().names().size() - 2);
  EXPECT_EQ(t.metrics[1], "kl_a");
  EXPECT_EQ(t.key_values[2], std::vector<std::string>{"2"});
  EXPECT_EQ(t.values[1][1], 0.2);
  EXPECT_EQ(t.scalars.at("best_kl_a"), 0.2);
  EXPECT_EQ(t.scalars.at("best_epoch_a"), 1.0);
  EXPECT_EQ(t.scalars.at("final_kl_a"), 0.3);
  EXPECT_TRUE(std::isnan(t.scalars.at("best_kl_b")));
}

// --- the experiments' plans -------------------------------------------------

Config config_of(const std::string& experiment, const std::vector<std::string>& assignments) {
  Config c(find_experiment(experiment)->schema());
  for (const auto& a : assignments) c.set_from_assignment(a);
  return c;
}

const std::vector<std::string> kTiny = {"data.n=64", "train.epochs=4", "train.batch=16", "kl.every=2",
                                        "kl.ode.every=0", "kl.points=1201", "plot.epochs=[0]"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// Runs task i of a plan on its own (no needs, no checkpoint).
SeedResult run_one(const Study& study, Index i) {
  std::vector<TaskValue> values(study.tasks().size());
  const TaskContext context(&study.tasks(), values.data(), i, {}, {});
  return value_as<SeedResult>(study.run_task(i, context));
}

std::vector<std::string> task_keys(const Study& study) {
  std::vector<std::string> keys;
  for (const auto& t : study.tasks()) keys.push_back(t.key);
  return keys;
}

TEST(ModeShift, EachDistanceIsEarlyStoppingWithModesAtHalfTheDistance) {
  const auto shift = find_experiment("mode-shift")->plan(
      config_of("mode-shift", with(kTiny, {"distances=[2.0, 5.0]", "memorization.every=0"})), 2);
  EXPECT_EQ(task_keys(*shift), (std::vector<std::string>{"distance-2-seed-0", "distance-2-seed-1", "distance-5-seed-0",
                                                         "distance-5-seed-1"}));
  const auto early = find_experiment("early-stopping")->plan(
      config_of("early-stopping", with(kTiny, {"target.mu=2.5", "memorization.every=0"})), 2);
  const SeedResult a = run_one(*shift, 3), b = run_one(*early, 1);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.rows[i].kl_a), std::bit_cast<std::uint64_t>(b.rows[i].kl_a)) << i;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.rows[i].train_loss), std::bit_cast<std::uint64_t>(b.rows[i].train_loss))
        << i;
  }
  EXPECT_EQ(a.floors.empirical_a, b.floors.empirical_a);
}

TEST(Optimizers, TheSwitchScheduleFollowsSgdThenAdam) {
  const auto plan = find_experiment("optimizers")->plan(
      config_of("optimizers", with(kTiny, {"switch_after=2", "memorization.every=0"})), 1);
  EXPECT_EQ(task_keys(*plan), (std::vector<std::string>{"sgd-seed-0", "adam-seed-0", "sgd-then-adam-seed-0"}));
  const SeedResult sgd = run_one(*plan, 0), adam = run_one(*plan, 1), both = run_one(*plan, 2);
  for (const Index e : {1, 2}) EXPECT_EQ(both.rows[e].train_loss, sgd.rows[e].train_loss) << e;
  for (const Index e : {3, 4}) EXPECT_NE(both.rows[e].train_loss, sgd.rows[e].train_loss) << e;
  EXPECT_NE(adam.rows[1].train_loss, sgd.rows[1].train_loss);
}

// Li2023's network at SGD lr 0.5: with the output constant c = 1/16 fixed,
// H = 512 overflows in the first epoch (as H = 1024 and 2048 do; 256 trains
// for the whole 2000 epochs); c·√H held constant (width) trains.
TEST(Capacity, TheFixedOutputConstantDivergesAtWidth512AndWidthScalingTrains) {
  const TempDir temp;
  const fs::path& dir = temp.path();
  const Config config = config_of(
      "capacity", {"widths=[256, 512]", "scalings=[\"fixed\", \"width\"]", "train.epochs=2", "kl.every=1",
                   "kl.ode.every=0", "plot.epochs=[0]"});
  EXPECT_EQ(task_keys(*find_experiment("capacity")->plan(config, 1)),
            (std::vector<std::string>{"fixed-H256-seed-0", "fixed-H512-seed-0", "width-H256-seed-0",
                                      "width-H512-seed-0"}));
  RunOptions options;
  options.out_dir = dir;
  const RunOutcome outcome = run_experiment(*find_experiment("capacity"), config, options);
  EXPECT_FALSE(outcome.writer.failure) << "a diverging width is a result, not a failed run";
  const Json summary = Json::parse(read_text_file(dir / "summary.json"));
  std::map<std::pair<std::string, Index>, Index> diverged;
  for (const auto& w : summary.at("widths"))
    diverged[{w.at("output_scaling").get<std::string>(), w.at("hidden").get<Index>()}] =
        w.at("seeds_diverged").get<Index>();
  EXPECT_EQ(diverged.at({"fixed", 256}), 0);
  EXPECT_EQ(diverged.at({"fixed", 512}), 1);
  EXPECT_EQ(diverged.at({"width", 256}), 0);
  EXPECT_EQ(diverged.at({"width", 512}), 0);
}

}  // namespace
}  // namespace diffgen
