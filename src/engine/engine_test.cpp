#include "engine/engine.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Values are doubles; the codec writes them as JSON numbers.
const TaskCodec kDoubles{[](Index, const TaskValue& v) { return Json(value_as<double>(v)); },
                         [](Index, const Json& j) { return make_value(j.get<double>()); }};

TaskInfo info(std::string key, double cost = 1.0, std::vector<Index> needs = {}, bool keep = true,
              std::int64_t units = 1) {
  TaskInfo t;
  t.key = std::move(key);
  t.cost = cost;
  t.needs = std::move(needs);
  t.keep = keep;
  t.units = units;
  t.kind = "test";
  return t;
}

// A plan of tasks whose bodies compute doubles, with a count of the calls of
// each task and the order in which they started.
class FakePlan {
 public:
  using Body = std::function<double(const TaskContext&)>;

  Index add(TaskInfo task, Body body) {
    tasks_.push_back(std::move(task));
    bodies_.push_back(std::move(body));
    calls_.emplace_back(0);
    return static_cast<Index>(tasks_.size()) - 1;
  }

  const std::vector<TaskInfo>& tasks() const { return tasks_; }
  std::vector<TaskInfo>& tasks() { return tasks_; }

  TaskRunner runner() {
    return [this](Index i, const TaskContext& context) {
      ++calls_[static_cast<std::size_t>(i)];
      {
        std::lock_guard<std::mutex> lock(mutex_);
        order_.push_back(i);
      }
      return make_value(bodies_[static_cast<std::size_t>(i)](context));
    };
  }

  int calls(Index i) const { return calls_[static_cast<std::size_t>(i)].load(); }
  int total_calls() const {
    int n = 0;
    for (const auto& c : calls_) n += c.load();
    return n;
  }
  std::vector<Index> order() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return order_;
  }
  void reset() {
    for (auto& c : calls_) c = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    order_.clear();
  }

 private:
  std::vector<TaskInfo> tasks_;
  std::vector<Body> bodies_;
  std::deque<std::atomic<int>> calls_;
  mutable std::mutex mutex_;
  std::vector<Index> order_;
};

// The plan most tests use (values are known answers):
//   0 base    intermediate                 2
//   1 a       kept, needs base             10·base + 1 = 21
//   2 b       kept                         7
//   3 unused  intermediate, needed by none 5
//   4 c       kept, needs base             100·base = 200
//   5 d       kept, needs a (a kept task)  a + 0.5 = 21.5
constexpr Index kBase = 0, kA = 1, kB = 2, kUnused = 3, kC = 4, kD = 5;

void standard_plan(FakePlan& p) {
  p.add(info("base", 1.0, {}, false), [](const TaskContext&) { return 2.0; });
  p.add(info("a", 3.0, {kBase}), [](const TaskContext& c) { return 10.0 * c.input<double>(kBase) + 1.0; });
  p.add(info("b", 2.0), [](const TaskContext&) { return 7.0; });
  p.add(info("unused", 1.0, {}, false), [](const TaskContext&) { return 5.0; });
  p.add(info("c", 4.0, {kBase}), [](const TaskContext& c) { return 100.0 * c.input<double>(kBase); });
  p.add(info("d", 1.0, {kA}), [](const TaskContext& c) { return c.input<double>(kA) + 0.5; });
}

double number(const std::vector<TaskValue>& values, Index i) {
  const TaskValue& v = values[static_cast<std::size_t>(i)];
  if (!v) {
    ADD_FAILURE() << "task " << i << " has no value";
    return std::nan("");
  }
  return value_as<double>(v);
}

void expect_standard_values(const std::vector<TaskValue>& values) {
  ASSERT_EQ(values.size(), 6u);
  EXPECT_EQ(number(values, kA), 21.0);
  EXPECT_EQ(number(values, kB), 7.0);
  EXPECT_EQ(number(values, kC), 200.0);
  EXPECT_EQ(number(values, kD), 21.5);
}

// Sets the thread count for one test and restores the previous one.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// Every file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> folder_contents(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = read_bytes(entry.path());
  return files;
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "threw nothing";
  return {};
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_interrupt();
  }
  void TearDown() override {
    clear_interrupt();
  }

  EngineOptions stored(const fs::path& out, std::string fingerprint = "fp-1", bool resume = false) const {
    EngineOptions o;
    o.out_dir = out;
    o.fingerprint = std::move(fingerprint);
    o.resume = resume;
    return o;
  }

  TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

