#include "targets/gaussian_mixture.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace diffgen {
namespace {

constexpr double kPi = std::numbers::pi;

double normal_pdf(double x, double m, double var) {
  return std::exp(-0.5 * (x - m) * (x - m) / var) / std::sqrt(2 * kPi * var);
}

GaussianMixture three_component_2d_full() {
  Vector w(3);
  w << 0.2, 0.5, 0.3;
  Matrix m(3, 2);
  m << -1.0, 0.5, 2.0, -1.0, 0.0, 3.0;
  std::vector<SquareMatrix> C(3, SquareMatrix(2, 2));
  C[0] << 1.0, 0.3, 0.3, 0.5;
  C[1] << 0.7, -0.2, -0.2, 1.2;
  C[2] << 2.0, 0.0, 0.0, 0.1;
  return GaussianMixture(w, m, C);
}

TEST(GaussianMixture, OneDimensionalDensityMatchesFormulaAtEveryTime) {
  const auto g = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  Matrix X(4, 1);
  X << -3.5, 0.0, 1.2, 7.0;
  for (auto [a, s] : {std::pair{1.0, 0.0}, std::pair{1.0, 0.2841}, std::pair{0.6, 0.8}}) {
    const Vector lp = g.log_density(X, a, s);
    for (Index i = 0; i < X.rows(); ++i) {
      const double var = a * a + s * s;
      const double p = 0.5 * normal_pdf(X(i, 0), -3 * a, var) + 0.5 * normal_pdf(X(i, 0), 3 * a, var);
      EXPECT_NEAR(lp[i], std::log(p), 1e-12);
    }
  }
}

TEST(GaussianMixture, IntegratesToOne) {
  const auto g = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  const int n = 4001;
  Matrix X(n, 1);
  for (int i = 0; i < n; ++i) X(i, 0) = -15 + 30.0 * i / (n - 1);
  const Vector p = g.log_density(X, 0.9, 0.5).array().exp();
  // Trapezoid rule on a smooth, fast-decaying density is spectrally accurate.
  const double h = 30.0 / (n - 1);
  EXPECT_NEAR(h * (p.sum() - 0.5 * (p[0] + p[n - 1])), 1.0, 1e-12);
}

TEST(GaussianMixture, ScoreIsGradientOfLogDensity) {
  const auto g = three_component_2d_full();
  Matrix X(3, 2);
  X << 0.1, 0.2, -2.0, 1.5, 3.0, -0.7;
  const double a = 0.8, s = 0.6, h = 1e-5;
  const Matrix S = g.score(X, a, s);
  for (Index i = 0; i < X.rows(); ++i)
    for (Index j = 0; j < 2; ++j) {
      Matrix Xp = X.row(i), Xm = X.row(i);
      Xp(0, j) += h;
      Xm(0, j) -= h;
      const double fd = (g.log_density(Xp, a, s)[0] - g.log_density(Xm, a, s)[0]) / (2 * h);
      EXPECT_NEAR(S(i, j), fd, 1e-7);
    }
}

TEST(GaussianMixture, DivergenceIsTraceOfScoreJacobian) {
  const auto g = three_component_2d_full();
  Matrix X(3, 2);
  X << 0.1, 0.2, -2.0, 1.5, 3.0, -0.7;
  const double a = 1.0, s = 0.3, h = 1e-5;
  const Vector div = g.score_divergence(X, a, s);
  for (Index i = 0; i < X.rows(); ++i) {
    double fd = 0;
    for (Index j = 0; j < 2; ++j) {
      Matrix Xp = X.row(i), Xm = X.row(i);
      Xp(0, j) += h;
      Xm(0, j) -= h;
      fd += (g.score(Xp, a, s)(0, j) - g.score(Xm, a, s)(0, j)) / (2 * h);
    }
    EXPECT_NEAR(div[i], fd, 1e-6);
  }
}

TEST(GaussianMixture, DiagonalAndFullCovariancesAgree) {
  Vector w(2);
  w << 0.4, 0.6;
  Matrix m(2, 2);
  m << 1, 2, -1, 0;
  Matrix v(2, 2);
  v << 0.5, 2.0, 1.5, 0.25;
  std::vector<SquareMatrix> C = {v.row(0).transpose().asDiagonal(), v.row(1).transpose().asDiagonal()};
  GaussianMixture diag(w, m, v), full(w, m, C);
  Matrix X(2, 2);
  X << 0.3, -0.4, 2.0, 1.0;
  EXPECT_TRUE(diag.log_density(X, 0.7, 0.4).isApprox(full.log_density(X, 0.7, 0.4), 1e-13));
  EXPECT_TRUE(diag.score(X, 0.7, 0.4).isApprox(full.score(X, 0.7, 0.4), 1e-13));
  EXPECT_TRUE(diag.score_divergence(X, 0.7, 0.4).isApprox(full.score_divergence(X, 0.7, 0.4), 1e-13));
}

TEST(GaussianMixture, SamplesMatchMixtureMoments) {
  const auto g = three_component_2d_full();
  Rng rng(11);
  const int n = 100000;
  const Matrix X = g.sample(n, rng);
  const Vector mean = X.colwise().mean().transpose();
  const SquareMatrix C = g.covariance();
  for (Index j = 0; j < 2; ++j) EXPECT_NEAR(mean[j], g.mean()[j], 5 * std::sqrt(C(j, j) / n));
  const Matrix Xc = X.rowwise() - mean.transpose();
  const SquareMatrix Cs = (Xc.transpose() * Xc) / (n - 1);
  for (Index j = 0; j < 2; ++j) EXPECT_NEAR(Cs(j, j), C(j, j), 0.02 * C(j, j));
}

TEST(GaussianMixture, EmpiricalMixtureIsTheSmoothedTrainingSet) {
  Matrix data(3, 1);
  data << -1.0, 0.5, 2.0;
  const auto g = GaussianMixture::empirical(data);
  Matrix X(1, 1);
  X << 0.2;
  const double s = 0.3;
  double p = 0;
  for (int i = 0; i < 3; ++i) p += normal_pdf(0.2, data(i, 0), s * s) / 3;
  EXPECT_NEAR(g.log_density(X, 1.0, s)[0], std::log(p), 1e-12);
  EXPECT_THROW(g.log_density(X, 1.0, 0.0), NumericalError);
}

TEST(GaussianMixture, RingHasItsMeansEquallySpacedOnTheCircle) {
  const auto ring = GaussianMixture::ring();
  ASSERT_EQ(ring.dim(), 2);
  ASSERT_EQ(ring.components(), 8);
  const double radius = 4.0 / 1.414, var = 0.25 / (1.414 * 1.414);
  for (Index k = 0; k < 8; ++k) {
    EXPECT_NEAR(ring.means().row(k).norm(), radius, 1e-12);
    // Neighbours are a chord 2 r sin(π/8) apart.
    EXPECT_NEAR((ring.means().row(k) - ring.means().row((k + 1) % 8)).norm(),
                2.0 * radius * std::sin(std::numbers::pi / 8.0), 1e-12);
    EXPECT_DOUBLE_EQ(ring.weights()[k], 0.125);
  }
  EXPECT_NEAR(ring.means()(0, 0), radius, 1e-12);  // θ_0 = 0
  // Symmetric about the origin, and E‖x‖² = r² + 2 std².
  EXPECT_NEAR(ring.mean().norm(), 0.0, 1e-12);
  EXPECT_NEAR(ring.covariance().trace(), radius * radius + 2.0 * var, 1e-12);
  EXPECT_THROW(GaussianMixture::ring(0), ConfigError);
  EXPECT_THROW(GaussianMixture::ring(8, -1.0), ConfigError);
  EXPECT_THROW(GaussianMixture::ring(8, 2.0, 0.0), ConfigError);
}

TEST(GaussianMixture, RejectsBadParameters) {
  Vector w(2);
  w << 0.5, 0.6;
  EXPECT_THROW(GaussianMixture(w, Matrix::Zero(2, 1), Matrix::Ones(2, 1)), ConfigError);
  w << 0.5, 0.5;
  Matrix v(2, 1);
  v << 1.0, -1.0;
  EXPECT_THROW(GaussianMixture(w, Matrix::Zero(2, 1), v), ConfigError);
}

}  // namespace
}  // namespace diffgen
