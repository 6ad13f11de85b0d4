// Sweeps on a toy experiment whose numbers are known in closed form: the
// plan's combinations, the sweep file's parser and its refusals, the
// aggregates over seeds, and runs (threads, resume, a stop, failed seeds,
// another sweep in the folder). Also covers sweep_run.cpp and
// sweep_report.cpp; the command-line sweeps of the real experiments (and
// under mpirun) are in tests/sweep_test.cpp.
#include "experiments/sweep.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::atomic<int> g_seed_tasks{0};  // seed tasks computed, over every toy run

// One seed of the toy: y(epoch) = base · (epoch + 1) + seed, z = 0.1 y at even
// epochs (missing at odd ones), total = Σ y. The intermediate task "base"
// (x, negated for mode b) is read by every seed task. With fail = true, seed
// 1 stops early after its first row.
struct ToySeed {
  Index k = 0;
  std::vector<double> y;
  bool failed = false;
};

class ToyStudy final : public Study {
 public:
  ToyStudy(const Config& c, Index seeds)
      : x_(c.get_double("x") * (c.get_string("mode") == "b" ? -1.0 : 1.0)),
        steps_(c.get_int("steps")),
        fail_(c.get_bool("fail")) {
    tasks_.push_back({.key = "base", .keep = false});
    for (Index k = 0; k < seeds; ++k) tasks_.push_back({.key = "seed-" + std::to_string(k), .needs = {0}});
  }
  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index task, const TaskContext& context) const override {
    if (task == 0) return make_value(x_);
    ++g_seed_tasks;
    ToySeed seed{task - 1, {}, false};
    const double base = context.input<double>(0);
    for (Index e = 0; e < steps_; ++e) {
      seed.y.push_back(base * static_cast<double>(e + 1) + static_cast<double>(seed.k));
      if (fail_ && seed.k == 1) {
        seed.failed = true;
        break;
      }
    }
    return make_value(seed);
  }
  Json encode(Index, const TaskValue& value) const override {
    const auto& s = value_as<ToySeed>(value);
    return {{"k", s.k}, {"y", s.y}, {"failed", s.failed}};
  }
  TaskValue decode(Index, const Json& json) const override {
    return make_value(ToySeed{json.at("k").get<Index>(), json.at("y").get<std::vector<double>>(),
                              json.at("failed").get<bool>()});
  }
  void report(const std::vector<TaskValue>&, RunWriter&) const override {}
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override {
    const auto& s = value_as<ToySeed>(values[static_cast<std::size_t>(k + 1)]);
    SeedTable t;
    t.keys = {"epoch"};
    t.metrics = {"y", "z"};
    double total = 0;
    for (std::size_t e = 0; e < s.y.size(); ++e) {
      total += s.y[e];
      t.key_values.push_back({std::to_string(e)});
      t.values.push_back({s.y[e], e % 2 ? kNaN : 0.1 * s.y[e]});
    }
    t.scalars = {{"total", total}, {"undefined", kNaN}};
    if (s.failed) t.failure = "diverged at epoch 0";
    return t;
  }

 private:
  double x_;
  Index steps_;
  bool fail_;
  std::vector<TaskInfo> tasks_;
};

class ToyExperiment final : public Experiment {
 public:
  std::string name() const override { return "toy"; }
  std::string purpose() const override { return "known answers for the sweep"; }
  void validate(const Config& c) const override {
    if (c.get_double("x") > 100) throw ConfigError("x must be <= 100 for the toy");
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    return std::make_unique<ToyStudy>(config, seeds);
  }

 protected:
  Schema keys() const override {
    Schema s;
    s.add_double("x", 1.0, "slope");
    s.add_int("steps", 4, "rows per seed", 1, 100);
    s.add_string("mode", "a", "a label", {"a", "b"});
    s.add_bool("fail", false, "seed 1 stops early");
    return s;
  }
};