TEST_F(EngineTest, RunsEveryKeptTaskOnceAndReturnsValuesInPlanOrder) {
  FakePlan p;
  standard_plan(p);
  EngineReport report;
  const auto values = run_tasks(p.tasks(), p.runner(), kDoubles, {}, &report);
  expect_standard_values(values);
  // The intermediate needed by a and c ran once; the one nobody needs never ran.
  EXPECT_EQ(p.calls(kBase), 1);
  EXPECT_EQ(p.calls(kUnused), 0);
  for (Index i : {kA, kB, kC, kD}) EXPECT_EQ(p.calls(i), 1) << i;
  EXPECT_EQ(number(values, kBase), 2.0);  // left in memory
  EXPECT_FALSE(values[kUnused]);
  EXPECT_EQ(report.computed, 4);
  EXPECT_EQ(report.reused, 0);
  EXPECT_THAT(report.ran, ElementsAre(true, true, true, false, true, true));
  ASSERT_EQ(report.seconds.size(), 6u);
  EXPECT_EQ(report.seconds[kUnused], 0.0);
}

TEST_F(EngineTest, AnEmptyPlanRunsNothing) {
  FakePlan p;
  EngineReport report;
  EXPECT_TRUE(run_tasks(p.tasks(), p.runner(), kDoubles, {}, &report).empty());
  EXPECT_EQ(report.computed, 0);
}

TEST_F(EngineTest, NeedsAreTheOnlyInputsATaskCanRead) {
  FakePlan p;
  std::atomic<int> refused{0};
  std::string key_seen;
  Index index_seen = -1;
  p.add(info("x", 1.0, {}, false), [](const TaskContext&) { return 3.0; });
  p.add(info("y"), [](const TaskContext&) { return 4.0; });
  p.add(info("z", 1.0, {0}), [&](const TaskContext& c) {
    key_seen = c.info().key;
    index_seen = c.index();
    // y is an earlier task but not among z's needs; z is z itself.
    for (Index other : {Index{1}, Index{2}}) {
      try {
        c.input<double>(other);
      } catch (const std::logic_error& e) {
        if (std::string(e.what()).find("'z' reads task") != std::string::npos) ++refused;
      }
    }
    EXPECT_EQ(value_as<double>(c.values_from(0)[0]), 3.0);
    return c.input<double>(0) * 2.0;
  });
  const auto values = run_tasks(p.tasks(), p.runner(), kDoubles, {});
  EXPECT_EQ(number(values, 2), 6.0);
  EXPECT_EQ(refused.load(), 2);
  EXPECT_EQ(key_seen, "z");
  EXPECT_EQ(index_seen, 2);

  // Uncaught, the logic_error ends the run.
  FakePlan q;
  q.add(info("x"), [](const TaskContext&) { return 1.0; });
  q.add(info("y"), [](const TaskContext& c) { return c.input<double>(0); });
  EXPECT_THAT(error_of<std::logic_error>([&] { run_tasks(q.tasks(), q.runner(), kDoubles, {}); }),
              HasSubstr("task 'y' reads task 0 without needing it"));
}

TEST_F(EngineTest, ATaskReturningNoValueIsABug) {
  const std::vector<TaskInfo> plan{info("x")};
  const TaskRunner run = [](Index, const TaskContext&) { return TaskValue(); };
  EXPECT_THAT(error_of<std::logic_error>([&] { run_tasks(plan, run, kDoubles, {}); }),
              HasSubstr("'x' returned no value"));
}

TEST_F(EngineTest, ReadyTasksStartCostliestFirstThenInPlanOrder) {
  const ThreadCount one(1);
  FakePlan p;
  for (double cost : {1.0, 5.0, 3.0, 5.0, 2.0, 0.5})
    p.add(info(fmt::format("t{}", p.tasks().size()), cost), [](const TaskContext&) { return 0.0; });
  run_tasks(p.tasks(), p.runner(), kDoubles, {});
  EXPECT_THAT(p.order(), ElementsAre(1, 3, 2, 4, 0, 5));

  // A task becomes ready when its needs are computed: c (4) and a (3) wait for
  // base (1), which starts after b (2); d (1) waits for a.
  FakePlan q;
  standard_plan(q);
  run_tasks(q.tasks(), q.runner(), kDoubles, {});
  EXPECT_THAT(q.order(), ElementsAre(kB, kBase, kC, kA, kD));
}

