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

TEST(SpearmanCorrelation, RanksWithTiesAndDegenerateCases) {
  // Any increasing map of x gives 1, any decreasing one −1.
  EXPECT_DOUBLE_EQ(spearman_correlation({1, 2, 3, 4}, {0.1, 5, 7, 100}), 1.0);
  EXPECT_DOUBLE_EQ(spearman_correlation({1, 2, 3, 4}, {9, 3, 2, -1}), -1.0);
  // Ranks (1, 2, 3) against (2, 1, 3): 1 − 6 Σd²/(n(n²−1)) = 1 − 6·2/24 = 0.5.
  EXPECT_DOUBLE_EQ(spearman_correlation({1, 2, 3}, {20, 10, 30}), 0.5);
  // A tie: y ranks (1.5, 1.5, 3); about their mean 2 the products with
  // (1, 2, 3) sum to 1.5, the squares to 2 and 1.5: ρ = 1.5/√3 = √3/2.
  EXPECT_NEAR(spearman_correlation({1, 2, 3}, {5, 5, 6}), std::sqrt(3.0) / 2.0, 1e-15);
  EXPECT_TRUE(std::isnan(spearman_correlation({1, 2}, {3, 3})));
  EXPECT_TRUE(std::isnan(spearman_correlation({1}, {3})));
  EXPECT_TRUE(std::isnan(spearman_correlation({1, 2}, {3, std::nan("")})));
}

}  // namespace
}  // namespace diffgen
