#include "models/random_features.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace diffgen {
namespace {

Matrix random_points(Index n, Index d, Rng& rng, double scale = 2.0) {
  Matrix X(n, d);
  rng.fill_normal(X);
  return X * scale;
}

Vector random_times(Index n, Rng& rng) {
  Vector t(n);
  for (Index b = 0; b < n; ++b) t[b] = rng.uniform(1e-3, 1.0);
  return t;
}

RandomFeatureOptions small_init(Index width) {
  RandomFeatureOptions o;
  o.width = width;
  o.init_std = 0.5;
  return o;
}

TEST(RandomFeatureModel, ShapesAndZeroInitialization) {
  Rng rng(1);
  RandomFeatureModel rf(3, {}, rng);
  EXPECT_EQ(rf.num_parameters(), 3 * 256);
  EXPECT_TRUE(rf.parameters().isZero(0.0));
  EXPECT_EQ(rf.input_weights().rows(), 256);
  EXPECT_EQ(rf.input_weights().cols(), 3);
  EXPECT_EQ(rf.time_weights().cols(), 4);
  // A zero model scores 0 everywhere.
  EXPECT_TRUE(rf.score(Matrix::Ones(2, 3), 0.5).isZero(0.0));
}

TEST(RandomFeatureModel, FeatureDirectionsAreUnitVectors) {
  Rng rng(2);
  RandomFeatureModel rf(2, {}, rng);
  for (Index i = 0; i < rf.width(); ++i)
    EXPECT_NEAR(rf.input_weights().row(i).squaredNorm() + rf.time_weights().row(i).squaredNorm(), 1.0, 1e-14);
}

TEST(RandomFeatureModel, GaussianInitializationScale) {
  Rng rng(3);
  RandomFeatureModel rf(1, small_init(20000), rng);
  const Vector& a = rf.parameters();
  // Sample std of 20000 N(0, 0.5²) draws: standard error 0.5/√40000 = 0.25%.
  EXPECT_NEAR(std::sqrt(a.squaredNorm() / 20000.0), 0.5, 0.01 * 0.5);
}

TEST(RandomFeatureModel, HandComputedFeaturesAndScore) {
  // φ_i = relu(w_i·x + u_i·e(t)) and s = (1/m) A φ, computed by hand from the
  // model's frozen draws for one point.
  RandomFeatureOptions o;
  o.width = 3;
  Rng rng(4);
  RandomFeatureModel rf(2, o, rng);
  rf.coefficients() << 1.0, -2.0, 0.5, 3.0, 0.25, -1.0;  // A [2×3]
  const Matrix x{{0.7, -1.2}};
  const double t = 0.3;
  const RowVector e = rf.embedding()(t);
  Vector phi(3);
  for (Index i = 0; i < 3; ++i) {
    const double pre =
        rf.input_weights()(i, 0) * 0.7 + rf.input_weights()(i, 1) * -1.2 + rf.time_weights().row(i).dot(e);
    phi[i] = std::max(0.0, pre);
  }
  const Matrix Phi = rf.features(x, Vector::Constant(1, t));
  for (Index i = 0; i < 3; ++i) EXPECT_NEAR(Phi(0, i), phi[i], 1e-15);
  const Matrix S = rf.score(x, t);
  EXPECT_NEAR(S(0, 0), (1.0 * phi[0] - 2.0 * phi[1] + 0.5 * phi[2]) / 3.0, 1e-15);
  EXPECT_NEAR(S(0, 1), (3.0 * phi[0] + 0.25 * phi[1] - 1.0 * phi[2]) / 3.0, 1e-15);
  // The flat parameters hold A row-major.
  EXPECT_EQ(rf.parameters()[1], -2.0);
  EXPECT_EQ(rf.parameters()[3], 3.0);
}

class RandomFeatureDims : public ::testing::TestWithParam<Index> {};

TEST_P(RandomFeatureDims, GradientMatchesFiniteDifferences) {
  const Index d = GetParam();
  Rng rng(10 + d);
  RandomFeatureModel rf(d, small_init(64), rng);
  const Matrix X = random_points(6, d, rng);
  const Vector t = random_times(6, rng);
  Vector s_t(6);
  s_t << 0.1, 0.4, 1.0, 2.0, 5.0, 0.02;
  const Matrix z = random_points(6, d, rng, 1.0);
  // A denoising-shaped loss head: (1/B) Σ (s_b S_bi + z_bi)².
  const LossHead head = [&](const Matrix& S, Matrix& dS) {
    const Matrix r = (S.array().colwise() * s_t.array()).matrix() + z;
    dS = (2.0 / 6.0) * (r.array().colwise() * s_t.array()).matrix();
    return r.squaredNorm() / 6.0;
  };
  Vector grad, scratch;
  rf.loss_and_gradient(X, t, head, grad);
  Vector fd(grad.size());
  for (Index k = 0; k < grad.size(); ++k) {
    double& p = rf.parameters()[k];
    const double p0 = p, h = 1e-6 * std::max(1.0, std::abs(p0));
    p = p0 + h;
    const double up = rf.loss_and_gradient(X, t, head, scratch);
    p = p0 - h;
    const double down = rf.loss_and_gradient(X, t, head, scratch);
    p = p0;
    fd[k] = (up - down) / (2.0 * h);
  }
  EXPECT_LT((grad - fd).lpNorm<Eigen::Infinity>() / grad.lpNorm<Eigen::Infinity>(), 1e-6);
}

TEST_P(RandomFeatureDims, DivergenceMatchesFiniteDifferences) {
  const Index d = GetParam();
  Rng rng(20 + d);
  RandomFeatureModel rf(d, small_init(128), rng);
  const Matrix X = random_points(9, d, rng);
  const Vector t = random_times(9, rng);
  const Vector div = [&] {
    Vector v;
    rf.divergence(X, t, v);
    return v;
  }();
  for (Index b = 0; b < 9; ++b) {
    // The score is piecewise linear in x, so central differences are exact
    // unless a kink lies within h (probability ~1e-7 here).
    double fd = 0.0;
    for (Index i = 0; i < d; ++i) {
      const double h = 1e-7;
      Matrix up = X.row(b), down = X.row(b);
      up(0, i) += h;
      down(0, i) -= h;
      fd += (rf.score(up, t[b])(0, i) - rf.score(down, t[b])(0, i)) / (2 * h);
    }
    EXPECT_NEAR(div[b], fd, 1e-7) << "point " << b;
  }
  EXPECT_GT(div.cwiseAbs().maxCoeff(), 1e-3);  // not trivially zero
}

INSTANTIATE_TEST_SUITE_P(D, RandomFeatureDims, ::testing::Values(Index{1}, Index{3}));

TEST(RandomFeatureModel, LargeBatchesGiveTheRowByRowAnswers) {
  // 600 rows cross score()'s internal blocks of rows.
  Rng rng(7);
  RandomFeatureModel rf(2, small_init(32), rng);
  const Matrix X = random_points(600, 2, rng);
  const Vector t = random_times(600, rng);
  Matrix S;
  Vector div;
  rf.score(X, t, S);
  rf.divergence(X, t, div);
  const Matrix Phi = rf.features(X, t);
  for (Index b = 0; b < 600; b += 37) {
    EXPECT_EQ(S.row(b), rf.score(X.row(b), t[b]));
    EXPECT_EQ(div[b], rf.divergence(X.row(b), t[b])[0]);
    EXPECT_EQ(Phi.row(b), rf.features(X.row(b), t.segment(b, 1)));
  }
  EXPECT_EQ(S.row(599), rf.score(X.row(599), t[599]));
}

TEST(RandomFeatureModel, CloneAndDeterminism) {
  Rng a(5), b(5);
  RandomFeatureModel r1(2, small_init(16), a), r2(2, small_init(16), b);
  EXPECT_EQ(r1.parameters(), r2.parameters());
  EXPECT_EQ(r1.input_weights(), r2.input_weights());
  auto c = r1.clone();
  c->parameters()[0] += 1.0;
  EXPECT_NE(c->score(Matrix::Ones(1, 2), 0.5), r1.score(Matrix::Ones(1, 2), 0.5));
}

TEST(RandomFeatureModel, InvalidOptions) {
  RandomFeatureOptions o;
  o.width = 0;
  EXPECT_EQ(o.validate(), "width = 0 must be >= 1");
  o = {};
  o.init_std = -1.0;
  EXPECT_NE(o.validate().find("init_std"), std::string::npos);
  Rng rng(1);
  o = {};
  o.embed_dim = 5;
  EXPECT_THROW(RandomFeatureModel(1, o, rng), ConfigError);
}

}  // namespace
}  // namespace diffgen