TEST_F(EngineTest, ASingleTaskRunsOnTheCallingThread) {
  const ThreadCount two(2);
  std::thread::id ran_on;
  FakePlan p;
  p.add(info("only"), [&](const TaskContext&) {
    ran_on = std::this_thread::get_id();
    return 1.0;
  });
  run_tasks(p.tasks(), p.runner(), kDoubles, {});
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

// A plan whose values depend on their needs and on floating-point sums, so
// that any mix-up between tasks changes bits.
void wide_plan(FakePlan& p) {
  for (int k = 0; k < 3; ++k)
    p.add(info(fmt::format("base{}", k), 1.0 + k, {}, false), [k](const TaskContext&) {
      double s = 0.0;
      for (int j = 1; j <= 1000; ++j) s += std::sin(0.001 * j * (k + 1));
      return s;
    });
  for (int i = 0; i < 24; ++i)
    p.add(info(fmt::format("task-{}", i), 1.0 + (i * 7) % 5, {Index{i % 3}}), [i](const TaskContext& c) {
      double s = c.input<double>(i % 3);
      for (int j = 1; j <= 2000; ++j) s += std::cos(0.37 * j + i) / j;
      return s;
    });
}

TEST_F(EngineTest, ValuesAndFilesAreIdenticalForOneAndTwoThreads) {
  std::vector<TaskValue> by_threads[2];
  for (int threads : {1, 2}) {
    const ThreadCount count(threads);
    FakePlan p;
    wide_plan(p);
    EngineReport report;
    by_threads[threads - 1] =
        run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_ / std::to_string(threads)), &report);
    EXPECT_EQ(report.computed, 24);
    for (std::size_t i = 0; i < p.tasks().size(); ++i) EXPECT_TRUE(report.ran[i]) << i;
    EXPECT_EQ(p.total_calls(), 27);
  }
  for (std::size_t i = 0; i < by_threads[0].size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(value_as<double>(by_threads[0][i])),
              std::bit_cast<std::uint64_t>(value_as<double>(by_threads[1][i])))
        << i;
  const auto one = folder_contents(dir_ / "1"), two = folder_contents(dir_ / "2");
  EXPECT_EQ(one.size(), 24u);
  EXPECT_EQ(one, two);
}

TEST_F(EngineTest, KeptResultsAreStoredWithTheFingerprint) {
  FakePlan p;
  standard_plan(p);
  run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_));
  EXPECT_EQ(task_result_file(dir_, "a"), dir_ / "tasks" / "a.cbor");
  EXPECT_EQ(task_checkpoint_file(dir_, "a"), dir_ / "checkpoints" / "a.bin");
  // Kept tasks only, nothing else (no temporary files) in tasks/.
  const auto files = folder_contents(dir_ / "tasks");
  std::vector<std::string> names;
  for (const auto& [name, bytes] : files) names.push_back(name);
  EXPECT_THAT(names, ElementsAre("a.cbor", "b.cbor", "c.cbor", "d.cbor"));
  const Json a = Json::from_cbor(read_bytes(task_result_file(dir_, "a")));
  EXPECT_EQ(a, (Json{{"format", 1}, {"key", "a"}, {"fingerprint", "fp-1"}, {"value", 21.0}}));
  const Json d = Json::from_cbor(read_bytes(task_result_file(dir_, "d")));
  EXPECT_EQ(d["value"].get<double>(), 21.5);
}

TEST_F(EngineTest, ResumeReusesStoredResultsAndRunsOnlyWhatIsMissing) {
  FakePlan p;
  standard_plan(p);
  run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_));

  // Everything stored: nothing runs, not even the intermediate.
  p.reset();
  EngineReport report;
  auto values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true), &report);
  expect_standard_values(values);
  EXPECT_EQ(p.total_calls(), 0);
  EXPECT_EQ(report.reused, 4);
  EXPECT_EQ(report.computed, 0);
  EXPECT_THAT(report.ran, ElementsAre(false, false, false, false, false, false));
  EXPECT_FALSE(values[kBase]);  // not needed, so not computed

  // c's result lost: c and the intermediate it needs run again, nothing else.
  fs::remove(task_result_file(dir_, "c"));
  p.reset();
  values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true), &report);
  expect_standard_values(values);
  EXPECT_EQ(p.calls(kBase), 1);
  EXPECT_EQ(p.calls(kC), 1);
  EXPECT_EQ(p.total_calls(), 2);
  EXPECT_EQ(report.reused, 3);
  EXPECT_EQ(report.computed, 1);
  EXPECT_TRUE(fs::exists(task_result_file(dir_, "c")));

  // d's result lost: d reads the stored value of a, which is not run again.
  fs::remove(task_result_file(dir_, "d"));
  p.reset();
  values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true));
  expect_standard_values(values);
  EXPECT_EQ(p.calls(kD), 1);
  EXPECT_EQ(p.total_calls(), 1);
}

