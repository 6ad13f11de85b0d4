#include "engine/engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <system_error>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;

constexpr int kStoreFormat = 1;

bool file_safe(const std::string& key) {
  if (key.empty() || key.front() == '.') return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '=';
  });
}

// The settings (`key = value` lines, with their [table] prefixed to the key,
// no comments) of one fingerprint that the other lacks:
// "data.n = 1000 then, data.n = 20 now".
std::string fingerprint_difference(const std::string& then, const std::string& now) {
  const auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::string table;
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      const std::string line = text.substr(start, end - start);
      if (!line.empty() && line[0] == '[' && line.back() == ']')
        table = line.substr(1, line.size() - 2) + ".";
      else if (!line.empty() && line[0] != '#')
        out.push_back(table + line);
      start = end + 1;
    }
    return out;
  };
  const auto a = lines(then), b = lines(now);
  std::vector<std::string> parts;
  for (const auto& line : a)
    if (std::find(b.begin(), b.end(), line) == b.end()) parts.push_back(line + " then");
  for (const auto& line : b)
    if (std::find(a.begin(), a.end(), line) == a.end()) parts.push_back(line + " now");
  if (parts.empty()) return "the same values in another layout";
  std::string text;
  for (const auto& p : parts) text += (text.empty() ? "" : ", ") + p;
  return text;
}

// A stored result, or nullopt when there is none. DataError for an unreadable
// file, ConfigError for one written under other settings.
std::optional<Json> load_result(const fs::path& file, const std::string& key, const std::string& fingerprint) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  const std::string bytes = read_text_file(file);
  Json stored;
  try {
    stored = Json::from_cbor(bytes);
  } catch (const Json::exception& e) {
    throw DataError(fmt::format("task result '{}' is not readable ({}): remove it to compute the task again",
                                file.string(), e.what()));
  }
  // Json::value() throws when a field has another type: that is a foreign file too.
  bool ours = false, same_settings = false;
  try {
    ours = stored.is_object() && stored.value("format", 0) == kStoreFormat && stored.value("key", "") == key &&
           stored.contains("value");
    same_settings = ours && stored.value("fingerprint", "") == fingerprint;
  } catch (const Json::exception&) {
    ours = false;
  }
  if (!ours)
    throw DataError(fmt::format("task result '{}' is not a diffgen task result of this version", file.string()));
  if (!same_settings)
    throw ConfigError(fmt::format(
        "task result '{}' was computed under other settings than this run's ({}): resume a run with its own "
        "settings, or start a fresh one",
        file.string(), fingerprint_difference(stored.value("fingerprint", ""), fingerprint)));
  return std::move(stored["value"]);
}

