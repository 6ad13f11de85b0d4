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

}  // namespace
}  // namespace diffgen