TEST_F(EngineTest, ResumeUnderOtherSettingsIsAConfigErrorNamingTheFile) {
  FakePlan p;
  standard_plan(p);
  run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_));
  p.reset();
  const std::string message =
      error_of<ConfigError>([&] { run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-2", true)); });
  EXPECT_THAT(message, AllOf(HasSubstr(task_result_file(dir_, "a").string()), HasSubstr("other settings")));
  EXPECT_EQ(p.total_calls(), 0);
  // The stored results are left alone.
  EXPECT_EQ(folder_contents(dir_ / "tasks").size(), 4u);
}

TEST_F(EngineTest, AnUnreadableStoredResultIsADataErrorNamingTheFile) {
  FakePlan p;
  standard_plan(p);
  run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_));
  const fs::path b = task_result_file(dir_, "b");
  const std::string good = read_bytes(b);
  const auto resume = [&] { run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true)); };

  write_bytes(b, "this is not CBOR");
  EXPECT_THAT(error_of<DataError>(resume), AllOf(HasSubstr(b.string()), HasSubstr("not readable")));
  write_bytes(b, good.substr(0, good.size() - 3));  // truncated
  EXPECT_THAT(error_of<DataError>(resume), HasSubstr(b.string()));
  write_bytes(b, read_bytes(task_result_file(dir_, "a")));  // another task's result
  EXPECT_THAT(error_of<DataError>(resume), AllOf(HasSubstr(b.string()), HasSubstr("not a diffgen task result")));
  // CBOR of the right shape but with fields of the wrong types.
  for (const Json& odd : {Json(42), Json{{"format", "1"}, {"key", "b"}, {"fingerprint", "fp-1"}, {"value", 7.0}},
                          Json{{"format", 1}, {"key", 2}, {"fingerprint", "fp-1"}, {"value", 7.0}},
                          Json{{"format", 1}, {"key", "b"}, {"fingerprint", 1}, {"value", 7.0}},
                          Json{{"format", 1}, {"key", "b"}, {"fingerprint", "fp-1"}}}) {
    const auto bytes = Json::to_cbor(odd);
    write_bytes(b, std::string(bytes.begin(), bytes.end()));
    EXPECT_THAT(error_of<DataError>(resume), HasSubstr(b.string())) << odd.dump();
  }
  write_bytes(b, good);
  EXPECT_NO_THROW(resume());
}

TEST_F(EngineTest, AFreshRunClearsTasksAndCheckpointsFirst) {
  write_bytes(dir_ / "tasks" / "stale.cbor", "old");
  write_bytes(dir_ / "checkpoints" / "stale.bin", "old");
  write_bytes(dir_ / "config.toml", "kept");
  FakePlan p;
  standard_plan(p);

  // A resume keeps what is there.
  run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true));
  EXPECT_TRUE(fs::exists(dir_ / "tasks" / "stale.cbor"));
  EXPECT_TRUE(fs::exists(dir_ / "checkpoints" / "stale.bin"));

  // A fresh run recomputes everything even though results are stored.
  p.reset();
  run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", false));
  EXPECT_EQ(p.total_calls(), 5);
  EXPECT_FALSE(fs::exists(dir_ / "tasks" / "stale.cbor"));
  EXPECT_FALSE(fs::exists(dir_ / "checkpoints"));
  EXPECT_TRUE(fs::exists(task_result_file(dir_, "a")));
  EXPECT_EQ(read_bytes(dir_ / "config.toml"), "kept");  // other files are not the engine's
}

TEST_F(EngineTest, TasksGetTheirCheckpointFileOnlyWithARunFolder) {
  std::map<std::string, fs::path> seen;
  std::mutex mutex;
  const std::vector<TaskInfo> plan{info("p"), info("q", 1.0, {}, false), info("r", 1.0, {1})};
  const TaskRunner run = [&](Index, const TaskContext& c) {
    std::lock_guard<std::mutex> lock(mutex);
    seen[c.info().key] = c.checkpoint_file();
    return make_value(1.0);
  };
  run_tasks(plan, run, kDoubles, stored(dir_));
  EXPECT_EQ(seen["p"], dir_ / "checkpoints" / "p.bin");
  EXPECT_EQ(seen["q"], dir_ / "checkpoints" / "q.bin");
  run_tasks(plan, run, kDoubles, {});
  EXPECT_TRUE(seen["p"].empty());
  EXPECT_TRUE(seen["r"].empty());
}

TEST_F(EngineTest, ATaskErrorEndsTheRunAndFinishedResultsAreKept) {
  const ThreadCount one(1);
  bool broken = true;
  FakePlan p;
  p.add(info("first", 3.0), [](const TaskContext&) { return 1.0; });
  p.add(info("bad", 2.0), [&](const TaskContext&) -> double {
    if (broken) throw NumericalError("bad: the loss is NaN at epoch 3");
    return 2.0;
  });
  p.add(info("last", 1.0), [](const TaskContext&) { return 3.0; });
  EXPECT_EQ(error_of<NumericalError>([&] { run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_)); }),
            "bad: the loss is NaN at epoch 3");
  EXPECT_TRUE(fs::exists(task_result_file(dir_, "first")));
  EXPECT_FALSE(fs::exists(task_result_file(dir_, "bad")));
  EXPECT_FALSE(fs::exists(task_result_file(dir_, "last")));
  EXPECT_EQ(p.calls(2), 0);  // no task starts after the error

  // Other errors keep their type (and so their exit code).
  FakePlan q;
  q.add(info("x"), [](const TaskContext&) -> double { throw DataError("data file 'x.npy' is truncated"); });
  EXPECT_EQ(error_of<DataError>([&] { run_tasks(q.tasks(), q.runner(), kDoubles, {}); }),
            "data file 'x.npy' is truncated");

  broken = false;
  p.reset();
  EngineReport report;
  const auto values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true), &report);
  EXPECT_EQ(p.calls(0), 0);
  EXPECT_EQ(report.reused, 1);
  EXPECT_EQ(report.computed, 2);
  EXPECT_EQ(number(values, 0), 1.0);
  EXPECT_EQ(number(values, 1), 2.0);
  EXPECT_EQ(number(values, 2), 3.0);
}