SweepPlan toy_plan(const ToyExperiment& toy, Index seeds, bool fail = false) {
  SweepPlan plan{Config(toy.schema())};
  plan.experiment = &toy;
  plan.seeds = seeds;
  if (fail) plan.base.set("fail", "true");
  plan.axes.push_back({"x", {Value(1.0), Value(2.5)}});
  plan.axes.push_back({"mode", {Value(std::string("a")), Value(std::string("b"))}});
  return plan;
}

std::vector<SweepPoint> all_points(const ToyExperiment& toy, const SweepPlan& plan) {
  std::vector<SweepPoint> points;
  for (Index c = plan.num_combinations(); c-- > 0;) {  // any order
    const auto study = toy.plan(plan.config_of(c), plan.seeds);
    std::vector<TaskValue> values(study->tasks().size());
    for (Index i = 0; i < static_cast<Index>(values.size()); ++i) {
      const TaskContext context(&study->tasks(), values.data(), i, {}, {});
      values[static_cast<std::size_t>(i)] = study->run_task(i, context);
    }
    for (Index k = plan.seeds; k-- > 0;) points.push_back({c, k, study->seed_table(values, k)});
  }
  return points;
}

TEST(SweepPlan, CombinationsRunFirstAxisSlowest) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 3);
  EXPECT_EQ(plan.num_combinations(), 4);
  EXPECT_EQ(plan.num_points(), 12);
  const auto c1 = plan.combination(1);
  EXPECT_EQ(std::get<double>(c1[0]), 1.0);
  EXPECT_EQ(std::get<std::string>(c1[1]), "b");
  const auto c2 = plan.combination(2);
  EXPECT_EQ(std::get<double>(c2[0]), 2.5);
  EXPECT_EQ(std::get<std::string>(c2[1]), "a");
  EXPECT_EQ(plan.label(3), "x=2.5, mode=b");
  const Config c = plan.config_of(3);
  EXPECT_EQ(c.get_double("x"), 2.5);
  EXPECT_EQ(c.get_string("mode"), "b");
}

TEST(SweepPlan, ParsesAFileAndItsCanonicalTextParsesBackToTheSamePlan) {
  const std::string text = R"(
experiment = "early-stopping"
seeds = 2
[set]
"train.epochs" = 20
"kl.every" = 5
"plot.epochs" = [0, 20]
[grid]
"target.mu" = [2.0, 3]
"train.optimizer" = ["sgd", "adam"]
)";
  const SweepPlan plan = parse_sweep_string(text, "s.toml");
  EXPECT_EQ(plan.experiment->name(), "early-stopping");
  EXPECT_EQ(plan.seeds, 2);
  ASSERT_EQ(plan.axes.size(), 2u);
  EXPECT_EQ(plan.axes[0].key, "target.mu");  // the file's order, not alphabetical
  EXPECT_EQ(plan.axes[1].key, "train.optimizer");
  EXPECT_EQ(plan.base.get_int("train.epochs"), 20);
  EXPECT_EQ(plan.base.get_int("kl.every"), 5);
  EXPECT_EQ(plan.base.get_int_list("plot.epochs"), (IntList{0, 20}));
  EXPECT_EQ(plan.config_of(3).get_double("target.mu"), 3.0);
  EXPECT_EQ(plan.config_of(3).get_string("train.optimizer"), "adam");
  const SweepPlan again = parse_sweep_string(plan.canonical_text(), "canonical");
  EXPECT_EQ(again.canonical_text(), plan.canonical_text());
  EXPECT_EQ(again.num_points(), 8);
}

TEST(SweepPlan, AListKeyIsSweptOverLists) {
  const SweepPlan plan = parse_sweep_string(
      "experiment = \"capacity\"\n[grid]\nscalings = [[\"fixed\"], [\"fixed\", \"width\"]]\n", "s.toml");
  ASSERT_EQ(plan.num_combinations(), 2);
  EXPECT_EQ(plan.config_of(1).get_string_list("scalings"), (StringList{"fixed", "width"}));
}