void store_result(const fs::path& file, const std::string& key, const std::string& fingerprint, Json value) {
  Json stored{{"format", kStoreFormat}, {"key", key}, {"fingerprint", fingerprint}, {"value", std::move(value)}};
  const std::vector<std::uint8_t> bytes = Json::to_cbor(stored);
  write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// The tasks `wanted` and every task they need, transitively, that have no
// value yet, in plan order: the needs of a task with a value (a stored result
// read back, an intermediate computed earlier) are not needed again.
std::vector<Index> closure(const std::vector<TaskInfo>& plan, const std::vector<Index>& wanted,
                           const std::vector<TaskValue>& values) {
  std::vector<bool> in(plan.size(), false);
  for (Index i : wanted) in[static_cast<std::size_t>(i)] = !values[static_cast<std::size_t>(i)];
  // needs point to earlier tasks (check_plan), so one backward pass suffices.
  for (Index i = static_cast<Index>(plan.size()) - 1; i >= 0; --i)
    if (in[static_cast<std::size_t>(i)])
      for (Index j : plan[static_cast<std::size_t>(i)].needs)
        if (!values[static_cast<std::size_t>(j)]) in[static_cast<std::size_t>(j)] = true;
  std::vector<Index> out;
  for (Index i = 0; i < static_cast<Index>(plan.size()); ++i)
    if (in[static_cast<std::size_t>(i)]) out.push_back(i);
  return out;
}

// Runs `tasks` (closed under needs, values of intermediates already present
// are reused) on the thread pool. `done(i)` is called after task i finished,
// from its thread. Returns false when a stop request left tasks unrun.
class LocalScheduler {
 public:
  LocalScheduler(const std::vector<TaskInfo>& plan, const TaskRunner& run, std::vector<TaskValue>& values,
                 const EngineOptions& options, EngineReport& report, std::function<void(std::int64_t)> progress,
                 std::function<void(Index)> done)
      : plan_(plan),
        run_(run),
        values_(values),
        options_(options),
        report_(report),
        progress_(std::move(progress)),
        done_(std::move(done)) {}

  bool run(const std::vector<Index>& tasks) {
    const std::size_t n = plan_.size();
    remaining_needs_.assign(n, 0);
    dependents_.assign(n, {});
    std::vector<bool> todo(n, false);
    // A task whose value is present (an intermediate computed earlier, a kept
    // result read back) is not run again.
    for (Index i : tasks)
      if (!values_[static_cast<std::size_t>(i)]) todo[static_cast<std::size_t>(i)] = true;
    Index count = 0;
    for (Index i : tasks) {
      if (!todo[static_cast<std::size_t>(i)]) continue;
      ++count;
      for (Index j : plan_[static_cast<std::size_t>(i)].needs)
        if (todo[static_cast<std::size_t>(j)]) {
          ++remaining_needs_[static_cast<std::size_t>(i)];
          dependents_[static_cast<std::size_t>(j)].push_back(i);
        }
    }
    for (Index i : tasks)
      if (todo[static_cast<std::size_t>(i)] && remaining_needs_[static_cast<std::size_t>(i)] == 0) ready_.push_back(i);
    left_ = count;
    const int workers = static_cast<int>(std::min<Index>(count, num_threads()));
    // parallel_tasks marks its threads as workers, whose own parallel loops run
    // serially; a single worker is the calling thread, whose loops do not.
    if (workers <= 1)
      work();
    else
      parallel_tasks(workers, [&](Index) { work(); });
    if (error_) std::rethrow_exception(error_);
    return left_ == 0;
  }

 private:
  // Pops the costliest ready task (the earliest on ties); requires the lock.
  Index pop_ready() {
    auto best = ready_.begin();
    for (auto it = ready_.begin(); it != ready_.end(); ++it) {
      const double c = plan_[static_cast<std::size_t>(*it)].cost, b = plan_[static_cast<std::size_t>(*best)].cost;
      if (c > b || (c == b && *it < *best)) best = it;
    }
    const Index i = *best;
    ready_.erase(best);
    return i;
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (error_ || stopped_) return;
      if (!ready_.empty()) {
        if (interrupt_requested()) {
          stopped_ = true;
          cv_.notify_all();
          return;
        }
        const Index i = pop_ready();
        ++running_;
        lock.unlock();
        const bool ok = execute(i);
        lock.lock();
        --running_;
        if (ok) finish(i);
        cv_.notify_all();
        continue;
      }
      if (running_ == 0) return;
      cv_.wait(lock);
    }
  }

  // Runs task i outside the lock; false when it failed (error_ is set).
  bool execute(Index i) {
    const auto& info = plan_[static_cast<std::size_t>(i)];
    const fs::path checkpoint = options_.out_dir.empty() ? fs::path() : task_checkpoint_file(options_.out_dir, info.key);
    // A task reports its units as it goes, or not at all: what it has not
    // reported when it finishes is reported for it, and never more than its units.
    std::int64_t reported = 0;
    std::mutex reported_mutex;
    const auto report_units = [&](std::int64_t units) {
      std::int64_t add = 0;
      {
        std::lock_guard<std::mutex> guard(reported_mutex);
        add = std::clamp<std::int64_t>(units, 0, info.units - reported);
        reported += add;
      }
      if (progress_ && add > 0) progress_(add);
    };
    const TaskContext context(&plan_, values_.data(), i, checkpoint, report_units);
    const auto start = std::chrono::steady_clock::now();
    try {
      TaskValue value = run_(i, context);
      if (!value) throw std::logic_error("task '" + info.key + "' returned no value");
      report_units(info.units);
      values_[static_cast<std::size_t>(i)] = std::move(value);
      report_.seconds[static_cast<std::size_t>(i)] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (done_) done_(i);
      return true;
    } catch (...) {
      std::lock_guard<std::mutex> guard(mutex_);
      if (!error_) error_ = std::current_exception();
      return false;
    }
  }

  // Requires the lock (also for `ran`: a vector<bool> shares words between tasks).
  void finish(Index i) {
    report_.ran[static_cast<std::size_t>(i)] = true;
    --left_;
    for (Index d : dependents_[static_cast<std::size_t>(i)])
      if (--remaining_needs_[static_cast<std::size_t>(d)] == 0) ready_.push_back(d);
  }

  const std::vector<TaskInfo>& plan_;
  const TaskRunner& run_;
  std::vector<TaskValue>& values_;
  const EngineOptions& options_;
  EngineReport& report_;
  std::function<void(std::int64_t)> progress_;
  std::function<void(Index)> done_;
  std::vector<Index> remaining_needs_;
  std::vector<std::vector<Index>> dependents_;
  std::vector<Index> ready_;
  Index left_ = 0;
  int running_ = 0;
  bool stopped_ = false;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable cv_;
};

