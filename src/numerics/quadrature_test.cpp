#include "numerics/quadrature.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"

namespace diffgen {
namespace {

Vector sample(const Vector& x, double (*f)(double)) {
  return x.unaryExpr(f);
}

double cubic(double x) {
  return 2.0 * x * x * x - 3.0 * x * x + 0.5 * x - 7.0;
}
double cubic_antiderivative(double x) {
  return 0.5 * x * x * x * x - x * x * x + 0.25 * x * x - 7.0 * x;
}
double exp_fn(double x) {
  return std::exp(x);
}

TEST(Grid, ValidateNamesTheKeyAndAcceptsOnly4kPlus1) {
  EXPECT_EQ(Grid{}.validate(), "");
  EXPECT_EQ((Grid{-1, 1, 9}).validate(), "");
  const std::string err = (Grid{-12, 12, 2400}).validate("kl.grid");
  EXPECT_NE(err.find("kl.grid.points = 2400"), std::string::npos) << err;
  EXPECT_NE((Grid{-12, 12, 2403}).validate(), "");  // odd, but every other point would be even
  EXPECT_NE((Grid{1, 1, 9}).validate(), "");
  EXPECT_NE((Grid{0, NAN, 9}).validate(), "");
}

TEST(Grid, ValidateRefusesBoundsWhoseDifferenceOverflows) {
  const std::string err = (Grid{-1e308, 1e308, 9}).validate("kl");
  EXPECT_NE(err.find("kl.lo = -1e+308"), std::string::npos) << err;
  EXPECT_NE(err.find("finite hi - lo"), std::string::npos) << err;
}

TEST(Grid, ValidateRefusesAGridBeyondMemorySayingHowMuch) {
  // 1e9 + 1 nodes would be about 22 GiB of nodes and densities; 2^40 + 1 is past any machine.
  const std::string err = (Grid{-12, 12, (Index{1} << 40) + 1}).validate("kl");
  EXPECT_NE(err.find("kl.points = 1099511627777 needs about 24 TiB"), std::string::npos) << err;
}

TEST(Grid, CoarseNodesAreEveryOtherNodeBitForBit) {
  const Grid g{-12.0, 12.0, 2401};
  const Vector fine = g.nodes(), coarse = g.coarse().nodes();
  ASSERT_EQ(coarse.size(), 1201);
  EXPECT_EQ(fine[0], -12.0);
  EXPECT_EQ(fine[2400], 12.0);
  for (Index j = 0; j < coarse.size(); ++j) ASSERT_EQ(coarse[j], fine[2 * j]) << j;
  EXPECT_EQ(Vector(every_other(fine)), coarse);
}

TEST(Simpson, ExactForCubics) {
  const Grid g{-1.0, 2.0, 9};
  const double exact = cubic_antiderivative(2.0) - cubic_antiderivative(-1.0);
  EXPECT_NEAR(simpson(sample(g.nodes(), cubic), g.step()), exact, 1e-12);
  EXPECT_NEAR(simpson(Vector::Constant(3, 2.0), 0.5), 2.0, 1e-15);
}

TEST(Simpson, FourthOrderOnExp) {
  // Halving h divides the error by 16 (h^4).
  const double exact = std::exp(1.0) - std::exp(-2.0);
  double previous = 0.0;
  for (Index points : {17, 33, 65}) {
    const Grid g{-2.0, 1.0, points};
    const double err = std::abs(simpson(sample(g.nodes(), exp_fn), g.step()) - exact);
    if (previous > 0.0) {
      EXPECT_NEAR(previous / err, 16.0, 0.5) << points;
    }
    previous = err;
  }
}

TEST(Simpson, RejectsEvenCounts) {
  EXPECT_THROW(simpson(Vector::Ones(4), 0.1), ConfigError);
  EXPECT_THROW(simpson(Vector::Ones(1), 0.1), ConfigError);
}

TEST(Simpson, AcceptsStridedViews) {
  const Grid g{0.0, 1.0, 17};
  const Vector f = sample(g.nodes(), exp_fn);
  EXPECT_EQ(simpson(every_other(f), g.coarse().step()), simpson(Vector(every_other(f)), g.coarse().step()));
}

TEST(CumulativeIntegral, ExactForCubicsAtEveryNode) {
  const Grid g{-1.5, 2.5, 13};
  const Vector x = g.nodes();
  const Vector F = cumulative_integral(sample(x, cubic), g.step());
  for (Index i = 0; i < x.size(); ++i)
    EXPECT_NEAR(F[i], cubic_antiderivative(x[i]) - cubic_antiderivative(x[0]), 1e-12) << i;
  // The smallest allowed size uses both one-sided formulas only.
  const Grid g4{0.0, 3.0, 4};
  const Vector F4 = cumulative_integral(sample(g4.nodes(), cubic), g4.step());
  EXPECT_NEAR(F4[3], cubic_antiderivative(3.0) - cubic_antiderivative(0.0), 1e-12);
  EXPECT_THROW(cumulative_integral(Vector::Ones(3), 0.1), ConfigError);
}

TEST(CumulativeIntegral, FourthOrderOnExpAndSin) {
  for (int which = 0; which < 2; ++which) {
    double previous = 0.0;
    for (Index points : {81, 161, 321, 641}) {
      const Grid g{-2.0, 2.0, points};
      const Vector x = g.nodes();
      const Vector f = which == 0 ? Vector(x.array().exp()) : Vector((3.0 * x.array()).sin());
      const Vector exact = which == 0 ? Vector(x.array().exp() - std::exp(-2.0))
                                      : Vector((std::cos(-6.0) - (3.0 * x.array()).cos()) / 3.0);
      const double err = (cumulative_integral(f, g.step()) - exact).cwiseAbs().maxCoeff();
      if (previous > 0.0) {
        EXPECT_NEAR(previous / err, 16.0, 2.0) << which << " " << points;
      }
      previous = err;
    }
  }
}

TEST(GaussKronrod, KnownIntegralsWithManyUpperLimits) {
  // ∫_{-100}^{x} dy / (1 + y²) = atan(x) - atan(-100): a sharp bump far
  // from the lower limit, so the rule must subdivide.
  Vector upper = Vector::LinSpaced(51, -10.0, 10.0);
  const BatchFunction f = [](const Vector& y, Vector& fy) { fy = (1.0 + y.array().square()).inverse().matrix(); };
  const GaussKronrodSummary gk = integrate_gauss_kronrod(f, Vector::Constant(51, -100.0), upper);
  EXPECT_EQ(gk.unconverged, 0);
  EXPECT_GT(gk.evaluations, 51 * 15);  // it did subdivide
  for (Index j = 0; j < upper.size(); ++j) {
    const double exact = std::atan(upper[j]) - std::atan(-100.0);
    EXPECT_NEAR(gk.integral[j], exact, 1.49e-8 * std::abs(exact) + 1e-12) << upper[j];
    EXPECT_LE(gk.error[j], std::max(1.49e-8, 1.49e-8 * std::abs(gk.integral[j])));
  }
}

TEST(GaussKronrod, ExactForHighDegreePolynomialsInOnePanel) {
  // K15 integrates polynomials of degree <= 22 exactly: no subdivision.
  const BatchFunction f = [](const Vector& y, Vector& fy) { fy = y.array().pow(10).matrix(); };
  Vector lo(2), hi(2);
  lo << 0.0, -1.0;
  hi << 1.0, 2.0;
  const GaussKronrodSummary gk = integrate_gauss_kronrod(f, lo, hi);
  EXPECT_EQ(gk.evaluations, 30);
  EXPECT_NEAR(gk.integral[0], 1.0 / 11.0, 1e-15);
  EXPECT_NEAR(gk.integral[1], (std::pow(2.0, 11) + 1.0) / 11.0, 1e-12);
}

TEST(GaussKronrod, ReportsUnconvergedIntegralsAtTheLimit) {
  const BatchFunction f = [](const Vector& y, Vector& fy) { fy = (50.0 * y.array()).sin().matrix(); };
  GaussKronrodOptions o;
  o.limit = 2;
  const GaussKronrodSummary gk = integrate_gauss_kronrod(f, Vector::Zero(1), Vector::Constant(1, 20.0), o);
  EXPECT_EQ(gk.unconverged, 1);
  o.limit = 0;
  EXPECT_THROW(integrate_gauss_kronrod(f, Vector::Zero(1), Vector::Ones(1), o), ConfigError);
}

TEST(GaussLegendre, IntegratesPolynomialsOfDegree2nMinus1Exactly) {
  for (Index n : {1, 2, 5, 6, 12}) {
    Vector x, w;
    gauss_legendre(n, x, w);
    EXPECT_NEAR(w.sum(), 2.0, 1e-14);
    for (Index p = 0; p <= 2 * n - 1; ++p) {
      const double exact = p % 2 == 1 ? 0.0 : 2.0 / static_cast<double>(p + 1);
      EXPECT_NEAR(w.dot(x.array().pow(static_cast<double>(p)).matrix()), exact, 1e-13) << n << " " << p;
    }
    // Degree 2n is not integrated exactly: the rule can fail.
    EXPECT_GT(std::abs(w.dot(x.array().pow(static_cast<double>(2 * n)).matrix()) - 2.0 / (2 * n + 1)), 1e-10);
  }
}

TEST(GaussLegendre, UnitRuleIntegratesPolynomialsUpToDegree2nMinus1) {
  for (Index n : {1, 2, 5, 16, 64}) {
    Vector v, w;
    gauss_legendre_unit(n, v, w);
    ASSERT_EQ(v.size(), n);
    EXPECT_NEAR(w.sum(), 1.0, 1e-14) << n;
    for (Index i = 0; i < n; ++i) {
      EXPECT_GT(v[i], 0.0);
      EXPECT_LT(v[i], 1.0);
      if (i > 0) {
        EXPECT_GT(v[i], v[i - 1]);
      }
      EXPECT_GT(w[i], 0.0);
    }
    for (Index k = 0; k <= 2 * n - 1; ++k) {
      double sum = 0;
      for (Index i = 0; i < n; ++i) sum += w[i] * std::pow(v[i], static_cast<double>(k));
      EXPECT_NEAR(sum, 1.0 / (k + 1.0), 1e-14) << "n " << n << " degree " << k;
    }
    // Degree 2n is not exact: the rule is Gauss's, not a higher one (for large
    // n the error on [0, 1] is below rounding, so only small n show it).
    if (n <= 5) {
      double sum = 0;
      for (Index i = 0; i < n; ++i) sum += w[i] * std::pow(v[i], 2.0 * n);
      EXPECT_GT(std::abs(sum - 1.0 / (2.0 * n + 1.0)), 1e-6) << n;
    }
  }
  Vector v, w;
  gauss_legendre_unit(1, v, w);
  EXPECT_DOUBLE_EQ(v[0], 0.5);
  EXPECT_THROW(gauss_legendre_unit(0, v, w), ConfigError);
}

TEST(GaussLegendre, UnitRuleIsTheRuleOnMinusOneOneMappedBitForBit) {
  // v = (1 − y)/2 and w/2: the [0, 1] rule is the image of the [-1, 1] one.
  for (Index n : {1, 2, 7, 48, 64}) {
    Vector y, w, v, wv;
    gauss_legendre(n, y, w);
    gauss_legendre_unit(n, v, wv);
    for (Index i = 0; i < n; ++i) {
      EXPECT_EQ(v[i], 0.5 * (1.0 - y[n - 1 - i])) << n << " " << i;
      EXPECT_EQ(wv[i], 0.5 * w[n - 1 - i]) << n << " " << i;
    }
  }
  Vector y, w;
  EXPECT_THROW(gauss_legendre(0, y, w), ConfigError);
}

}  // namespace
}  // namespace diffgen