TEST_F(EngineTest, AnErrorOnTwoThreadsStillKeepsWhatFinished) {
  const ThreadCount two(2);
  FakePlan p;
  for (int i = 0; i < 6; ++i) p.add(info(fmt::format("ok{}", i), 10.0 - i), [](const TaskContext&) { return 1.0; });
  p.add(info("bad", 0.5), [](const TaskContext&) -> double { throw NumericalError("bad diverged"); });
  EXPECT_EQ(error_of<NumericalError>([&] { run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_)); }),
            "bad diverged");
  // The costliest-first order puts the error last: every other task finished and was stored.
  EXPECT_EQ(folder_contents(dir_ / "tasks").size(), 6u);
}

// Five independent tasks that run in plan order on one thread.
void five_tasks(FakePlan& p, Index stop_in = -1) {
  for (int i = 0; i < 5; ++i)
    p.add(info(fmt::format("t{}", i), 5.0 - i), [i, stop_in](const TaskContext&) {
      if (i == stop_in && !interrupt_requested()) request_interrupt();
      return 1.0 + 0.1 * i;
    });
}

TEST_F(EngineTest, AStopRequestStartsNoNewTaskAndAResumeFinishesTheRest) {
  const ThreadCount one(1);
  FakePlan whole;
  five_tasks(whole);
  const auto expected = run_tasks(whole.tasks(), whole.runner(), kDoubles, stored(dir_ / "whole"));

  FakePlan p;
  five_tasks(p, /*stop_in=*/1);
  const fs::path out = dir_ / "stopped";
  EXPECT_THAT(error_of<Interrupted>([&] { run_tasks(p.tasks(), p.runner(), kDoubles, stored(out)); }),
              HasSubstr("stopped with 3 of 5 tasks unfinished"));
  EXPECT_THAT(p.order(), ElementsAre(0, 1));
  EXPECT_TRUE(fs::exists(task_result_file(out, "t1")));  // the task that asked finished and was stored
  EXPECT_FALSE(fs::exists(task_result_file(out, "t2")));

  clear_interrupt();
  p.reset();
  EngineReport report;
  const auto values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(out, "fp-1", true), &report);
  EXPECT_THAT(p.order(), ElementsAre(2, 3, 4));
  EXPECT_EQ(report.reused, 2);
  ASSERT_EQ(values.size(), expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(value_as<double>(values[i]), value_as<double>(expected[i]));
  EXPECT_EQ(folder_contents(out / "tasks"), folder_contents(dir_ / "whole" / "tasks"));
}

TEST_F(EngineTest, AStopRequestedBeforeTheRunStartsNothing) {
  FakePlan p;
  five_tasks(p);
  request_interrupt();
  EXPECT_THAT(error_of<Interrupted>([&] { run_tasks(p.tasks(), p.runner(), kDoubles, {}); }),
              HasSubstr("5 of 5 tasks unfinished"));
  EXPECT_EQ(p.total_calls(), 0);
}

TEST_F(EngineTest, StopOnTwoThreadsResumesToTheSameValues) {
  const ThreadCount two(2);
  FakePlan whole;
  wide_plan(whole);
  const auto expected = run_tasks(whole.tasks(), whole.runner(), kDoubles, {});

  FakePlan p;
  wide_plan(p);
  std::atomic<int> started{0};
  const TaskRunner stopping = [&](Index i, const TaskContext& c) {
    if (++started == 8) request_interrupt();
    return p.runner()(i, c);
  };
  EXPECT_THROW(run_tasks(p.tasks(), stopping, kDoubles, stored(dir_)), Interrupted);
  const std::size_t stored_after_stop = folder_contents(dir_ / "tasks").size();
  EXPECT_GT(stored_after_stop, 0u);
  EXPECT_LT(stored_after_stop, 24u);
  clear_interrupt();
  const auto values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true));
  for (Index i = 3; i < 27; ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(number(values, i)), std::bit_cast<std::uint64_t>(number(expected, i))) << i;
}

