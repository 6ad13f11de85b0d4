#include "numerics/statistics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace diffgen {
namespace {

TEST(Statistics, MeanEstimateOfKnownValues) {
  Vector draws(4);
  draws << 1.0, 2.0, 3.0, 6.0;  // mean 3, deviations -2, -1, 0, 3: sd² = 14/3
  const Estimate e = mean_estimate(draws);
  EXPECT_DOUBLE_EQ(e.value, 3.0);
  EXPECT_DOUBLE_EQ(e.standard_error, std::sqrt(14.0 / 3.0 / 4.0));
  EXPECT_THROW(mean_estimate(Vector::Constant(1, 2.0)), ConfigError);
}

TEST(Statistics, SpreadOfKnownValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Spread s = spread({1.0, 2.0, nan, 3.0, 6.0});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(14.0 / 3.0));  // deviations -2, -1, 0, 3
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 6.0);
  EXPECT_NEAR(s.ci95, 3.182446305 * std::sqrt(14.0 / 3.0) / 2.0, 1e-8);
}

TEST(Statistics, SingleAndEmpty) {
  EXPECT_EQ(spread({2.5}).sd, 0.0);
  EXPECT_EQ(spread({2.5}).ci95, 0.0);
  EXPECT_TRUE(std::isnan(spread({}).mean));
}

TEST(Statistics, StudentQuantiles) {
  // Reference quantiles t_{0.975, dof} to 10 digits (R: qt(0.975, dof)).
  EXPECT_NEAR(student_t975(1), 12.70620474, 1e-7);
  EXPECT_NEAR(student_t975(2), 4.302652730, 1e-8);
  EXPECT_NEAR(student_t975(4), 2.776445105, 1e-8);
  EXPECT_NEAR(student_t975(9), 2.262157163, 1e-8);
  EXPECT_NEAR(student_t975(30), 2.042272456, 1e-8);
  EXPECT_NEAR(student_t975(1000), 1.962339081, 1e-8);
  EXPECT_NEAR(student_t975(100000), 1.9599877, 1e-7);  // z + (z³ + z)/(4·dof) to 1e-9
  EXPECT_TRUE(std::isnan(student_t975(0)));
}

}  // namespace
}  // namespace diffgen
