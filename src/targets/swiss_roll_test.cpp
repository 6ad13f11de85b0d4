#include "targets/swiss_roll.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

TEST(SwissRoll, MeanSquaredNormMatchesItsClosedForm) {
  const SwissRoll roll;
  // E t² over [1.5π, 4.5π] = 9.75 π²; E‖x‖² = 0.04 (9.75 π² + 0.5).
  EXPECT_NEAR(roll.mean_squared_norm(), 0.04 * (9.75 * std::numbers::pi * std::numbers::pi + 0.5),
              tolerance::kRoundoff);
  Rng rng(1);
  const Matrix x = roll.sample(200000, rng);
  const Vector r2 = x.rowwise().squaredNorm();
  const double mean = r2.mean();
  const double se = std::sqrt((r2.array() - mean).square().sum() / (r2.size() - 1.0) / r2.size());
  EXPECT_NEAR(mean, roll.mean_squared_norm(), tolerance::kStandardErrors * se);
}

TEST(SwissRoll, WithoutNoiseEveryPointLiesOnTheSpiral) {
  // r = t / 5 and the angle of (x, z) is t mod 2π: points (r cos 5r, r sin 5r).
  const SwissRoll roll(0.0);
  Rng rng(2);
  const Matrix x = roll.sample(1000, rng);
  for (Index i = 0; i < x.rows(); ++i) {
    const double r = x.row(i).norm(), t = 5.0 * r;
    EXPECT_GE(t, 1.5 * std::numbers::pi - 1e-9);
    EXPECT_LE(t, 4.5 * std::numbers::pi + 1e-9);
    EXPECT_NEAR(x(i, 0), r * std::cos(t), 1e-12);
    EXPECT_NEAR(x(i, 1), r * std::sin(t), 1e-12);
  }
}

TEST(SwissRoll, SameStreamSamePointsAndBadSettingsRefused) {
  Rng a(3), b(3);
  EXPECT_EQ(SwissRoll().sample(50, a), SwissRoll().sample(50, b));
  EXPECT_THROW(SwissRoll(-1.0), ConfigError);
  EXPECT_THROW(SwissRoll(0.5, 0.0), ConfigError);
}

// E‖x‖² of a Gaussian mixture: tr Cov + ‖mean‖².
double mean_squared_norm(const GaussianMixture& mixture) {
  return mixture.covariance().trace() + mixture.mean().squaredNorm();
}

TEST(SwissRollMixture, MeansSitAtTheCellMidpointsOfTheSpiralWithEqualWeights) {
  const Index k = 12;
  const GaussianMixture mixture = swiss_roll_mixture(k, 0.5, 0.2);
  ASSERT_EQ(mixture.dim(), 2);
  ASSERT_EQ(mixture.components(), k);
  const double pi = std::numbers::pi, cell = 3.0 * pi / k;
  for (Index j = 0; j < k; ++j) {
    const double t = 1.5 * pi + (j + 0.5) * cell;
    EXPECT_NEAR(mixture.means()(j, 0), 0.2 * t * std::cos(t), 1e-12);
    EXPECT_NEAR(mixture.means()(j, 1), 0.2 * t * std::sin(t), 1e-12);
    EXPECT_DOUBLE_EQ(mixture.weights()[j], 1.0 / k);
    // Isotropic: noise² across plus the along-curve share, the same for every component.
    const SquareMatrix c = mixture.covariance(j);
    EXPECT_NEAR(c(0, 0), 0.04 * (0.25 + (1.0 + 9.75 * pi * pi) * cell * cell / 24.0), 1e-12);
    EXPECT_DOUBLE_EQ(c(1, 1), c(0, 0));
    EXPECT_DOUBLE_EQ(c(0, 1), 0.0);
  }
}

TEST(SwissRollMixture, MeanSquaredNormIsTheRollsPlusTheAlongCurveShare) {
  const double pi = std::numbers::pi, mean_t2 = 9.75 * pi * pi;
  for (const Index k : {Index{20}, Index{40}}) {
    const SwissRoll roll;
    const double cell = 3.0 * pi / k;
    const double mixture_norm = mean_squared_norm(swiss_roll_mixture(k));
    // The excess the header derives: scale² Δ² E t² / 12.
    EXPECT_NEAR(mixture_norm, roll.mean_squared_norm() + 0.04 * cell * cell * mean_t2 / 12.0, 1e-10);
    EXPECT_NEAR(mixture_norm / roll.mean_squared_norm(), 1.0, 0.05) << k << " components";
  }
}

TEST(SwissRollMixture, BadSettingsRefused) {
  EXPECT_THROW(swiss_roll_mixture(0), ConfigError);
  EXPECT_THROW(swiss_roll_mixture(20, -0.5), ConfigError);
  EXPECT_THROW(swiss_roll_mixture(20, 0.5, 0.0), ConfigError);
  // Without noise the along-curve share keeps the variance positive.
  EXPECT_GT(swiss_roll_mixture(20, 0.0).covariance(0)(0, 0), 0.0);
}

}  // namespace
}  // namespace diffgen
