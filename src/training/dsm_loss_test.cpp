#include "training/dsm_loss.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "models/oracles.hpp"
#include "models/random_features.hpp"
#include "models/reference_mlp.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {
namespace {

Matrix normal_points(Index n, Index d, Rng& rng, double scale = 1.0) {
  Matrix X(n, d);
  rng.fill_normal(X);
  return X * scale;
}

// s(x, t) = −x: the score of N(0, I) at every t.
class MinusIdentity final : public ScoreModel {
 public:
  Index dim() const override { return 1; }
  std::string name() const override { return "minus-identity"; }
  void score(const Matrix& X, const Vector&, Matrix& out) const override { out = -X; }
  using ScoreModel::score;
};

TEST(DsmLoss, HandComputedBatch) {
  // x_t = x0 + s z (VE: a = 1); with s_θ(x) = −x the residual is s·(−x_t) + z,
  // and the loss is the batch mean of its square.
  const VeSde sde(25.0);
  const Matrix x0{{1.0}, {-2.0}};
  const Vector t{{0.065, 1.0}};
  const Matrix z{{0.5}, {-1.0}};
  const double s0 = sde.s(0.065), s1 = sde.s(1.0);
  const double r0 = s0 * -(1.0 + s0 * 0.5) + 0.5;
  const double r1 = s1 * -(-2.0 + s1 * -1.0) - 1.0;
  EXPECT_NEAR(dsm_loss(MinusIdentity(), sde, x0, t, z), (r0 * r0 + r1 * r1) / 2.0, 1e-14 * (r1 * r1));
}

TEST(DsmLoss, PerturbAndDraw) {
  const VpSde sde;
  DsmBatch batch;
  Rng data(2), rng(3);
  batch.x0 = normal_points(50, 2, data);
  draw_dsm_noise(sde, 0.01, rng, batch);
  ASSERT_EQ(batch.t.size(), 50);
  ASSERT_EQ(batch.z.rows(), 50);
  ASSERT_EQ(batch.z.cols(), 2);
  EXPECT_GE(batch.t.minCoeff(), 0.01);
  EXPECT_LT(batch.t.maxCoeff(), 1.0);
  for (Index b = 0; b < 50; ++b) {
    EXPECT_EQ(batch.s_t[b], sde.s(batch.t[b]));
    for (Index i = 0; i < 2; ++i)
      EXPECT_DOUBLE_EQ(batch.x_t(b, i), sde.a(batch.t[b]) * batch.x0(b, i) + batch.s_t[b] * batch.z(b, i));
  }
  // The same seed gives the same draw.
  DsmBatch again;
  again.x0 = batch.x0;
  Rng rng2(3);
  draw_dsm_noise(sde, 0.01, rng2, again);
  EXPECT_EQ(again.t, batch.t);
  EXPECT_EQ(again.z, batch.z);
}

TEST(DsmLoss, HeadGradientMatchesFiniteDifferences) {
  const VeSde sde;
  DsmBatch batch;
  Rng rng(4);
  batch.x0 = normal_points(6, 3, rng);
  draw_dsm_noise(sde, 1e-5, rng, batch);
  const LossHead head = make_dsm_head(batch);
  Matrix S = normal_points(6, 3, rng, 5.0), dS, scratch;
  head(S, dS);
  for (Index b = 0; b < 6; ++b)
    for (Index i = 0; i < 3; ++i) {
      const double h = 1e-6 * std::max(1.0, std::abs(S(b, i)));
      Matrix up = S, down = S;
      up(b, i) += h;
      down(b, i) -= h;
      const double fd = (head(up, scratch) - head(down, scratch)) / (2 * h);
      EXPECT_NEAR(dS(b, i), fd, 1e-6 * std::max(1.0, std::abs(fd)));
    }
}

TEST(DsmLoss, PopulationOracleKnownAnswer) {
  // Target N(0, I) in d = 2 under VP: p_t = N(0, (a² + s²) I) = N(0, I), so the
  // oracle is s(x) = −x and s·s(x_t) + z = (1 − s²) z − a s x0 = a² z − a s x0:
  // E loss = d·(a⁴ + a² s²) = d·a². Each sample's loss is a²·χ²_2, variance
  // 2 d a⁴, so the mean of N samples has standard error a²·√(2d/N).
  auto sde = std::make_shared<VpSde>();
  auto target = std::make_shared<GaussianMixture>(Vector::Ones(1), Matrix::Zero(1, 2), Matrix::Ones(1, 2));
  auto oracle = make_population_oracle(target, sde);
  Rng rng(5);
  const Index N = 200000;
  const double t = 0.3, a = sde->a(t);
  Matrix z(N, 2);
  rng.fill_normal(z);
  const double loss = dsm_loss(*oracle, *sde, target->sample(N, rng), Vector::Constant(N, t), z);
  EXPECT_NEAR(loss, 2.0 * a * a, 4.0 * a * a * std::sqrt(4.0 / N));
}

// Central-difference check of loss_and_gradient with the DSM head on a real draw.
double dsm_gradient_error(TrainableScoreModel& model, const Sde& sde, Rng& rng) {
  DsmBatch batch;
  batch.x0 = normal_points(8, model.dim(), rng, 3.0);
  draw_dsm_noise(sde, 1e-3, rng, batch);
  const LossHead head = make_dsm_head(batch);
  Vector grad, scratch;
  model.loss_and_gradient(batch.x_t, batch.t, head, grad);
  Vector fd(grad.size());
  for (Index k = 0; k < grad.size(); ++k) {
    double& p = model.parameters()[k];
    const double p0 = p, h = 1e-6 * std::max(1.0, std::abs(p0));
    p = p0 + h;
    const double up = model.loss_and_gradient(batch.x_t, batch.t, head, scratch);
    p = p0 - h;
    const double down = model.loss_and_gradient(batch.x_t, batch.t, head, scratch);
    p = p0;
    fd[k] = (up - down) / (2 * h);
  }
  return (grad - fd).lpNorm<Eigen::Infinity>() / grad.lpNorm<Eigen::Infinity>();
}

TEST(DsmLoss, ModelGradientsMatchFiniteDifferences) {
  auto sde = std::make_shared<VeSde>(25.0);
  for (Index d : {1, 3}) {
    Rng rng(10 + d);
    ReferenceMlp net(d, {}, sde, rng);
    EXPECT_LT(dsm_gradient_error(net, *sde, rng), 1e-6) << "reference-mlp d = " << d;
    RandomFeatureOptions o;
    o.width = 32;
    o.init_std = 1.0;
    RandomFeatureModel rf(d, o, rng);
    EXPECT_LT(dsm_gradient_error(rf, *sde, rng), 1e-6) << "random-features d = " << d;
  }
}

TEST(DsmLoss, RandomFeatureGradientIsTwoAGPlusB) {
  // THEORY.md §4 (Li2023 Lemma 3): on a fixed draw the loss is quadratic in A
  // with ∇L = 2(AG + B), G = (1/N) Σ s_j² φ_j φ_jᵀ / m², B = (1/N) Σ s_j z_j φ_jᵀ / m.
  const VeSde sde;
  RandomFeatureOptions o;
  o.width = 16;
  o.init_std = 0.3;
  Rng rng(6);
  RandomFeatureModel rf(2, o, rng);
  DsmBatch batch;
  batch.x0 = normal_points(40, 2, rng);
  draw_dsm_noise(sde, 1e-5, rng, batch);
  const Matrix Phi = rf.features(batch.x_t, batch.t);
  const double m = 16.0, N = 40.0;
  const Matrix G = Phi.transpose() * batch.s_t.array().square().matrix().asDiagonal() * Phi / (N * m * m);
  const Matrix B = batch.z.transpose() * batch.s_t.asDiagonal() * Phi / (N * m);
  const Matrix expected = 2.0 * (rf.coefficients() * G + B);
  Vector grad;
  rf.loss_and_gradient(batch.x_t, batch.t, make_dsm_head(batch), grad);
  const Eigen::Map<const Matrix> g(grad.data(), 2, 16);
  EXPECT_LT((g - expected).cwiseAbs().maxCoeff(), 1e-13 * expected.cwiseAbs().maxCoeff());
}

}  // namespace
}  // namespace diffgen
