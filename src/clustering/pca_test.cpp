#include "clustering/pca.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;

// An orthogonal 4 x 4 matrix (columns are the directions): a product of
// rotations in the planes (0,1), (2,3) and (1,2). Each column has one entry
// clearly larger in magnitude than the others, so its sign convention is
// unambiguous under small perturbations.
SquareMatrix rotation() {
  auto givens = [](Index i, Index j, double angle) {
    SquareMatrix g = SquareMatrix::Identity(4, 4);
    g(i, i) = g(j, j) = std::cos(angle);
    g(i, j) = -std::sin(angle);
    g(j, i) = std::sin(angle);
    return g;
  };
  return givens(0, 1, 0.3) * givens(2, 3, -0.4) * givens(1, 2, 0.25);
}

TEST(Pca, FindsTheAxesAndVariancesOfAHandMadeSet) {
  Matrix x(4, 2);
  x << 2, 0, -2, 0, 0, 1, 0, -1;  // mean 0, covariance diag(8/3, 2/3) with divisor n − 1 = 3
  const Pca pca(x, 2);
  EXPECT_NEAR(pca.explained_variance()[0], 8.0 / 3.0, 1e-14);
  EXPECT_NEAR(pca.explained_variance()[1], 2.0 / 3.0, 1e-14);
  EXPECT_NEAR(pca.total_variance(), 10.0 / 3.0, 1e-14);
  EXPECT_NEAR(pca.explained_variance_ratio()[0], 0.8, 1e-14);
  EXPECT_NEAR(pca.components()(0, 0), 1.0, 1e-14);
  EXPECT_NEAR(pca.components()(1, 1), 1.0, 1e-14);
  EXPECT_NEAR(pca.transform(x)(0, 0), 2.0, 1e-14);
  EXPECT_NEAR(pca.transform(x)(2, 1), 1.0, 1e-14);
}

TEST(Pca, RecoversTheCovarianceOfAGaussianWithinItsSamplingError) {
  const Vector lambda = (Vector(4) << 9.0, 4.0, 1.0, 0.25).finished();
  const RowVector mu = (RowVector(4) << 1.0, -2.0, 0.5, 3.0).finished();
  const SquareMatrix q = rotation();
  const Index n = 20000;
  Rng rng(11);
  Matrix z(n, 4);
  rng.fill_normal(z);
  const Matrix x = ((z * lambda.cwiseSqrt().asDiagonal()) * q.transpose()).rowwise() + mu;
  const Pca pca(x, 4);
  const double k = tolerance::kStandardErrors;
  for (Index c = 0; c < 4; ++c) {
    // A sample eigenvalue of a Gaussian has standard error λ √(2/n) (distinct eigenvalues).
    EXPECT_NEAR(pca.explained_variance()[c], lambda[c], k * lambda[c] * std::sqrt(2.0 / n)) << c;
    EXPECT_NEAR(pca.mean()[c], mu[c], k * std::sqrt(lambda[0] / n)) << c;
    // The direction's angular error θ has E θ² = Σ_j λ_c λ_j / ((λ_c − λ_j)² n), and 1 − |cos θ| ≈ θ²/2.
    double theta2 = 0.0;
    for (Index j = 0; j < 4; ++j)
      if (j != c) theta2 += lambda[c] * lambda[j] / ((lambda[c] - lambda[j]) * (lambda[c] - lambda[j]) * n);
    const double cosine = std::abs(pca.components().row(c).dot(q.col(c).transpose()));
    EXPECT_LT(1.0 - cosine, k * k * theta2 / 2.0) << c;
  }
}

TEST(Pca, ComponentsAreOrthonormalWithTheirLargestEntryPositive) {
  Rng rng(3);
  Matrix x(60, 7);
  rng.fill_normal(x);
  const Pca pca(x, 5);
  EXPECT_TRUE((pca.components() * pca.components().transpose()).isApprox(SquareMatrix::Identity(5, 5), 1e-13));
  for (Index c = 0; c < 5; ++c) {
    Index largest;
    pca.components().row(c).cwiseAbs().maxCoeff(&largest);
    EXPECT_GT(pca.components()(c, largest), 0.0) << c;
    if (c > 0) {
      EXPECT_GE(pca.explained_variance()[c - 1], pca.explained_variance()[c]);
    }
  }
}

