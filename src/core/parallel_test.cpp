#include "core/parallel.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace diffgen {
namespace {

TEST(Parallel, VisitsEveryIndexOnce) {
  for (int threads : {1, 2, 5}) {
    set_num_threads(threads);
    std::vector<std::atomic<int>> seen(1003);
    parallel_for(1003, 17, [&](Index b, Index e) {
      for (Index i = b; i < e; ++i) ++seen[i];
    });
    for (auto& s : seen) ASSERT_EQ(s.load(), 1);
  }
}

TEST(Parallel, ChunkBoundsDoNotDependOnThreadCount) {
  auto bounds = [](int threads) {
    set_num_threads(threads);
    std::vector<Index> starts(100, -1);
    parallel_for(100, 7, [&](Index b, Index e) {
      for (Index i = b; i < e; ++i) starts[i] = b;
    });
    return starts;
  };
  EXPECT_EQ(bounds(1), bounds(3));
}

TEST(Parallel, ExceptionReachesCaller) {
  set_num_threads(2);
  EXPECT_THROW(parallel_tasks(10,
                              [](Index i) {
                                if (i == 6) throw std::runtime_error("boom");
                              }),
               std::runtime_error);
}

TEST(Parallel, ThreadThatCannotStartDoesNotAbort) {
  // Lets two workers start, then fails as std::thread does under a process limit.
  std::atomic<int> started{0};
  set_thread_starter([&](std::function<void()> work) {
    if (started.fetch_add(1) >= 2)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    return std::thread(std::move(work));
  });
  set_num_threads(8);
  std::vector<std::atomic<int>> seen(1000);
  EXPECT_NO_THROW(parallel_for(1000, 3, [&](Index b, Index e) {
    for (Index i = b; i < e; ++i) ++seen[i];
  }));
  set_thread_starter({});
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
}

TEST(Parallel, NoThreadStartsStillRunsEverything) {
  set_thread_starter([](std::function<void()>) -> std::thread {
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
  });
  set_num_threads(4);
  double sum = 0;
  std::mutex m;
  parallel_for(100, 1, [&](Index b, Index) {
    std::lock_guard<std::mutex> lock(m);
    sum += static_cast<double>(b);
  });
  set_thread_starter({});
  EXPECT_EQ(sum, 4950.0);
}

TEST(Parallel, CgroupV2QuotaRoundsUp) {
  EXPECT_EQ(cpus_from_cgroup_v2("max 100000\n"), 0);
  EXPECT_EQ(cpus_from_cgroup_v2("200000 100000\n"), 2);
  EXPECT_EQ(cpus_from_cgroup_v2("150000 100000\n"), 2);
  EXPECT_EQ(cpus_from_cgroup_v2("50000 100000\n"), 1);
  EXPECT_EQ(cpus_from_cgroup_v2(""), 0);
  EXPECT_EQ(cpus_from_cgroup_v2("garbage"), 0);
}

TEST(Parallel, CgroupV1QuotaRoundsUp) {
  EXPECT_EQ(cpus_from_cgroup_v1("-1\n", "100000\n"), 0);
  EXPECT_EQ(cpus_from_cgroup_v1("300000\n", "100000\n"), 3);
  EXPECT_EQ(cpus_from_cgroup_v1("10000\n", "100000\n"), 1);
  EXPECT_EQ(cpus_from_cgroup_v1("", ""), 0);
}

TEST(Parallel, DefaultThreadsRespectAffinity) {
  const int n = default_num_threads();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_LE(n, CPU_COUNT(&set));
}

}  // namespace
}  // namespace diffgen
