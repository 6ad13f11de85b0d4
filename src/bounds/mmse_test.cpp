#include "bounds/mmse.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "testing/tolerances.hpp"
#include "testing/known_problems.hpp"

namespace diffgen {
namespace {

using tolerance::kStandardErrors;

GaussianMixture gaussian_3d(SquareMatrix& C) {
  C.resize(3, 3);
  C << 2.0, 0.4, 0.1, 0.4, 1.0, -0.3, 0.1, -0.3, 0.5;
  Matrix m(1, 3);
  m << 1.0, -2.0, 0.5;
  return GaussianMixture(Vector::Ones(1), m, std::vector<SquareMatrix>{C});
}

TEST(IntegrateAdaptive, ConvergesOnPeakedAndVectorIntegrands) {
  Index evaluations = 0;
  // ∫_0^1 1/(1e-4 + x²) dx = atan(100) / 1e-2: a peak at 0 that one rule cannot resolve.
  auto peak = [](double x) { return Vector::Constant(1, 1.0 / (1e-4 + x * x)); };
  EXPECT_NEAR(integrate_adaptive(peak, 0.0, 1.0, 6, 1e-12, &evaluations)[0], std::atan(100.0) / 1e-2, 1e-8);
  EXPECT_GT(evaluations, 18);
  auto two = [](double x) {
    Vector v(2);
    v << std::sin(x), std::exp(-x);
    return v;
  };
  const Vector r = integrate_adaptive(two, 0.0, std::numbers::pi, 6, 1e-12);
  EXPECT_NEAR(r[0], 2.0, 1e-12);
  EXPECT_NEAR(r[1], 1.0 - std::exp(-std::numbers::pi), 1e-12);
  // The partition covers the interval in order.
  const auto parts = adaptive_partition(peak, 0.0, 1.0, 6, 1e-12);
  EXPECT_EQ(parts.front().first, 0.0);
  EXPECT_EQ(parts.back().second, 1.0);
  for (std::size_t i = 1; i < parts.size(); ++i) EXPECT_EQ(parts[i].first, parts[i - 1].second);
}

TEST(Mmse, GaussianClosedFormsInOneDimension) {
  // M(t) = σ² / (1 + t σ²), I(X; Y_t) = ½ log(1 + t σ²).
  const GaussianMixture g = *known::gaussian_1d(0.7, 2.0);
  for (double t : {0.0, 0.01, 1.0, 50.0}) {
    EXPECT_NEAR(mmse(g, t).value, 2.0 / (1.0 + 2.0 * t), 1e-12) << t;
    EXPECT_NEAR(mutual_information(g, t).value, 0.5 * std::log1p(2.0 * t), 1e-11) << t;
    if (t > 0.0) {
      EXPECT_NEAR(mutual_information_from_entropy(g, t), 0.5 * std::log1p(2.0 * t), 1e-11) << t;
    }
  }
}

TEST(Mmse, GaussianClosedFormsInThreeDimensionsByMonteCarlo) {
  // M(t) = tr(Σ (I + tΣ)^{-1}), I = ½ log det(I + tΣ); the Monte Carlo
  // estimates must fall within their standard errors.
  SquareMatrix C;
  const auto g = gaussian_3d(C);
  MmseOptions o;
  o.samples = 4000;
  for (double t : {0.3, 4.0}) {
    SquareMatrix A = t * C;
    A.diagonal().array() += 1.0;
    const double M = (C * A.inverse()).trace(), I = 0.5 * std::log(A.determinant());
    const Estimate m = mmse(g, t, o), i = mutual_information(g, t, o);
    // For a Gaussian the posterior covariance does not depend on y: the estimates are exact.
    EXPECT_NEAR(m.value, M, 1e-12);
    EXPECT_NEAR(i.value, I, 1e-10);
    EXPECT_LT(m.standard_error, 1e-12);
  }
}

TEST(Mmse, IMmseRelationOnTheTwoModeMixture) {
  // ½ ∫ M (adaptive quadrature over t of a quadrature over y) against the
  // entropy route h(Y_t) - ½ log(2πe t): two independent computations.
  const auto g = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  for (double t : {0.05, 1.0, 100.0}) {
    const double a = mutual_information(g, t).value, b = mutual_information_from_entropy(g, t);
    EXPECT_NEAR(a, b, 1e-9) << t;
  }
  // I(X; Y) = I(K; Y) + I(X; Y | K) with K the mode: ½ log(1 + t) + (at most log 2),
  // which it nearly reaches once the modes are told apart.
  const double I = mutual_information(g, 100.0).value, top = 0.5 * std::log(101.0) + std::log(2.0);
  EXPECT_LT(I, top);
  EXPECT_GT(I, top - 0.01);
}

TEST(Mmse, QuadratureHasConverged) {
  const auto g = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  MmseOptions fine;
  fine.quadrature_points = 2 * MmseOptions{}.quadrature_points;
  for (double t : {0.01, 0.5, 5.0, 100.0}) EXPECT_NEAR(mmse(g, t).value, mmse(g, t, fine).value, 1e-12) << t;
}

TEST(Mmse, MixtureInHigherDimensionWithinStandardErrorsOfTheOneDimensionalReduction) {
  // ½N(-μu, I) + ½N(μu, I) in d = 4 (u a unit vector): along u it is the
  // 1-D two-mode mixture, across u an independent N(0, I_3), so
  // M_4(t) = M_1(t) + 3 / (1 + t) and I_4 = I_1 + (3/2) log(1 + t).
  const Index d = 4;
  Vector w(2);
  w << 0.5, 0.5;
  Matrix m(2, d);
  m.setConstant(3.0 / std::sqrt(static_cast<double>(d)));
  m.row(0) *= -1.0;
  const GaussianMixture g(w, m, Matrix::Ones(2, d));
  const auto g1 = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  MmseOptions o;
  o.samples = 4000;
  for (double t : {0.1, 2.0}) {
    const Estimate M = mmse(g, t, o), I = mutual_information(g, t, o);
    EXPECT_NEAR(M.value, mmse(g1, t).value + 3.0 / (1.0 + t), kStandardErrors * M.standard_error) << t;
    EXPECT_NEAR(I.value, mutual_information(g1, t).value + 1.5 * std::log1p(t), kStandardErrors * I.standard_error);
    EXPECT_GT(M.standard_error, 0.0);
  }
}

TEST(Mmse, PairMeanAndBadOptions) {
  Vector v(4);
  v << 1.0, 3.0, 10.0, 14.0;  // pairs average to 2 and 12
  const Estimate e = pair_mean(v);
  EXPECT_DOUBLE_EQ(e.value, 7.0);
  EXPECT_NEAR(e.standard_error, std::sqrt(50.0 / 2.0), 1e-12);
  MmseOptions o;
  o.samples = 7;
  EXPECT_NE(o.validate(), "");
  EXPECT_THROW(mmse(GaussianMixture::symmetric_two_mode(1.0), -1.0), ConfigError);
}

}  // namespace
}  // namespace diffgen
