#include "core/parallel.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

namespace diffgen {
namespace {

std::atomic<int> g_threads{0};
// Set on worker threads: a parallel_for inside another runs serially, so that
// seeds run in parallel do not each spawn a second level of threads.
thread_local bool t_inside_parallel = false;

std::mutex g_starter_mutex;
ThreadStarter g_starter;  // empty: std::thread
std::once_flag g_warned;

std::thread start_thread(std::function<void()> work) {
  ThreadStarter starter;
  {
    std::lock_guard<std::mutex> lock(g_starter_mutex);
    starter = g_starter;
  }
  if (starter) return starter(std::move(work));
  return std::thread(std::move(work));
}

// Whole text of a small system file; empty when absent.
std::string read_small_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// CPUs for `quota` microseconds per `period`, rounded up; 0 for no limit.
int cpus_for_quota(double quota, double period) {
  if (!(quota > 0) || !(period > 0) || !std::isfinite(quota / period)) return 0;
  const double cpus = std::ceil(quota / period);
  return cpus >= 1e6 ? 0 : std::max(1, static_cast<int>(cpus));
}

int cgroup_cpus() {
  if (int n = cpus_from_cgroup_v2(read_small_file("/sys/fs/cgroup/cpu.max")); n > 0) return n;
  return cpus_from_cgroup_v1(read_small_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                             read_small_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
}

int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
}

}  // namespace

int cpus_from_cgroup_v2(const std::string& cpu_max) {
  std::istringstream in(cpu_max);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max") return 0;
  try {
    return cpus_for_quota(std::stod(quota), period);
  } catch (const std::exception&) {
    return 0;
  }
}

int cpus_from_cgroup_v1(const std::string& quota_us, const std::string& period_us) {
  std::istringstream q(quota_us), p(period_us);
  double quota = 0, period = 0;
  if (!(q >> quota) || !(p >> period)) return 0;
  return cpus_for_quota(quota, period);
}

int default_num_threads() {
  int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (const int a = affinity_cpus(); a > 0) n = std::min(n, a);
  if (const int c = cgroup_cpus(); c > 0) n = std::min(n, c);
  return std::max(1, n);
}

void set_thread_starter(ThreadStarter starter) {
  std::lock_guard<std::mutex> lock(g_starter_mutex);
  g_starter = std::move(starter);
}

void set_num_threads(int n) {
  g_threads = std::max(1, n);
}

int num_threads() {
  int n = g_threads.load();
  if (n <= 0) {
    // Computed once: the quota files are read at the first parallel loop.
    static const int fallback = default_num_threads();
    n = fallback;
  }
  return n;
}

void parallel_for(Index n, Index grain, const std::function<void(Index, Index)>& body) {
  if (n <= 0) return;
  grain = std::max<Index>(1, grain);
  const Index chunks = (n + grain - 1) / grain;
  const int workers = t_inside_parallel ? 1 : static_cast<int>(std::min<Index>(chunks, num_threads()));
  if (workers <= 1) {
    for (Index c = 0; c < chunks; ++c) body(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
  // Threads claim chunks from a shared counter; a chunk's bounds depend only
  // on (n, grain), so what each index computes is independent of who runs it.
  std::atomic<Index> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    const bool was_inside = t_inside_parallel;
    t_inside_parallel = true;
    struct Restore {
      bool value;
      ~Restore() { t_inside_parallel = value; }
    } restore{was_inside};
    for (;;) {
      const Index c = next.fetch_add(1);
      if (c >= chunks) return;
      try {
        body(c * grain, std::min(n, (c + 1) * grain));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = chunks;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  // A thread that cannot be created (a process limit) must not abort the
  // run: the threads started so far and this one share the chunks, and the
  // result is the same for any number of threads, so go on with fewer.
  for (int w = 1; w < workers; ++w) {
    try {
      pool.push_back(start_thread(work));
    } catch (const std::exception& e) {
      std::call_once(g_warned, [&] {
        std::fprintf(stderr, "%s\n",
                     fmt::format("diffgen: warning: could only start {} of {} threads ({}); continuing with {}", w,
                                 workers, e.what(), w)
                         .c_str());
      });
      break;
    }
  }
  work();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

void parallel_tasks(Index n, const std::function<void(Index)>& body) {
  parallel_for(n, 1, [&](Index b, Index e) {
    for (Index i = b; i < e; ++i) body(i);
  });
}

}  // namespace diffgen