// A task that saves its state and throws Interrupted itself (as training does
// at an epoch boundary) continues from its checkpoint on the resume.
TEST_F(EngineTest, ATaskThatStopsItselfContinuesFromItsCheckpoint) {
  const ThreadCount one(1);
  FakePlan p;
  std::vector<int> started_at;
  p.add(info("train", 2.0), [&](const TaskContext& c) -> double {
    int epoch = 0;
    if (fs::exists(c.checkpoint_file())) epoch = std::stoi(read_bytes(c.checkpoint_file()));
    started_at.push_back(epoch);
    for (; epoch < 10; ++epoch) {
      if (epoch == 4 && started_at.size() == 1) {
        write_bytes(c.checkpoint_file(), std::to_string(epoch));
        throw Interrupted("train stopped at epoch 4");
      }
    }
    return epoch;
  });
  p.add(info("other", 1.0), [](const TaskContext&) { return 1.0; });
  EXPECT_EQ(error_of<Interrupted>([&] { run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_)); }),
            "train stopped at epoch 4");
  EXPECT_EQ(p.calls(1), 0);
  const auto values = run_tasks(p.tasks(), p.runner(), kDoubles, stored(dir_, "fp-1", true));
  EXPECT_THAT(started_at, ElementsAre(0, 4));
  EXPECT_EQ(number(values, 0), 10.0);
  EXPECT_EQ(number(values, 1), 1.0);
}

TEST_F(EngineTest, CheckPlanRefusesPlannerBugs) {
  EXPECT_NO_THROW(check_plan({info("seed-0_n=64.kl"), info("b.2", 1.0, {0})}));
  EXPECT_NO_THROW(check_plan({}));
  const auto refused = [](const std::vector<TaskInfo>& plan) {
    return error_of<std::logic_error>([&] { check_plan(plan); });
  };
  EXPECT_THAT(refused({info("a"), info("b"), info("a")}), HasSubstr("task key 'a' is planned twice"));
  for (const char* key : {"a/b", "a b", ".hidden", "", "..", "a\\b", "ü"})
    EXPECT_THAT(refused({info(key)}), HasSubstr("is not file-safe")) << key;
  EXPECT_THAT(refused({info("a", 1.0, {1}), info("b")}), HasSubstr("task 'a' needs task 1, which is not an earlier"));
  EXPECT_THAT(refused({info("a"), info("b", 1.0, {1})}), HasSubstr("task 'b' needs task 1"));
  EXPECT_THAT(refused({info("a", 1.0, {-1})}), HasSubstr("needs task -1"));
  // run_tasks checks the plan before it runs anything.
  FakePlan p;
  p.add(info("a"), [](const TaskContext&) { return 1.0; });
  p.add(info("a"), [](const TaskContext&) { return 1.0; });
  EXPECT_THROW(run_tasks(p.tasks(), p.runner(), kDoubles, {}), std::logic_error);
  EXPECT_EQ(p.total_calls(), 0);
}

TEST_F(EngineTest, ProgressCountsTheUnitsOfTheTasksToRun) {
  const ThreadCount two(2);
  const auto make = [](FakePlan& p) {
    const auto body = [](const TaskContext& c) {
      for (std::int64_t u = 0; u < c.info().units; ++u) c.progress(1);
      return 1.0;
    };
    p.add(info("base", 1.0, {}, false, 2), body);
    p.add(info("a", 1.0, {0}, true, 3), body);
    p.add(info("b", 1.0, {}, true, 4), body);
    p.add(info("c", 1.0, {}, true, 5), body);
    p.add(info("unused", 1.0, {}, false, 100), body);
    p.add(info("e", 1.0, {1}, true, 6), body);  // reads a kept result
  };
  std::atomic<int> starts{0};
  std::atomic<std::int64_t> total{-1}, done{0};
  std::atomic<bool> progress_before_start{false};
  EngineOptions o = stored(dir_);
  o.on_start = [&](std::int64_t units) {
    ++starts;
    total = units;
  };
  o.on_progress = [&](std::int64_t units) {
    if (starts == 0) progress_before_start = true;
    done += units;
  };
  FakePlan p;
  make(p);
  run_tasks(p.tasks(), p.runner(), kDoubles, o);
  EXPECT_EQ(starts.load(), 1);
  EXPECT_EQ(total.load(), 2 + 3 + 4 + 5 + 6);
  EXPECT_EQ(done.load(), total.load());
  EXPECT_FALSE(progress_before_start.load());

  // A resume counts only what is left: e alone (it reads a's stored result,
  // so neither a nor the intermediate a needs runs) ...
  o.resume = true;
  for (const char* lost : {"e", "a"}) {
    SCOPED_TRACE(lost);
    fs::remove(task_result_file(dir_, lost));
    starts = 0;
    done = 0;
    p.reset();
    run_tasks(p.tasks(), p.runner(), kDoubles, o);
    EXPECT_EQ(starts.load(), 1);
    // ... then a and the intermediate it needs.
    const std::int64_t expected = std::string(lost) == "e" ? 6 : 2 + 3;
    EXPECT_EQ(total.load(), expected);
    EXPECT_EQ(done.load(), expected);
    EXPECT_EQ(p.total_calls(), std::string(lost) == "e" ? 1 : 2);
  }
}

