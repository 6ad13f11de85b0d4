#include "targets/denoiser.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "testing/known_problems.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;

std::shared_ptr<const GaussianMixture> three_component_2d_full() {
  Vector w(3);
  w << 0.2, 0.5, 0.3;
  Matrix m(3, 2);
  m << -1.0, 0.5, 2.0, -1.0, 0.0, 3.0;
  std::vector<SquareMatrix> C(3, SquareMatrix(2, 2));
  C[0] << 1.0, 0.3, 0.3, 0.5;
  C[1] << 0.7, -0.2, -0.2, 1.2;
  C[2] << 2.0, 0.0, 0.0, 0.1;
  return std::make_shared<GaussianMixture>(w, m, C);
}

// E[X | Y_t = y] and Cov(X | Y_t = y) by brute force on a 2-D grid X (rows)
// with log p at its nodes: the posterior is p(x) N(y; t x, t I) up to a constant.
void brute_force_2d(const Matrix& X, const Vector& log_p, const RowVector& y, double t, Vector& mean,
                    SquareMatrix& cov) {
  Vector w(X.rows());
  for (Index r = 0; r < X.rows(); ++r) w[r] = log_p[r] - 0.5 * (y - t * X.row(r)).squaredNorm() / t;
  w = (w.array() - w.maxCoeff()).exp();
  w /= w.sum();
  mean = X.transpose() * w;
  const Matrix Xc = X.rowwise() - mean.transpose();
  cov = Xc.transpose() * w.asDiagonal() * Xc;
}

TEST(MixtureDenoiser, GaussianPosteriorIsClosedForm) {
  // X ~ N(μ, σ²), Y_t = t X + W_t: E[X | y] = (μ + σ² y) / (1 + t σ²), Var = σ² / (1 + t σ²).
  const double mu = 0.7, var = 2.0;
  const MixtureDenoiser f(gaussian_1d(mu, var));
  Matrix Y(4, 1);
  Y << -3.0, 0.0, 1.5, 40.0;
  for (double t : {0.0, 1e-3, 0.5, 7.0, 300.0}) {
    Matrix mean, cov;
    f.mean_and_covariance(Y, t, mean, cov);
    const Vector trace = f.posterior_trace(Y, t);
    for (Index i = 0; i < Y.rows(); ++i) {
      EXPECT_NEAR(mean(i, 0), (mu + var * Y(i, 0)) / (1.0 + t * var), 1e-13) << t;
      EXPECT_NEAR(cov(i, 0), var / (1.0 + t * var), 1e-13) << t;
      EXPECT_NEAR(trace[i], cov(i, 0), 1e-15);
    }
  }
}

TEST(MixtureDenoiser, FullCovarianceMixtureMatchesBruteForceQuadrature) {
  const auto g = three_component_2d_full();
  const MixtureDenoiser f(g);
  // A grid wide enough for the tilted posteriors, fine against the narrowest component.
  const Index n = 1201;
  const double lo = -14.0, hi = 16.0, h = (hi - lo) / (n - 1);
  Matrix X(n * n, 2);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) X.row(i * n + j) << lo + h * i, lo + h * j;
  const Vector log_p = g->log_density(X);
  Matrix Y(3, 2);
  Y << 0.3, -0.2, 2.0, 1.0, -1.5, 4.0;
  for (double t : {0.2, 1.0, 3.0}) {
    Matrix mean, cov;
    f.mean_and_covariance(Y, t, mean, cov);
    const Vector trace = f.posterior_trace(Y, t);
    for (Index i = 0; i < Y.rows(); ++i) {
      Vector m_ref;
      SquareMatrix c_ref;
      brute_force_2d(X, log_p, Y.row(i), t, m_ref, c_ref);
      for (Index a = 0; a < 2; ++a) {
        EXPECT_NEAR(mean(i, a), m_ref[a], 1e-8) << "t = " << t << ", point " << i;
        for (Index b = 0; b < 2; ++b) EXPECT_NEAR(cov(i, a * 2 + b), c_ref(a, b), 1e-8) << t;
      }
      EXPECT_NEAR(trace[i], cov(i, 0) + cov(i, 3), 1e-12);
    }
  }
}

TEST(MixtureDenoiser, CovarianceIsTheJacobianOfTheMean) {
  // ∇_y E[X | Y_t = y] = Cov(X | Y_t = y) (X | y is an exponential family in y).
  const auto g = three_component_2d_full();
  const MixtureDenoiser f(g);
  const double t = 0.8, h = 1e-5;
  Matrix Y(1, 2);
  Y << 0.4, 1.1;
  Matrix mean, cov;
  f.mean_and_covariance(Y, t, mean, cov);
  for (Index j = 0; j < 2; ++j) {
    Matrix Yp = Y, Ym = Y;
    Yp(0, j) += h;
    Ym(0, j) -= h;
    const Matrix d = (f.mean(Yp, t) - f.mean(Ym, t)) / (2 * h);
    for (Index a = 0; a < 2; ++a) EXPECT_NEAR(d(0, a), cov(0, a * 2 + j), 1e-8);
  }
}

