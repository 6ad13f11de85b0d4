#include "numerics/tabulated_curve.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace diffgen {
namespace {

TEST(TabulatedCurve, ReproducesAQuadraticAndItsSlopeEverywhere) {
  const auto f = [](double x) { return 3.0 - 2.0 * x + 0.7 * x * x; };
  const TabulatedCurve c(f, 0.2, 2.0, 10);
  for (double x = 0.2; x <= 2.0; x += 0.013) {
    EXPECT_NEAR(c.value(x), f(x), 1e-12) << x;
    EXPECT_NEAR(c.slope(x), -2.0 + 1.4 * x, 1e-11) << x;
  }
}

TEST(TabulatedCurve, SlopeOfASmoothFunctionConvergesWithTheSpacing) {
  const auto f = [](double x) { return std::sin(3.0 * x); };
  double previous = 0.0;
  for (Index nodes : {11, 21, 41}) {
    const TabulatedCurve c(f, 0.0, 2.0, nodes);
    double worst = 0.0;
    for (double x = 0.0; x <= 2.0; x += 0.001) worst = std::max(worst, std::abs(c.slope(x) - 3.0 * std::cos(3.0 * x)));
    if (previous > 0.0) {
      EXPECT_LT(worst, previous / 3.0) << nodes;  // second order in h, so about 4× per halving
    }
    previous = worst;
  }
  EXPECT_LT(previous, 0.03);
}

TEST(TabulatedCurve, ClampsOutsideItsRange) {
  const TabulatedCurve c([](double x) { return x * x; }, 1.0, 2.0, 5);
  EXPECT_NEAR(c.value(0.0), 1.0, 1e-14);
  EXPECT_NEAR(c.value(5.0), 4.0, 1e-14);
}

TEST(TabulatedCurve, RejectsBadRangesFewNodesAndNonFiniteValues) {
  const auto f = [](double x) { return x; };
  EXPECT_THROW(TabulatedCurve(f, 1.0, 1.0, 5), std::invalid_argument);
  EXPECT_THROW(TabulatedCurve(f, 0.0, 1.0, 2), std::invalid_argument);
  try {
    TabulatedCurve([](double x) { return x > 0.5 ? std::numeric_limits<double>::quiet_NaN() : x; }, 0.0, 1.0, 5);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("x = 0.75"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace diffgen