// ---- Several ranks: a communicator of threads in this process. ----

// What the ranks of a group share: a barrier and the buffers of the collectives.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), slots_(static_cast<std::size_t>(size)) {}
  int size() const { return size_; }

  // Waits until every rank arrived. Throws after 30 s, so that a collective
  // that a rank never reaches fails the test instead of hanging it.
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return generation_ != generation; }))
      throw std::runtime_error("a collective timed out: a rank did not take part");
  }

  std::string root_text;
  std::vector<std::string>& slots() { return slots_; }

 private:
  int size_;
  std::vector<std::string> slots_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  std::string broadcast(const std::string& text) override {
    if (rank_ == 0) group_.root_text = text;
    group_.barrier();
    std::string out = group_.root_text;
    group_.barrier();  // every rank has read before the next collective writes
    return out;
  }
  std::vector<std::string> gather(const std::string& text) override {
    group_.slots()[static_cast<std::size_t>(rank_)] = text;
    group_.barrier();
    std::vector<std::string> out;
    if (rank_ == 0) out = group_.slots();
    group_.barrier();
    return out;
  }

 private:
  ThreadGroup& group_;
  int rank_;
};

TEST(ThreadCommunicator, CollectivesMatchMpiSemantics) {
  ThreadGroup group(2);
  std::vector<std::string> got[2];
  std::string broadcast[2];
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      ThreadCommunicator comm(group, r);
      broadcast[r] = comm.broadcast(r == 0 ? "from root" : "ignored");
      got[r] = comm.gather(fmt::format("rank {}", r));
    });
  for (auto& t : ranks) t.join();
  EXPECT_EQ(broadcast[0], "from root");
  EXPECT_EQ(broadcast[1], "from root");
  EXPECT_THAT(got[0], ElementsAre("rank 0", "rank 1"));
  EXPECT_TRUE(got[1].empty());
}

struct RankOutcome {
  std::vector<TaskValue> values;
  EngineReport report;
  std::exception_ptr error;
};