TEST(MixtureDenoiser, DiagonalPathAgreesWithTheFullCovariancePath) {
  // The same two-mode mixture in d = 3, once with diagonal and once with full covariances.
  Vector w(2);
  w << 0.3, 0.7;
  Matrix m(2, 3), v(2, 3);
  m << -1.0, 0.5, 2.0, 1.5, -0.5, 0.0;
  v << 1.0, 0.5, 2.0, 0.3, 1.0, 0.8;
  std::vector<SquareMatrix> C = {v.row(0).transpose().asDiagonal(), v.row(1).transpose().asDiagonal()};
  const MixtureDenoiser diag(std::make_shared<GaussianMixture>(w, m, v));
  const MixtureDenoiser full(std::make_shared<GaussianMixture>(w, m, C));
  Matrix Y(3, 3);
  Y << 0.0, 0.0, 0.0, 2.0, -1.0, 3.0, -4.0, 1.0, 0.5;
  for (double t : {0.0, 0.3, 5.0}) {
    Matrix m1, c1, m2, c2;
    diag.mean_and_covariance(Y, t, m1, c1);
    full.mean_and_covariance(Y, t, m2, c2);
    EXPECT_LT((m1 - m2).cwiseAbs().maxCoeff(), 1e-13) << t;
    EXPECT_LT((c1 - c2).cwiseAbs().maxCoeff(), 1e-13) << t;
    EXPECT_LT((diag.posterior_trace(Y, t) - full.posterior_trace(Y, t)).cwiseAbs().maxCoeff(), 1e-13);
  }
}

TEST(MixtureDenoiser, AtTimeZeroItIsTheMixturesMeanAndCovariance) {
  const auto g = three_component_2d_full();
  const MixtureDenoiser f(g);
  Matrix mean, cov;
  f.mean_and_covariance(Matrix::Zero(2, 2), 0.0, mean, cov);
  const Vector m = g->mean();
  const SquareMatrix C = g->covariance();
  for (Index i = 0; i < 2; ++i)
    for (Index a = 0; a < 2; ++a) {
      EXPECT_NEAR(mean(i, a), m[a], 1e-14);
      for (Index b = 0; b < 2; ++b) EXPECT_NEAR(cov(i, a * 2 + b), C(a, b), 1e-13);
    }
}

TEST(MixtureDenoiser, EmpiricalMixtureIsTheSoftmaxOfTheTrainingPoints) {
  // C_k = 0: E[X | y] = Σ_i r_i x_i with r_i ∝ exp(y x_i - t x_i² / 2).
  Matrix data(3, 1);
  data << -1.0, 0.5, 2.0;
  const MixtureDenoiser f(std::make_shared<GaussianMixture>(GaussianMixture::empirical(data)));
  const double t = 1.7;
  Matrix Y(1, 1);
  Y << 0.9;
  Vector r(3);
  for (Index i = 0; i < 3; ++i) r[i] = std::exp(Y(0, 0) * data(i, 0) - 0.5 * t * data(i, 0) * data(i, 0));
  r /= r.sum();
  Matrix mean, cov;
  f.mean_and_covariance(Y, t, mean, cov);
  const double m = r.dot(data.col(0));
  EXPECT_NEAR(mean(0, 0), m, 1e-14);
  EXPECT_NEAR(cov(0, 0), r.dot((data.col(0).array() - m).square().matrix()), 1e-14);
}

TEST(MixtureDenoiser, RefusesBadInput) {
  const MixtureDenoiser f(gaussian_1d(0.0, 1.0));
  EXPECT_THROW(f.mean(Matrix::Zero(2, 2), 1.0), ConfigError);
  EXPECT_THROW(f.mean(Matrix::Zero(2, 1), -1.0), ConfigError);
  EXPECT_THROW(f.mean(Matrix::Zero(2, 1), std::nan("")), ConfigError);
}

TEST(PerturbedEstimator, ShiftsTheMeanByEpsAlongAUnitVectorAndKeepsTheCovariance) {
  auto g = three_component_2d_full();
  auto exact = std::make_shared<MixtureDenoiser>(g);
  const PerturbedEstimator p(exact, 0.25);
  EXPECT_NEAR(p.direction().norm(), 1.0, 1e-15);
  Matrix Y(2, 2);
  Y << 0.1, 0.2, -2.0, 1.0;
  Matrix m0, c0, m1, c1;
  exact->mean_and_covariance(Y, 0.6, m0, c0);
  p.mean_and_covariance(Y, 0.6, m1, c1);
  for (Index i = 0; i < 2; ++i) EXPECT_NEAR((m1.row(i) - m0.row(i)).norm(), 0.25, 1e-14);
  EXPECT_EQ(c0, c1);
  EXPECT_TRUE(p.has_covariance());
  EXPECT_THROW(PerturbedEstimator(exact, 0.1, Vector::Zero(2)), ConfigError);
  EXPECT_THROW(PerturbedEstimator(exact, std::nan(""), Vector()), ConfigError);
}

}  // namespace
}  // namespace diffgen
