#include "core/parallel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
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

}  // namespace
}  // namespace diffgen
