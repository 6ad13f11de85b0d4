#include "experiments/sweep.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <algorithm>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A sweepable experiment whose numbers are known in closed form:
// y(epoch) = x · (epoch + 1) + seed, z = NaN at odd epochs, and the scalar
// total = Σ y. `fail = true` makes seed 1 stop early after its first row.
class ToyExperiment final : public Experiment {
 public:
  std::string name() const override { return "toy"; }
  std::string purpose() const override { return "known answers for the sweep engine"; }
  Schema schema() const override {
    Schema s;
    s.add_double("x", 1.0, "slope");
    s.add_int("steps", 4, "rows per seed", 1, 100);
    s.add_string("mode", "a", "a label", {"a", "b"});
    s.add_bool("fail", false, "seed 1 stops early");
    return s;
  }
  void validate(const Config& c) const override {
    if (c.get_double("x") > 100) throw ConfigError("x must be <= 100 for the toy");
  }
  void run(const Config&, const RunOptions&) const override {}
  bool sweepable() const override { return true; }
  SeedTable run_seed(const Config& c, Index k) const override {
    ++calls;
    SeedTable t;
    t.keys = {"epoch"};
    t.metrics = {"y", "z"};
    const double x = c.get_double("x") * (c.get_string("mode") == "b" ? -1.0 : 1.0);
    double total = 0;
    for (Index e = 0; e < c.get_int("steps"); ++e) {
      const double y = x * static_cast<double>(e + 1) + static_cast<double>(k);
      total += y;
      t.rows.push_back({static_cast<double>(e), y, e % 2 ? kNaN : 0.1 * y});
      if (c.get_bool("fail") && k == 1) {
        t.failure = "diverged at epoch 0";
        break;
      }
    }
    t.scalars = {{"total", total}, {"undefined", kNaN}};
    return t;
  }
  mutable std::atomic<int> calls{0};
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

class SweepRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("diffgen-sweep-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    clear_interrupt();
  }
  void TearDown() override {
    fs::remove_all(dir_);
    set_num_threads(0);
    clear_interrupt();
  }
  SweepSummary run(const SweepPlan& plan, const fs::path& out, int threads) {
    set_num_threads(threads);
    fs::create_directories(out);
    SingleProcess one;
    SweepOptions options;
    options.out_dir = out;
    options.quiet = true;
    return run_sweep(plan, options, one);
  }
  fs::path dir_;
};

const std::vector<std::string> kTextOutputs = {"points.csv", "aggregate.csv", "scalars.csv", "summary.json",
                                               "report.md", "sweep.toml"};

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
epochs = 20
kl.every = 5
[grid]
"target.mu" = [2.0, 3]
optimizer = ["sgd", "adam"]
)";
  const SweepPlan plan = parse_sweep_string(text, "s.toml");
  EXPECT_EQ(plan.experiment->name(), "early-stopping");
  EXPECT_EQ(plan.seeds, 2);
  ASSERT_EQ(plan.axes.size(), 2u);
  EXPECT_EQ(plan.axes[0].key, "target.mu");  // the file's order, not alphabetical
  EXPECT_EQ(plan.axes[1].key, "optimizer");
  EXPECT_EQ(plan.base.get_int("epochs"), 20);
  EXPECT_EQ(plan.base.get_int("kl.every"), 5);
  EXPECT_EQ(plan.config_of(3).get_double("target.mu"), 3.0);
  EXPECT_EQ(plan.config_of(3).get_string("optimizer"), "adam");
  const SweepPlan again = parse_sweep_string(plan.canonical_text(), "canonical");
  EXPECT_EQ(again.canonical_text(), plan.canonical_text());
  EXPECT_EQ(again.num_points(), 8);
}

