#include "numerics/power_fit.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.hpp"

namespace diffgen {
namespace {

std::vector<double> log_spaced(double lo, double hi, int points) {
  std::vector<double> x;
  for (int i = 0; i < points; ++i) x.push_back(lo * std::pow(hi / lo, static_cast<double>(i) / (points - 1)));
  return x;
}

TEST(PowerFit, ExactPowerLawsGiveTheirExponent) {
  const auto x = log_spaced(100, 10000, 7);
  for (double beta : {-0.8, -0.4, 0.4, 1.0}) {
    std::vector<double> y;
    for (double xi : x) y.push_back(3.0 * std::pow(xi, beta));
    const PowerFit f = fit_power_law(x, y);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f.points, 7);
    EXPECT_EQ(f.skipped, 0);
    EXPECT_NEAR(f.slope, beta, 1e-12);
    EXPECT_NEAR(f.intercept, std::log(3.0), 1e-10);
    EXPECT_LT(f.slope_se, 1e-12);
    EXPECT_NEAR(f.r2, 1.0, 1e-12);
    EXPECT_NEAR(f.predict(500.0), 3.0 * std::pow(500.0, beta), 1e-9 * 3.0 * std::pow(500.0, beta));
  }
}

TEST(PowerFit, HandComputedThreePointExample) {
  // u = log x = (0, 1, 2), v = log y = (0, 1, 3): slope 3/2, intercept −1/6,
  // residuals (1/6, −1/3, 1/6), s² = 1/6, se = √(s² / 2) = √(1/12), r² = 1 − (1/6)/(42/9).
  const std::vector<double> x{1.0, std::exp(1.0), std::exp(2.0)};
  const std::vector<double> y{1.0, std::exp(1.0), std::exp(3.0)};
  const PowerFit f = fit_power_law(x, y);
  EXPECT_NEAR(f.slope, 1.5, 1e-14);
  EXPECT_NEAR(f.intercept, -1.0 / 6.0, 1e-14);
  EXPECT_NEAR(f.slope_se, std::sqrt(1.0 / 12.0), 1e-14);
  EXPECT_NEAR(f.slope_ci95, student_t975(1) * std::sqrt(1.0 / 12.0), 1e-12);
  EXPECT_NEAR(student_t975(1), 12.7062047, 1e-6);
  EXPECT_NEAR(f.r2, 1.0 - (1.0 / 6.0) / (42.0 / 9.0), 1e-14);
}

TEST(PowerFit, NonPositiveValuesAreSkippedAndCounted) {
  const std::vector<double> x{1, 2, 4, 8};
  const PowerFit f = fit_power_law(x, {1.0, 0.5, -0.1, 0.125});
  EXPECT_EQ(f.points, 3);
  EXPECT_EQ(f.skipped, 1);
  EXPECT_NEAR(f.slope, -1.0, 1e-14);
  const PowerFit none = fit_power_law({1.0}, {1.0});
  EXPECT_FALSE(none.ok());
  EXPECT_TRUE(std::isnan(none.slope));
  EXPECT_FALSE(fit_power_law({2.0, 2.0, 2.0}, {1.0, 2.0, 3.0}).ok());  // no spread in x
  EXPECT_THROW(fit_power_law({1.0, 2.0}, {1.0}), std::invalid_argument);
}

// Noisy power laws y = 2 x^β e^{σε}: over many data sets the slope is
// unbiased, its standard error matches the spread of the slopes, and the 95%
// interval covers the true slope 95% of the time.
TEST(PowerFit, NoisyDataRecoverTheSlopeWithHonestIntervals) {
  const double beta = -0.8, sigma = 0.1;
  const auto x = log_spaced(10, 10000, 12);
  Rng rng = Rng::stream(7, {kStreamEval});
  const int sets = 2000;
  double sum = 0, sum2 = 0, se_sum = 0;
  int covered = 0;
  for (int k = 0; k < sets; ++k) {
    std::vector<double> y;
    for (double xi : x) y.push_back(2.0 * std::pow(xi, beta) * std::exp(sigma * rng.normal()));
    const PowerFit f = fit_power_law(x, y);
    sum += f.slope;
    sum2 += f.slope * f.slope;
    se_sum += f.slope_se;
    covered += std::abs(f.slope - beta) <= f.slope_ci95 ? 1 : 0;
  }
  const double mean = sum / sets, sd = std::sqrt((sum2 - sets * mean * mean) / (sets - 1));
  // The true standard error: σ / √Σ(u − ū)².
  double ubar = 0, suu = 0;
  for (double xi : x) ubar += std::log(xi) / x.size();
  for (double xi : x) suu += (std::log(xi) - ubar) * (std::log(xi) - ubar);
  const double se_true = sigma / std::sqrt(suu);
  EXPECT_NEAR(mean, beta, 4.0 * se_true / std::sqrt(sets));
  EXPECT_NEAR(sd / se_true, 1.0, 0.06);  // the sd of a sample sd over 2000 sets is ~1.6%
  EXPECT_NEAR(se_sum / sets / se_true, 1.0, 0.03);
  // Binomial(2000, 0.95): sd 0.0049; 4 sd either side.
  EXPECT_NEAR(covered / static_cast<double>(sets), 0.95, 0.02);
}

TEST(PowerFit, OverSeedsUsesTheSpreadOfPerSeedSlopes) {
  const auto x = log_spaced(100, 10000, 5);
  std::vector<std::vector<double>> y;
  const std::vector<double> slopes{-0.9, -1.0, -1.1, -1.0};
  for (std::size_t k = 0; k < slopes.size(); ++k) {
    std::vector<double> row;
    for (double xi : x) row.push_back((1.0 + k) * std::pow(xi, slopes[k]));
    y.push_back(row);
  }
  const SeedSlopes s = fit_power_law_over_seeds(x, y);
  ASSERT_EQ(s.per_seed.size(), 4u);
  EXPECT_EQ(s.slope.count, 4);
  EXPECT_EQ(s.seeds_left_out, 0);
  EXPECT_NEAR(s.slope.mean, -1.0, 1e-12);
  const double sd = std::sqrt((0.01 + 0 + 0.01 + 0) / 3.0);
  EXPECT_NEAR(s.slope.sd, sd, 1e-12);
  EXPECT_NEAR(s.headline_ci95(), student_t975(3) * sd / 2.0, 1e-12);
  EXPECT_NEAR(s.headline_slope(), -1.0, 1e-12);
  EXPECT_NE(s.method().find("per-seed"), std::string::npos);
  // The seed-mean curve is averaged point by point.
  EXPECT_NEAR(s.mean_y[0], (1 * std::pow(100.0, -0.9) + 2 * 0.01 + 3 * std::pow(100.0, -1.1) + 4 * 0.01) / 4, 1e-15);
}

TEST(PowerFit, OneSeedFallsBackToTheRegressionInterval) {
  const std::vector<double> x{1, 2, 4, 8, 16};
  const std::vector<std::vector<double>> y{{1.0, 0.52, 0.24, 0.13, 0.061}};
  const SeedSlopes s = fit_power_law_over_seeds(x, y);
  EXPECT_EQ(s.slope.count, 1);
  EXPECT_EQ(s.headline_slope(), s.of_mean.slope);
  EXPECT_EQ(s.headline_ci95(), s.of_mean.slope_ci95);
  EXPECT_NE(s.method().find("regression"), std::string::npos);
  EXPECT_NEAR(s.of_mean.slope, -1.0, 0.05);
}

TEST(PowerFit, GeometricSeedMeansAverageTheLogs) {
  const std::vector<double> x{1, 10, 100};
  const std::vector<std::vector<double>> y{{1.0, 10.0, 100.0}, {100.0, 1000.0, std::nan("")}};
  const SeedSlopes s = fit_power_law_over_seeds(x, y, true);
  EXPECT_NEAR(s.mean_y[0], 10.0, 1e-12);
  EXPECT_NEAR(s.mean_y[1], 100.0, 1e-12);
  EXPECT_NEAR(s.mean_y[2], 100.0, 1e-12);  // only the seed that has a value
  EXPECT_EQ(s.slope.count, 1);             // the second seed's fit skipped a point: left out
  EXPECT_EQ(s.seeds_left_out, 1);
}

TEST(PowerFit, PartialSeedsAreFittedOnTheirOwnValues) {
  // Censored at large x: the second seed has no value at x = 1000.
  const std::vector<double> x{1, 10, 100, 1000};
  const std::vector<std::vector<double>> y{
      {1.0, 10.0, 100.0, 1000.0}, {2.0, 20.0, 200.0, std::nan("")}, {1.0, 10.0, std::nan(""), std::nan("")}};
  const SeedSlopes s = fit_power_law_over_seeds(x, y, true, true);
  EXPECT_EQ(s.slope.count, 2);  // the third seed has only 2 values: left out
  EXPECT_EQ(s.seeds_left_out, 1);
  EXPECT_NEAR(s.slope.mean, 1.0, 1e-12);
  EXPECT_EQ(s.per_seed[1].points, 3);
}

TEST(PowerFit, SeedsWithNonPositiveValuesAreLeftOutOfTheSpread) {
  const std::vector<double> x{1, 10, 100};
  const std::vector<std::vector<double>> y{{1.0, 0.1, 0.01}, {2.0, 0.2, 0.02}, {1.0, 0.1, -0.001}};
  const SeedSlopes s = fit_power_law_over_seeds(x, y);
  EXPECT_EQ(s.slope.count, 2);
  EXPECT_EQ(s.seeds_left_out, 1);
  EXPECT_NEAR(s.slope.mean, -1.0, 1e-12);
}

}  // namespace
}  // namespace diffgen