void expect_refused(const std::string& text, const std::vector<std::string>& fragments) {
  try {
    parse_sweep_string(text, "bad.toml");
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const ConfigError& e) {
    for (const auto& f : fragments) EXPECT_THAT(std::string(e.what()), HasSubstr(f)) << "for:\n" << text;
  }
}

TEST(SweepPlan, RefusesBadFilesNamingTheKeyAndPlace) {
  const std::string head = "experiment = \"early-stopping\"\n";
  expect_refused("seeds = 2\n", {"missing", "experiment"});
  expect_refused("experiment = \"early-stoping\"\n", {"unknown experiment", "early-stopping"});
  expect_refused(head + "[grid]\n\"train.lrr\" = [0.1]\n", {"bad.toml:3", "unknown key 'train.lrr'", "train.lr"});
  expect_refused(head + "[grid]\n\"train.lr\" = [0.1, -1]\n", {"bad.toml:3", "train.lr"});
  expect_refused(head + "[grid]\n\"train.lr\" = []\n", {"non-empty list"});
  expect_refused(head + "[grid]\n\"train.lr\" = 0.1\n", {"non-empty list"});
  expect_refused(head + "[grid]\n\"train.lr\" = [0.1, 0.1]\n", {"twice"});
  expect_refused(head + "[set]\n\"train.lr\" = 0.2\n[grid]\n\"train.lr\" = [0.1]\n", {"both"});
  expect_refused(head + "[sett]\n\"train.lr\" = 0.2\n", {"unknown entry 'sett'"});
  expect_refused(head + "seeds = 0\n", {"seeds"});
  expect_refused(head + "[set]\n\"train.epochs\" = [1, 2]\n", {"train.epochs"});
  expect_refused(head + "[grid]\n\"kl.t0\" = [0.065, 0.0000001]\n", {"grid point kl.t0=1e-07", "kl.t0"});
  expect_refused(head + "[grid]\nlr = [0.1]\n", {"renamed to 'train.lr'"});
  expect_refused(head + "[set\n", {"bad.toml:2"});
}

TEST(SweepAggregate, MeanAndStudentIntervalOverSeeds) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 3);
  const SweepAggregate agg = aggregate_sweep(plan, all_points(toy, plan));
  EXPECT_EQ(agg.keys, std::vector<std::string>{"epoch"});
  EXPECT_EQ(agg.metrics, (std::vector<std::string>{"y", "z"}));
  // Combination 2 is x = 2.5, mode a: y(epoch 1) = 5 + k for k = 0, 1, 2:
  // mean 6, sd 1, CI half-width t_{0.975, 2} / √3 = 4.302653 / 1.732051.
  bool seen = false;
  for (const auto& a : agg.curves) {
    if (a.combination == 2 && a.key_values[0] == "1" && a.metric == "y") {
      seen = true;
      EXPECT_EQ(a.spread.count, 3);
      EXPECT_DOUBLE_EQ(a.spread.mean, 6.0);
      EXPECT_DOUBLE_EQ(a.spread.sd, 1.0);
      EXPECT_NEAR(a.spread.ci95, 4.302653 / std::sqrt(3.0), 1e-6);
    }
    if (a.metric == "z" && a.key_values[0] == "1") {
      EXPECT_EQ(a.spread.count, 0);  // missing at odd epochs
    }
  }
  EXPECT_TRUE(seen);
  // total over 4 epochs: x · 10 + 4k, for x = -1 (mode b): mean -10 + 4.
  for (const auto& s : agg.scalar_spreads)
    if (s.combination == 1 && s.scalar == "total") {
      EXPECT_DOUBLE_EQ(s.spread.mean, -6.0);
    }
  EXPECT_EQ(agg.scalars, (std::vector<std::string>{"total", "undefined"}));
}

TEST(SweepAggregate, PointsWithOtherColumnsAreADataError) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2);
  auto points = all_points(toy, plan);
  points[3].table.metrics = {"y", "w"};
  EXPECT_THROW(aggregate_sweep(plan, points), DataError);
}

