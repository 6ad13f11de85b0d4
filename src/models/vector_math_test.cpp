#include "models/vector_math.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

namespace diffgen {
namespace {

// Distance in units in the last place of the double nearest to `exact`.
double ulps(double value, long double exact) {
  const double nearest = static_cast<double>(exact);
  const double ulp = std::nextafter(std::fabs(nearest), INFINITY) - std::fabs(nearest);
  return static_cast<double>(std::fabs(static_cast<long double>(value) - exact)) / ulp;
}

TEST(VectorMath, SigmoidWithinThreeUlp) {
  // Against long double on a dense grid over the whole range where the result is a normal double.
  std::vector<double> h;
  for (double x = -705.0; x < 745.0; x += 0.00913) h.push_back(x);
  std::vector<double> out(h.size());
  sigmoid(h.data(), out.data(), static_cast<Index>(h.size()));
  double worst = 0.0;
  for (std::size_t i = 0; i < h.size(); ++i)
    worst = std::max(worst, ulps(out[i], 1.0L / (1.0L + std::exp(-static_cast<long double>(h[i])))));
  EXPECT_LE(worst, 3.0);
}

TEST(VectorMath, SigmoidEdges) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = INFINITY;
  const double h[] = {0.0, -800.0, 800.0, inf, -inf, nan};
  double out[6];
  sigmoid(h, out, 6);
  EXPECT_EQ(out[0], 0.5);
  EXPECT_LT(out[1], 1e-300);
  EXPECT_GE(out[1], 0.0);
  EXPECT_EQ(out[2], 1.0);
  EXPECT_EQ(out[3], 1.0);
  EXPECT_LT(out[4], 1e-300);
  EXPECT_TRUE(std::isnan(out[5]));
}

TEST(VectorMath, SinCosOfTurnsWithin3e16) {
  // |2πy| up to about 3800 radians, against long double evaluated at the exact 2πy.
  std::vector<double> y;
  for (double v = -600.0; v < 600.0; v += 0.00731) y.push_back(v);
  std::vector<double> s(y.size()), c(y.size());
  sincos_2pi(y.data(), s.data(), c.data(), static_cast<Index>(y.size()));
  const long double two_pi = 2.0L * std::numbers::pi_v<long double>;
  double worst = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const long double a = two_pi * static_cast<long double>(y[i]);
    worst = std::max(worst, static_cast<double>(std::fabs(s[i] - std::sin(a))));
    worst = std::max(worst, static_cast<double>(std::fabs(c[i] - std::cos(a))));
  }
  EXPECT_LT(worst, 3e-16);
}

TEST(VectorMath, SinCosExactQuarterTurnsAndFallback) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double y[] = {0.0, 0.25, 0.5, -0.75, 3.0, 1e17, nan};
  double s[7], c[7];
  sincos_2pi(y, s, c, 7);
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(c[0], 1.0);
  EXPECT_EQ(s[1], 1.0);
  EXPECT_EQ(c[1], 0.0);
  EXPECT_EQ(s[2], 0.0);
  EXPECT_EQ(c[2], -1.0);
  EXPECT_EQ(s[3], 1.0);
  EXPECT_EQ(c[3], 0.0);
  EXPECT_EQ(s[4], 0.0);
  EXPECT_EQ(c[4], 1.0);
  EXPECT_EQ(s[5], std::sin(2.0 * std::numbers::pi * 1e17));  // beyond 2^50: std::sin
  EXPECT_TRUE(std::isnan(s[6]));
  EXPECT_TRUE(std::isnan(c[6]));
}

}  // namespace
}  // namespace diffgen