void expect_refused(const std::string& text, const std::vector<std::string>& fragments) {
  try {
    parse_sweep_string(text, "bad.toml");
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const ConfigError& e) {
    for (const auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what() << "\nlacks: " << f;
  }
}

TEST(SweepPlan, RefusesBadFilesNamingTheKeyAndPlace) {
  const std::string head = "experiment = \"early-stopping\"\n";
  expect_refused("seeds = 2\n", {"missing", "experiment"});
  expect_refused("experiment = \"early-stoping\"\n", {"unknown experiment", "early-stopping"});
  expect_refused(head + "[grid]\nlrr = [0.1]\n", {"bad.toml:3", "unknown key 'lrr'", "'lr'"});
  expect_refused(head + "[grid]\nlr = [0.1, -1]\n", {"bad.toml:3", "lr"});
  expect_refused(head + "[grid]\nlr = []\n", {"non-empty list"});
  expect_refused(head + "[grid]\nlr = 0.1\n", {"non-empty list"});
  expect_refused(head + "[grid]\nlr = [0.1, 0.1]\n", {"twice"});
  expect_refused(head + "[set]\nlr = 0.2\n[grid]\nlr = [0.1]\n", {"both"});
  expect_refused(head + "[sett]\nlr = 0.2\n", {"unknown entry 'sett'"});
  expect_refused(head + "seeds = 0\n", {"seeds"});
  expect_refused(head + "[set]\nepochs = [1, 2]\n", {"single value"});
  expect_refused(head + "[grid]\n\"kl.t0\" = [0.065, 0.0000001]\n", {"grid point kl.t0=1e-07", "kl.t0"});
  expect_refused(head + "[set\n", {"bad.toml:2"});
}

TEST(SweepPoint, JsonRoundTripsEveryDoubleAndNaN) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2);
  SweepPoint p;
  p.combination = 3;
  p.seed = 1;
  p.table.keys = {"epoch"};
  p.table.metrics = {"a", "b"};
  p.table.rows = {{0.0, 0.1, kNaN}, {1.0, 1.0 / 3.0, 5e-324}, {2.0, -1e300, 0.30000000000000004}};
  p.table.scalars = {{"s", std::nextafter(1.0, 2.0)}, {"missing", kNaN}};
  p.table.failure = "diverged";
  const SweepPoint back = point_from_json(point_to_json(plan, p), "p.json");
  EXPECT_EQ(back.combination, 3);
  EXPECT_EQ(back.seed, 1);
  ASSERT_EQ(back.table.rows.size(), 3u);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 3; ++c) {
      const double a = p.table.rows[r][c], b = back.table.rows[r][c];
      if (std::isnan(a)) {
        EXPECT_TRUE(std::isnan(b));
      } else {
        EXPECT_EQ(a, b);  // bit-exact, so a resumed sweep aggregates the same numbers
      }
    }
  EXPECT_EQ(back.table.scalars.at("s"), std::nextafter(1.0, 2.0));
  EXPECT_TRUE(std::isnan(back.table.scalars.at("missing")));
  EXPECT_EQ(back.table.failure, "diverged");
  EXPECT_THROW(point_from_json("{\"combination\": 1}", "p.json"), DataError);
  EXPECT_THROW(point_from_json("not json", "p.json"), DataError);
}

TEST(SweepAggregate, MeanAndStudentIntervalOverSeeds) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 3);
  std::vector<SweepPoint> points;
  for (Index p = plan.num_points(); p-- > 0;) {  // any order
    SweepPoint sp{p / 3, p % 3, toy.run_seed(plan.config_of(p / 3), p % 3)};
    points.push_back(sp);
  }
  const SweepAggregate agg = aggregate_sweep(plan, points);
  EXPECT_EQ(agg.keys, std::vector<std::string>{"epoch"});
  EXPECT_EQ(agg.metrics, (std::vector<std::string>{"y", "z"}));
  // Combination 2 is x = 2.5, mode a: y(epoch 1) = 5 + k for k = 0, 1, 2:
  // mean 6, sd 1, CI half-width t_{0.975, 2} / √3 = 4.302653 / 1.732051.
  bool seen = false;
  for (const auto& a : agg.curves) {
    if (a.combination == 2 && a.key_values[0] == 1.0 && a.metric == "y") {
      seen = true;
      EXPECT_EQ(a.spread.count, 3);
      EXPECT_DOUBLE_EQ(a.spread.mean, 6.0);
      EXPECT_DOUBLE_EQ(a.spread.sd, 1.0);
      EXPECT_NEAR(a.spread.ci95, 4.302653 / std::sqrt(3.0), 1e-6);
    }
    if (a.metric == "z" && a.key_values[0] == 1.0) EXPECT_EQ(a.spread.count, 0);  // NaN at odd epochs
  }
  EXPECT_TRUE(seen);
  // total over 4 epochs: x · 10 + 4k, for x = -1 (mode b): mean -10 + 4.
  for (const auto& s : agg.scalar_spreads)
    if (s.combination == 1 && s.scalar == "total") EXPECT_DOUBLE_EQ(s.spread.mean, -6.0);
  EXPECT_EQ(agg.scalars, (std::vector<std::string>{"total", "undefined"}));
}