class SweepRun : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_interrupt();
    g_seed_tasks = 0;
  }
  void TearDown() override {
    set_num_threads(0);
    clear_interrupt();
  }
  SweepSummary run(const SweepPlan& plan, const fs::path& out, int threads) {
    set_num_threads(threads);
    fs::create_directories(out);
    SingleProcess one;
    return run_sweep(plan, SweepOptions{out, {}, {}}, one);
  }
  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

const std::vector<std::string> kTextOutputs = {"points.csv", "aggregate.csv", "scalars.csv",
                                               "summary.json", "report.md",    "sweep.toml"};

TEST_F(SweepRun, SameFilesForOneAndTwoThreadsAndEveryPointOnce) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 3);
  const SweepSummary one = run(plan, dir_ / "one", 1);
  EXPECT_EQ(one.tasks, 12);  // the intermediates are not kept
  EXPECT_EQ(one.computed, 12);
  EXPECT_EQ(one.reused, 0);
  EXPECT_EQ(g_seed_tasks.load(), 12);
  run(plan, dir_ / "two", 2);
  for (const auto& f : kTextOutputs) EXPECT_EQ(read_text_file(dir_ / "one" / f), read_text_file(dir_ / "two" / f)) << f;
  // points.csv: one row per (point, epoch), swept keys first.
  const std::string csv = read_text_file(dir_ / "one" / "points.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "x,mode,seed,epoch,y,z");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 12 * 4);
  // Each combination's seed tasks read their own combination's intermediate.
  EXPECT_THAT(csv, HasSubstr("\n2.5,b,2,1,-3,"));  // -2.5 · 2 + 2
}

TEST_F(SweepRun, ASecondRunReusesFinishedTasksAndGivesTheSameFiles) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2);
  run(plan, dir_ / "full", 2);
  run(plan, dir_ / "part", 2);
  // As after a kill: some tasks never stored, no outputs yet.
  for (const char* f : {"tasks/c0001-seed-0.cbor", "tasks/c0002-seed-1.cbor", "points.csv", "aggregate.csv"})
    ASSERT_TRUE(fs::remove(dir_ / "part" / f)) << f;
  g_seed_tasks = 0;
  const SweepSummary again = run(plan, dir_ / "part", 1);
  EXPECT_EQ(g_seed_tasks.load(), 2);
  EXPECT_EQ(again.reused, 6);
  EXPECT_EQ(again.computed, 2);
  for (const auto& f : kTextOutputs)
    EXPECT_EQ(read_text_file(dir_ / "full" / f), read_text_file(dir_ / "part" / f)) << f;
}

TEST_F(SweepRun, RefusesAFolderHoldingAnotherSweep) {
  ToyExperiment toy;
  run(toy_plan(toy, 2), dir_ / "out", 1);
  try {
    run(toy_plan(toy, 3), dir_ / "out", 1);
    FAIL() << "a different sweep was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("another sweep"));
  }
}

TEST_F(SweepRun, AStopRequestWritesNothingAndThrowsInterrupted) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2);
  request_interrupt();
  EXPECT_THROW(run(plan, dir_ / "out", 1), Interrupted);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "points.csv"));
  clear_interrupt();
  const SweepSummary s = run(plan, dir_ / "out", 1);
  EXPECT_EQ(s.computed + s.reused, 8);
}

TEST_F(SweepRun, FailedSeedsAreKeptAndCounted) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2, /*fail=*/true);
  const SweepSummary s = run(plan, dir_ / "out", 2);
  EXPECT_EQ(s.failed, 4);  // seed 1 of each combination
  const std::string report = read_text_file(dir_ / "out" / "report.md");
  EXPECT_THAT(report, HasSubstr("4 points stopped early"));
  EXPECT_THAT(report, HasSubstr("(1 failed)"));
}

}  // namespace
}  // namespace diffgen