std::int64_t units_of(const std::vector<TaskInfo>& plan, const std::vector<Index>& tasks) {
  std::int64_t total = 0;
  for (Index i : tasks) total += plan[static_cast<std::size_t>(i)].units;
  return total;
}

// Kept tasks in cost order (costliest first, plan order on ties).
std::vector<Index> by_cost(const std::vector<TaskInfo>& plan, std::vector<Index> tasks) {
  std::stable_sort(tasks.begin(), tasks.end(), [&](Index a, Index b) {
    return plan[static_cast<std::size_t>(a)].cost > plan[static_cast<std::size_t>(b)].cost;
  });
  return tasks;
}

[[noreturn]] void throw_interrupted(Index left, Index total) {
  throw Interrupted(fmt::format("stopped with {} of {} tasks unfinished; finished results and checkpoints are kept",
                                left, total));
}

// Rank 0: the stored results (decoded into `values`) and the kept tasks still to run.
std::vector<Index> pending_tasks(const std::vector<TaskInfo>& plan, const TaskCodec& codec,
                                 const EngineOptions& options, std::vector<TaskValue>& values, EngineReport& report) {
  std::vector<Index> pending;
  for (Index i = 0; i < static_cast<Index>(plan.size()); ++i) {
    const auto& info = plan[static_cast<std::size_t>(i)];
    if (!info.keep) continue;
    if (options.resume && !options.out_dir.empty()) {
      if (auto json = load_result(task_result_file(options.out_dir, info.key), info.key, options.fingerprint)) {
        values[static_cast<std::size_t>(i)] = codec.decode(i, *json);
        ++report.reused;
        continue;
      }
    }
    pending.push_back(i);
  }
  return pending;
}

void clear_run_files(const fs::path& out_dir) {
  std::error_code ec;
  fs::remove_all(out_dir / "tasks", ec);
  fs::remove_all(out_dir / "checkpoints", ec);
}

