// Running an experiment in process (experiments/run.hpp): the outputs, the
// stored task results, a resume that reuses them and rewrites the same
// files, the fingerprint that keeps other settings from mixing in, and a
// plan refused before anything is written.
#include "experiments/run.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "core/error.hpp"
#include "core/io.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RunExperiment : public ::testing::Test {
 protected:
  // sampler-kl on a 1-D Gaussian with two step counts: a second or so.
  static Config small_config() {
    Config c(find_experiment("sampler-kl")->schema());
    for (const char* a : {"steps=[4, 8]", "dimensions=[1]", "estimators=[\"exact\"]", "grid.t_max=10.0",
                          "fit.min_steps=4"})
      c.set_from_assignment(a);
    return c;
  }
  RunOutcome run(const Config& config, const fs::path& out, bool resume = false) {
    fs::create_directories(out);
    RunOptions options;
    options.out_dir = out;
    options.seeds = 1;
    options.resume = resume;
    options.on_start = [this](std::int64_t units) { started_ = units; };
    options.on_progress = [this](std::int64_t units) { done_ += units; };
    return run_experiment(*find_experiment("sampler-kl"), config, options);
  }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
  std::int64_t started_ = -1;
  std::atomic<std::int64_t> done_{0};
};

TEST_F(RunExperiment, WritesTheReportAndStoresEveryKeptTask) {
  const RunOutcome outcome = run(small_config(), dir_);
  EXPECT_FALSE(outcome.writer.failure) << *outcome.writer.failure;
  for (const char* f : {"metrics.csv", "summary.json", "report.md", "timing.json"})
    EXPECT_TRUE(fs::exists(dir_ / f)) << f;
  EXPECT_GT(outcome.engine.computed, 0);
  EXPECT_EQ(outcome.engine.reused, 0);
  Index stored = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "tasks")) stored += entry.path().extension() == ".cbor";
  EXPECT_EQ(stored, outcome.engine.computed);
  // Progress: every unit announced is reported done.
  EXPECT_GT(started_, 0);
  EXPECT_EQ(done_.load(), started_);
  const Json timing = Json::parse(read_text_file(dir_ / "timing.json"));
  EXPECT_EQ(timing.at("tasks_computed").get<Index>(), outcome.engine.computed);
  EXPECT_GT(timing.at("seconds_wall").get<double>(), 0.0);
}

TEST_F(RunExperiment, AResumeReusesEveryStoredTaskAndWritesTheSameFiles) {
  const Config config = small_config();
  const RunOutcome first = run(config, dir_);
  const std::string metrics = read_text_file(dir_ / "metrics.csv");
  const std::string summary = read_text_file(dir_ / "summary.json");
  fs::remove(dir_ / "metrics.csv");
  const RunOutcome again = run(config, dir_, /*resume=*/true);
  EXPECT_EQ(again.engine.computed, 0);
  EXPECT_EQ(again.engine.reused, first.engine.computed);
  EXPECT_EQ(read_text_file(dir_ / "metrics.csv"), metrics);
  EXPECT_EQ(read_text_file(dir_ / "summary.json"), summary);
}

TEST_F(RunExperiment, AResumeUnderOtherSettingsIsRefusedNamingTheKey) {
  run(small_config(), dir_);
  Config other = small_config();
  other.set("target.var", "2.0");
  try {
    run(other, dir_, /*resume=*/true);
    ADD_FAILURE() << "a resume under other settings was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("target.var"));
  }
}

TEST_F(RunExperiment, TheFingerprintHoldsTheExperimentTheSeedsAndEveryKey) {
  const Experiment& e = *find_experiment("sampler-kl");
  const Config config = small_config();
  const std::string one = run_fingerprint(e, config, 1);
  EXPECT_THAT(one, HasSubstr("experiment = sampler-kl"));
  EXPECT_THAT(one, HasSubstr("grid.t_max"));
  EXPECT_NE(run_fingerprint(e, config, 2), one);
  Config other = config;
  other.set("seed", "7");
  EXPECT_NE(run_fingerprint(e, other, 1), one);
  EXPECT_EQ(run_fingerprint(e, small_config(), 1), one);
}

TEST_F(RunExperiment, SettingsThePlanRefusesWriteNothing) {
  Config config = small_config();
  config.set("grid.t_min", "1000");  // above grid.t_max
  EXPECT_THROW(run(config, dir_ / "out"), ConfigError);
  EXPECT_TRUE(fs::is_empty(dir_ / "out"));
}

}  // namespace
}  // namespace diffgen