TEST(Pca, ScoresHaveTheExplainedVariancesAndNoCorrelation) {
  Rng rng(5);
  Matrix x(200, 6);
  rng.fill_normal(x);
  x.col(2) += 2.0 * x.col(0);  // some correlation to find
  const Pca pca(x, 3);
  const Matrix s = pca.transform(x);
  const SquareMatrix cov = (s.transpose() * s) / (x.rows() - 1.0);  // the scores have mean 0
  for (Index i = 0; i < 3; ++i)
    for (Index j = 0; j < 3; ++j)
      EXPECT_NEAR(cov(i, j), i == j ? pca.explained_variance()[i] : 0.0, 1e-12 * pca.explained_variance()[0]);
}

TEST(Pca, ProjectingAndReconstructingWithAllComponentsIsTheIdentity) {
  Rng rng(7);
  Matrix x(50, 6);
  rng.fill_normal(x);
  x.array() += 10.0;
  const Pca pca(x, 6);
  EXPECT_TRUE(pca.inverse_transform(pca.transform(x)).isApprox(x, 1e-13));
  EXPECT_NEAR(pca.explained_variance_ratio().sum(), 1.0, tolerance::kRoundoff);
}

TEST(Pca, ARankDeficientSetHasZeroVariancesBeyondItsRank) {
  Rng rng(9);
  Matrix z(100, 2), a(2, 5);
  rng.fill_normal(z);
  rng.fill_normal(a);
  const Matrix x = (z * a).array() + 1.5;  // a plane in R^5
  const Pca pca(x, 5);
  EXPECT_GT(pca.explained_variance()[1], 0.01 * pca.explained_variance()[0]);
  for (Index c = 2; c < 5; ++c) {
    EXPECT_GE(pca.explained_variance()[c], 0.0);
    EXPECT_LT(pca.explained_variance()[c], 1e-13 * pca.explained_variance()[0]) << c;
  }
  // The plane is reproduced from its two coordinates alone.
  const Pca plane(x, 2);
  EXPECT_TRUE(plane.inverse_transform(plane.transform(x)).isApprox(x, 1e-12));
}

TEST(Pca, ConstantDataHaveNoVariance) {
  const Matrix x = Matrix::Constant(10, 3, 0.5);  // the mean is exact, so the centred data are exactly 0
  const Pca pca(x, 3);
  EXPECT_EQ(pca.explained_variance(), Vector::Zero(3));
  EXPECT_EQ(pca.total_variance(), 0.0);
  EXPECT_EQ(pca.explained_variance_ratio(), Vector::Zero(3));
}

TEST(Pca, IsBitIdenticalForAnyThreadCount) {
  Rng rng(13);
  Matrix x(9000, 12);  // several row chunks, more than one group
  rng.fill_normal(x);
  const int before = num_threads();
  set_num_threads(1);
  const Pca one(x, 4);
  const Matrix s1 = one.transform(x);
  set_num_threads(3);
  const Pca three(x, 4);
  const Matrix s3 = three.transform(x);
  set_num_threads(before);
  EXPECT_EQ(one.components(), three.components());
  EXPECT_EQ(one.explained_variance(), three.explained_variance());
  EXPECT_EQ(s1, s3);
}

TEST(Pca, RejectsBadArgumentsWithClearMessages) {
  Matrix x = Matrix::Ones(5, 3);
  EXPECT_THROW(Pca(x, 0), ConfigError);
  EXPECT_THROW(Pca(x, 4), ConfigError);
  EXPECT_THROW(Pca(Matrix::Ones(1, 3), 1), DataError);
  x(3, 1) = std::numeric_limits<double>::quiet_NaN();
  try {
    Pca(x, 1);
    FAIL();
  } catch (const NumericalError& e) {
    EXPECT_THAT(e.what(), HasSubstr("point 3, coordinate 1"));
  }
  const Pca pca(Matrix::Identity(4, 3), 2);
  EXPECT_THROW(pca.transform(Matrix::Ones(2, 4)), std::invalid_argument);
  EXPECT_THROW(pca.inverse_transform(Matrix::Ones(2, 3)), std::invalid_argument);
}

}  // namespace
}  // namespace diffgen
