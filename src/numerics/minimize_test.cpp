#include "numerics/minimize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

namespace diffgen {
namespace {

const double kPhi = 0.5 * (std::sqrt(5.0) - 1.0);

TEST(GoldenSection, FindsTheMinimumOfAParabola) {
  const LineMinimum m = golden_section([](double x) { return (x - 2.0) * (x - 2.0) + 1.0; }, 0.0, 5.0, 60);
  // Near a smooth minimum f is flat to rounding within √ε of it.
  EXPECT_NEAR(m.x, 2.0, 1e-7);
  EXPECT_DOUBLE_EQ(m.value, 1.0);
  EXPECT_EQ(m.evaluations, 62);
}

TEST(GoldenSection, ShrinksTheBracketByThePhiPerStep) {
  // A kink: the error in x is the bracket's width, φ^(steps + 1) (hi − lo).
  for (Index steps : {0, 1, 5, 20, 40}) {
    const double x0 = 1.0 / 3.0;
    const LineMinimum m = golden_section([&](double x) { return std::abs(x - x0); }, -1.0, 2.0, steps);
    EXPECT_LE(std::abs(m.x - x0), std::pow(kPhi, static_cast<double>(steps + 1)) * 3.0 * (1 + 1e-12)) << steps;
    EXPECT_EQ(m.value, std::abs(m.x - x0));
  }
  EXPECT_NEAR(golden_section([](double x) { return -std::sin(x); }, 0.0, 3.0, 80).x, std::numbers::pi / 2, 1e-7);
}

TEST(GoldenSection, EvaluatesInteriorPointsOnlyAndReturnsTheBestOfThem) {
  std::vector<double> seen;
  const LineMinimum m = golden_section(
      [&](double x) {
        seen.push_back(x);
        return std::cos(x);
      },
      2.0, 4.5, 12);
  ASSERT_EQ(seen.size(), 14u);
  EXPECT_DOUBLE_EQ(seen[0], 4.5 - kPhi * 2.5);
  EXPECT_DOUBLE_EQ(seen[1], 2.0 + kPhi * 2.5);
  double best = seen[0];
  for (double x : seen) {
    EXPECT_GT(x, 2.0);
    EXPECT_LT(x, 4.5);
    if (std::cos(x) < std::cos(best)) best = x;
  }
  EXPECT_EQ(m.x, best);
  EXPECT_NEAR(m.x, std::numbers::pi, 1e-2);
}

}  // namespace
}  // namespace diffgen