// Runs the plan on `ranks` ranks (threads), each with `options` and its own communicator.
std::vector<RankOutcome> run_on_ranks(int ranks, const std::vector<TaskInfo>& plan, const TaskRunner& run,
                                      EngineOptions options) {
  ThreadGroup group(ranks);
  std::vector<RankOutcome> out(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(group, r);
      EngineOptions o = options;
      o.comm = &comm;
      if (r != 0) {
        o.on_start = {};
        o.on_progress = {};
      }
      auto& mine = out[static_cast<std::size_t>(r)];
      try {
        mine.values = run_tasks(plan, run, kDoubles, o, &mine.report);
      } catch (...) {
        mine.error = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

template <class E>
std::string rank_error(const RankOutcome& r) {
  return error_of<E>([&] {
    if (r.error) std::rethrow_exception(r.error);
  });
}

TEST_F(EngineTest, TwoRanksGiveRootTheValuesAndFilesOfOneProcess) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    const ThreadCount count(threads);
    FakePlan single;
    standard_plan(single);
    const fs::path one = dir_ / fmt::format("one-{}", threads), two = dir_ / fmt::format("two-{}", threads);
    const auto expected = run_tasks(single.tasks(), single.runner(), kDoubles, stored(one));

    FakePlan p;
    standard_plan(p);
    std::int64_t total = -1;
    std::atomic<std::int64_t> done{0};
    EngineOptions o = stored(two);
    o.on_start = [&](std::int64_t units) { total = units; };
    o.on_progress = [&](std::int64_t units) { done += units; };
    const auto ranks = run_on_ranks(2, p.tasks(), p.runner(), o);
    ASSERT_FALSE(ranks[0].error);
    ASSERT_FALSE(ranks[1].error);
    expect_standard_values(ranks[0].values);
    for (Index i : {kA, kB, kC, kD}) EXPECT_EQ(number(ranks[0].values, i), number(expected, i));
    // Rank 1 returns no values.
    EXPECT_EQ(ranks[1].values.size(), p.tasks().size());
    for (const auto& v : ranks[1].values) EXPECT_FALSE(v);
    // Each kept task ran once over both ranks; the intermediate on each rank that needed it.
    for (Index i : {kA, kB, kC, kD}) EXPECT_EQ(p.calls(i), 1) << i;
    EXPECT_GE(p.calls(kBase), 1);
    EXPECT_LE(p.calls(kBase), 2);
    EXPECT_EQ(p.calls(kUnused), 0);
    EXPECT_EQ(ranks[0].report.computed, 4);
    // The root writes every result; the files are those of one process.
    EXPECT_EQ(folder_contents(two), folder_contents(one));
    EXPECT_EQ(total, 4);  // the kept tasks' units
    EXPECT_EQ(done.load(), 4);

    // A resume over two ranks reuses them all.
    p.reset();
    const auto resumed = run_on_ranks(2, p.tasks(), p.runner(), stored(two, "fp-1", true));
    ASSERT_FALSE(resumed[0].error);
    ASSERT_FALSE(resumed[1].error);
    expect_standard_values(resumed[0].values);
    EXPECT_EQ(resumed[0].report.reused, 4);
    EXPECT_EQ(p.total_calls(), 0);
  }
}

TEST_F(EngineTest, TwoRanksStopOnRequestAndResumeToTheSameValues) {
  const ThreadCount one(1);
  FakePlan whole;
  wide_plan(whole);
  const auto expected = run_tasks(whole.tasks(), whole.runner(), kDoubles, stored(dir_ / "whole"));

  FakePlan p;
  wide_plan(p);
  std::atomic<int> started{0};
  const TaskRunner stopping = [&](Index i, const TaskContext& c) {
    if (!p.tasks()[static_cast<std::size_t>(i)].keep) return p.runner()(i, c);
    if (++started == 5) request_interrupt();
    return p.runner()(i, c);
  };
  const fs::path out = dir_ / "ranks";
  const auto stopped = run_on_ranks(2, p.tasks(), stopping, stored(out));
  EXPECT_THAT(rank_error<Interrupted>(stopped[0]), HasSubstr("unfinished"));
  EXPECT_THAT(rank_error<Interrupted>(stopped[1]), HasSubstr("unfinished"));
  const std::size_t kept = folder_contents(out / "tasks").size();
  EXPECT_GE(kept, 4u);  // the rounds that finished are stored
  EXPECT_LT(kept, 24u);

  clear_interrupt();
  const auto resumed = run_on_ranks(2, p.tasks(), p.runner(), stored(out, "fp-1", true));
  ASSERT_FALSE(resumed[0].error);
  ASSERT_FALSE(resumed[1].error);
  EXPECT_EQ(resumed[0].report.reused, static_cast<Index>(kept));
  for (Index i = 3; i < 27; ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(number(resumed[0].values, i)),
              std::bit_cast<std::uint64_t>(number(expected, i)))
        << i;
  EXPECT_EQ(folder_contents(out / "tasks"), folder_contents(dir_ / "whole" / "tasks"));
}

// A task on rank 1 that saves its state and throws Interrupted (as training
// does on Ctrl-C) stops the run on every rank as a stop, not as an error.
TEST_F(EngineTest, ATaskStoppingItselfOnRankOneIsAStopOnEveryRank) {
  const ThreadCount one(1);
  FakePlan p;
  // Cost order t0, t1, t2, t3: the first round deals t0 to rank 0 and t1 to rank 1.
  for (int i = 0; i < 4; ++i)
    p.add(info(fmt::format("t{}", i), 4.0 - i), [i](const TaskContext&) -> double {
      if (i == 1) throw Interrupted("t1 stopped at epoch 3");
      return i;
    });
  const auto ranks = run_on_ranks(2, p.tasks(), p.runner(), stored(dir_));
  EXPECT_THAT(rank_error<Interrupted>(ranks[0]), HasSubstr("unfinished"));
  EXPECT_THAT(rank_error<Interrupted>(ranks[1]), HasSubstr("unfinished"));
  EXPECT_TRUE(fs::exists(task_result_file(dir_, "t0")));
  EXPECT_EQ(p.calls(2), 0);
}

// An error on one rank ends the run on every rank with the error's type.
TEST_F(EngineTest, AnErrorOnRankOneEndsTheRunOnEveryRank) {
  const ThreadCount one(1);
  for (const bool data : {false, true}) {
    SCOPED_TRACE(data);
    FakePlan p;
    for (int i = 0; i < 4; ++i)
      p.add(info(fmt::format("t{}", i), 4.0 - i), [i, data](const TaskContext&) -> double {
        if (i == 1 && data) throw DataError("t1: file 'x.npy' is truncated");
        if (i == 1) throw NumericalError("t1: NaN at epoch 3");
        return i;
      });
    const fs::path out = dir_ / (data ? "data" : "numerical");
    const auto ranks = run_on_ranks(2, p.tasks(), p.runner(), stored(out));
    for (const auto& r : ranks) {
      if (data)
        EXPECT_EQ(rank_error<DataError>(r), "t1: file 'x.npy' is truncated");
      else
        EXPECT_EQ(rank_error<NumericalError>(r), "t1: NaN at epoch 3");
    }
    // Rank 0's task of the same round finished and was stored; no later round ran.
    EXPECT_TRUE(fs::exists(task_result_file(out, "t0")));
    EXPECT_EQ(p.calls(2), 0);
    EXPECT_EQ(p.calls(3), 0);
  }
}

}  // namespace
}  // namespace diffgen
