#include "core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace diffgen {
namespace {

TEST(Rng, SameSeedSameSequence) {
  Rng a(42), b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.next_u64(), b.next_u64());
}

TEST(Rng, StreamsWithDifferentIdsDiffer) {
  Rng a = Rng::stream(7, {kStreamData, 0});
  Rng b = Rng::stream(7, {kStreamData, 1});
  Rng c = Rng::stream(7, {kStreamInit, 0});
  int equal_ab = 0, equal_ac = 0;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64(), y = b.next_u64(), z = c.next_u64();
    equal_ab += x == y;
    equal_ac += x == z;
  }
  EXPECT_EQ(equal_ab, 0);
  EXPECT_EQ(equal_ac, 0);
}

TEST(Rng, UniformAndNormalMoments) {
  // Moments of 200,000 draws within 5 standard errors of the exact values.
  Rng rng(1);
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    su2 += u * u;
    const double z = rng.normal();
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
  }
  EXPECT_NEAR(su / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(su2 / n, 1.0 / 3, 5 * std::sqrt((1.0 / 5 - 1.0 / 9) / n));
  EXPECT_NEAR(sn / n, 0.0, 5 * std::sqrt(1.0 / n));
  EXPECT_NEAR(sn2 / n, 1.0, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(sn4 / n, 3.0, 5 * std::sqrt(96.0 / n));
}

TEST(Rng, BelowIsInRangeAndUniform) {
  Rng rng(3);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const auto k = rng.below(7);
    ASSERT_LT(k, 7u);
    ++counts[k];
  }
  // Each count ~ Binomial(n, 1/7): 5 standard errors.
  const double sd = std::sqrt(n * (1.0 / 7) * (6.0 / 7));
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, 5 * sd);
}

TEST(Rng, StateRoundTripResumesTheSequence) {
  Rng a(9);
  a.normal();  // leaves a cached spare value in the state
  const auto st = a.state();
  const double x1 = a.normal(), x2 = a.normal();
  Rng b(0);
  b.set_state(st);
  EXPECT_EQ(b.normal(), x1);
  EXPECT_EQ(b.normal(), x2);
}

}  // namespace
}  // namespace diffgen
