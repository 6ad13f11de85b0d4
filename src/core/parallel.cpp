#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace diffgen {
namespace {

std::atomic<int> g_threads{0};
// Set on worker threads: a parallel_for inside another runs serially, so that
// seeds run in parallel do not each spawn a second level of threads.
thread_local bool t_inside_parallel = false;

}  // namespace

void set_num_threads(int n) {
  g_threads = std::max(1, n);
}

int num_threads() {
  int n = g_threads.load();
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
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
