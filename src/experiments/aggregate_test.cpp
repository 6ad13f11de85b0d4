#include "experiments/aggregate.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace diffgen {
namespace {

TEST(Aggregate, SpreadOfKnownValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Spread s = spread({1.0, 2.0, nan, 3.0, 6.0});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(14.0 / 3.0));  // deviations -2, -1, 0, 3
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 6.0);
  EXPECT_NEAR(s.ci95, 3.182 * std::sqrt(14.0 / 3.0) / 2.0, 1e-12);
}

TEST(Aggregate, SingleAndEmpty) {
  EXPECT_EQ(spread({2.5}).sd, 0.0);
  EXPECT_EQ(spread({2.5}).ci95, 0.0);
  EXPECT_TRUE(std::isnan(spread({}).mean));
}

TEST(Aggregate, StudentQuantiles) {
  EXPECT_DOUBLE_EQ(student_t975(4), 2.776);
  EXPECT_NEAR(student_t975(1000), 1.962, 1e-3);
}

}  // namespace
}  // namespace diffgen