TEST_F(SweepRun, SameFilesForOneAndTwoThreadsAndEveryPointOnce) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 3);
  const SweepSummary one = run(plan, dir_ / "one", 1);
  EXPECT_EQ(one.computed, 12);
  EXPECT_EQ(one.skipped, 0);
  EXPECT_EQ(toy.calls.load(), 12);
  run(plan, dir_ / "two", 2);
  for (const auto& f : kTextOutputs) EXPECT_EQ(read_text_file(dir_ / "one" / f), read_text_file(dir_ / "two" / f)) << f;
  // points.csv: one row per (point, epoch), swept keys first.
  const std::string csv = read_text_file(dir_ / "one" / "points.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "x,mode,seed,epoch,y,z");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 12 * 4);
}

TEST_F(SweepRun, ASecondRunSkipsFinishedPointsAndGivesTheSameFiles) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2);
  run(plan, dir_ / "full", 2);
  run(plan, dir_ / "part", 2);
  // As after a kill: some points never written, no aggregate outputs yet.
  for (const char* f : {"points/point-000002.json", "points/point-000005.json", "points.csv", "aggregate.csv"})
    fs::remove(dir_ / "part" / f);
  toy.calls = 0;
  const SweepSummary again = run(plan, dir_ / "part", 1);
  EXPECT_EQ(toy.calls.load(), 2);
  EXPECT_EQ(again.skipped, 6);
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
    EXPECT_NE(std::string(e.what()).find("another sweep"), std::string::npos) << e.what();
  }
}

TEST_F(SweepRun, AStopRequestWritesFinishedPointsAndThrowsInterrupted) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2);
  request_interrupt();
  EXPECT_THROW(run(plan, dir_ / "out", 1), Interrupted);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "points.csv"));
  clear_interrupt();
  const SweepSummary s = run(plan, dir_ / "out", 1);
  EXPECT_EQ(s.computed + s.skipped, 8);
}

TEST_F(SweepRun, FailedSeedsAreKeptAndCounted) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 2, /*fail=*/true);
  const SweepSummary s = run(plan, dir_ / "out", 2);
  EXPECT_EQ(s.failed, 4);  // seed 1 of each combination
  const std::string report = read_text_file(dir_ / "out" / "report.md");
  EXPECT_NE(report.find("4 points stopped early"), std::string::npos);
  EXPECT_NE(report.find("(1 failed)"), std::string::npos);
}

// Ranks as threads of one process: the collectives meet at a shared slot.
class ThreadRanks {
 public:
  explicit ThreadRanks(int size) : size_(size), inbox_(static_cast<std::size_t>(size)) {}
  class Rank final : public Communicator {
   public:
    Rank(ThreadRanks& all, int rank) : all_(all), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return all_.size_; }
    std::string broadcast(const std::string& text) override {
      all_.exchange(rank_, text);
      return all_.round_[0];
    }
    std::vector<std::string> gather(const std::string& text) override {
      all_.exchange(rank_, text);
      return rank_ == 0 ? all_.round_ : std::vector<std::string>{};
    }

   private:
    ThreadRanks& all_;
    int rank_;
  };

 private:
  // Every rank deposits its text; the last to arrive publishes the round.
  // A second barrier keeps a fast rank from overwriting the round before
  // every rank has read it.
  void exchange(int rank, const std::string& text) {
    std::unique_lock<std::mutex> lock(mutex_);
    const long generation = generation_;
    inbox_[static_cast<std::size_t>(rank)] = text;
    if (++arrived_ == size_) {
      round_ = inbox_;
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    if (++left_ == size_) {
      left_ = 0;
      ++released_;
      cv_.notify_all();
    } else {
      const long released = released_;
      cv_.wait(lock, [&] { return released_ != released; });
    }
  }
  int size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> inbox_, round_;
  int arrived_ = 0, left_ = 0;
  long generation_ = 0, released_ = 0;
};

TEST_F(SweepRun, TwoRanksComputeEachPointOnceAndRankZeroWritesTheSameFiles) {
  ToyExperiment toy;
  const SweepPlan plan = toy_plan(toy, 3);
  run(plan, dir_ / "single", 1);
  toy.calls = 0;
  set_num_threads(1);
  fs::create_directories(dir_ / "ranks");
  ThreadRanks ranks(2);
  std::vector<SweepSummary> summaries(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      ThreadRanks::Rank comm(ranks, r);
      SweepOptions options;
      options.out_dir = dir_ / "ranks";
      options.quiet = true;
      summaries[static_cast<std::size_t>(r)] = run_sweep(plan, options, comm);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(toy.calls.load(), 12);
  EXPECT_EQ(summaries[0].computed, 12);
  for (const auto& f : kTextOutputs)
    EXPECT_EQ(read_text_file(dir_ / "single" / f), read_text_file(dir_ / "ranks" / f)) << f;
}

}  // namespace
}  // namespace diffgen