std::vector<TaskValue> run_single_process(const std::vector<TaskInfo>& plan, const TaskRunner& run,
                                          const TaskCodec& codec, const EngineOptions& options,
                                          EngineReport& report) {
  std::vector<TaskValue> values(plan.size());
  if (!options.resume && !options.out_dir.empty()) clear_run_files(options.out_dir);
  const std::vector<Index> pending = pending_tasks(plan, codec, options, values, report);
  const std::vector<Index> tasks = closure(plan, pending, values);
  if (options.on_start) options.on_start(units_of(plan, tasks));
  std::atomic<Index> computed{0};
  LocalScheduler scheduler(plan, run, values, options, report, options.on_progress, [&](Index i) {
    const auto& info = plan[static_cast<std::size_t>(i)];
    if (!info.keep) return;
    if (!options.out_dir.empty())
      store_result(task_result_file(options.out_dir, info.key), info.key, options.fingerprint,
                   codec.encode(i, values[static_cast<std::size_t>(i)]));
    ++computed;
  });
  const bool complete = scheduler.run(tasks);
  report.computed = computed;
  if (!complete || interrupt_requested()) {
    Index left = 0;
    for (Index i : pending) left += values[static_cast<std::size_t>(i)] ? 0 : 1;
    if (left > 0 || !complete) throw_interrupted(left, static_cast<Index>(pending.size()));
  }
  return values;
}

// One round over MPI ranks: each rank runs its share of `round`, rank 0
// gathers the encoded results. Returns false (on every rank) when a stop was
// requested on rank 0 or a rank.
bool run_round(const std::vector<TaskInfo>& plan, const TaskRunner& run, const TaskCodec& codec,
               const EngineOptions& options, const std::vector<Index>& round, std::vector<TaskValue>& values,
               EngineReport& report) {
  Communicator& comm = *options.comm;
  std::vector<Index> mine;
  for (std::size_t j = 0; j < round.size(); ++j)
    if (static_cast<int>(j % static_cast<std::size_t>(comm.size())) == comm.rank()) mine.push_back(round[j]);
  // Progress is counted on rank 0 as results arrive.
  LocalScheduler scheduler(plan, run, values, options, report, {}, {});
  bool complete = true;
  std::string error;
  int code = 0;  // a diffgen::Error's exit code, so that every rank throws the error's kind
  try {
    complete = scheduler.run(closure(plan, mine, values));
  } catch (const Interrupted&) {
    complete = false;  // a task saved its state and stopped on request: a stop, not an error
  } catch (const Error& e) {
    error = e.what();
    code = e.exit_code();
  } catch (const std::exception& e) {
    error = e.what();
  }
  Json message{{"complete", complete}, {"error", error}, {"code", code}, {"results", Json::object()}};
  for (Index i : mine)
    if (values[static_cast<std::size_t>(i)])
      message["results"][std::to_string(i)] = codec.encode(i, values[static_cast<std::size_t>(i)]);
  const auto bytes = Json::to_cbor(message);
  const auto gathered = comm.gather(std::string(bytes.begin(), bytes.end()));
  std::string verdict = "go";
  if (comm.is_root()) {
    for (const auto& text : gathered) {
      const Json m = Json::from_cbor(text);
      for (const auto& [index, value] : m["results"].items()) {
        const Index i = std::stoll(index);
        const auto& info = plan[static_cast<std::size_t>(i)];
        if (!options.out_dir.empty())
          store_result(task_result_file(options.out_dir, info.key), info.key, options.fingerprint, value);
        values[static_cast<std::size_t>(i)] = codec.decode(i, value);
        ++report.computed;
        if (options.on_progress) options.on_progress(info.units);
      }
      if (!m["error"].get<std::string>().empty() && verdict == "go")
        verdict = fmt::format("error:{}:{}", m["code"].get<int>(), m["error"].get<std::string>());
      if (!m["complete"].get<bool>() && verdict == "go") verdict = "stop";
    }
    if (verdict == "go" && interrupt_requested()) verdict = "stop";
  }
  verdict = comm.broadcast(verdict);
  if (verdict.rfind("error:", 0) == 0) {
    const std::size_t colon = verdict.find(':', 6);
    const int error_code = std::stoi(verdict.substr(6, colon - 6));
    const std::string what = verdict.substr(colon + 1);
    if (error_code == ConfigError("").exit_code()) throw ConfigError(what);
    if (error_code == DataError("").exit_code()) throw DataError(what);
    throw NumericalError(what);
  }
  return verdict == "go";
}

std::vector<TaskValue> run_ranks(const std::vector<TaskInfo>& plan, const TaskRunner& run, const TaskCodec& codec,
                                 const EngineOptions& options, EngineReport& report) {
  Communicator& comm = *options.comm;
  std::vector<TaskValue> values(plan.size());
  std::vector<Index> pending;
  if (comm.is_root()) {
    if (!options.resume && !options.out_dir.empty()) clear_run_files(options.out_dir);
    pending = by_cost(plan, pending_tasks(plan, codec, options, values, report));
    if (options.on_start) options.on_start(units_of(plan, pending));
  }
  Json list = pending;
  list = Json::parse(comm.broadcast(list.dump()));
  pending = list.get<std::vector<Index>>();
  const std::size_t round_size = static_cast<std::size_t>(comm.size()) * static_cast<std::size_t>(num_threads());
  for (std::size_t start = 0; start < pending.size(); start += round_size) {
    const std::vector<Index> round(pending.begin() + static_cast<std::ptrdiff_t>(start),
                                   pending.begin() + static_cast<std::ptrdiff_t>(std::min(pending.size(), start + round_size)));
    if (!run_round(plan, run, codec, options, round, values, report))
      throw_interrupted(static_cast<Index>(pending.size() - start), static_cast<Index>(pending.size()));
  }
  if (!comm.is_root()) return std::vector<TaskValue>(plan.size());
  return values;
}

}  // namespace

const TaskValue& TaskContext::input_value(Index task) const {
  const auto& needs = info().needs;
  if (std::find(needs.begin(), needs.end(), task) == needs.end())
    throw std::logic_error(fmt::format("task '{}' reads task {} without needing it", info().key, task));
  const TaskValue& v = values_[task];
  if (!v) throw std::logic_error(fmt::format("task '{}': input {} was not computed", info().key, task));
  return v;
}

fs::path task_result_file(const fs::path& out_dir, const std::string& key) {
  return out_dir / "tasks" / (key + ".cbor");
}

fs::path task_checkpoint_file(const fs::path& out_dir, const std::string& key) {
  return out_dir / "checkpoints" / (key + ".bin");
}

void check_plan(const std::vector<TaskInfo>& plan) {
  std::vector<std::string> keys;
  for (Index i = 0; i < static_cast<Index>(plan.size()); ++i) {
    const auto& t = plan[static_cast<std::size_t>(i)];
    if (!file_safe(t.key)) throw std::logic_error("task key '" + t.key + "' is not file-safe");
    keys.push_back(t.key);
    for (Index j : t.needs)
      if (j < 0 || j >= i)
        throw std::logic_error(fmt::format("task '{}' needs task {}, which is not an earlier task", t.key, j));
  }
  std::sort(keys.begin(), keys.end());
  if (const auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end())
    throw std::logic_error("task key '" + *dup + "' is planned twice");
}

std::vector<TaskValue> run_tasks(const std::vector<TaskInfo>& plan, const TaskRunner& run, const TaskCodec& codec,
                                 const EngineOptions& options, EngineReport* report) {
  check_plan(plan);
  EngineReport local;
  EngineReport& r = report ? *report : local;
  r = EngineReport{};
  r.seconds.assign(plan.size(), 0.0);
  r.ran.assign(plan.size(), false);
  if (options.comm && options.comm->size() > 1) return run_ranks(plan, run, codec, options, r);
  return run_single_process(plan, run, codec, options, r);
}

}  // namespace diffgen
