#include "models/reference_mlp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <thread>

#include "core/error.hpp"
#include "models/malloc_counter.hpp"

namespace diffgen {
namespace {

std::shared_ptr<const Sde> ve() {
  return std::make_shared<VeSde>(25.0);
}

Matrix random_points(Index n, Index d, Rng& rng, double scale = 3.0) {
  Matrix X(n, d);
  rng.fill_normal(X);
  return X * scale;
}

Vector random_times(Index n, Rng& rng, double lo = 0.05, double hi = 1.0) {
  Vector t(n);
  for (Index b = 0; b < n; ++b) t[b] = rng.uniform(lo, hi);
  return t;
}

// A denoising-shaped loss head on fixed (s_t, z): (1/B) Σ (s_b S_bi + z_bi)².
struct QuadraticHead {
  Vector s_t;
  Matrix z;
  double operator()(const Matrix& S, Matrix& dS) const {
    const Matrix r = (S.array().colwise() * s_t.array()).matrix() + z;
    dS = (2.0 / S.rows()) * (r.array().colwise() * s_t.array()).matrix();
    return r.squaredNorm() / S.rows();
  }
};

// ‖g − g_fd‖_∞ / ‖g‖_∞ with central differences of the loss in each parameter.
double gradient_error(TrainableScoreModel& model, const Matrix& X, const Vector& t, const LossHead& head) {
  Vector grad, scratch;
  model.loss_and_gradient(X, t, head, grad);
  Vector fd(grad.size());
  for (Index k = 0; k < grad.size(); ++k) {
    double& p = model.parameters()[k];
    const double p0 = p, h = 1e-6 * std::max(1.0, std::abs(p0));
    p = p0 + h;
    const double up = model.loss_and_gradient(X, t, head, scratch);
    p = p0 - h;
    const double down = model.loss_and_gradient(X, t, head, scratch);
    p = p0;
    fd[k] = (up - down) / (2.0 * h);
  }
  return (grad - fd).lpNorm<Eigen::Infinity>() / grad.lpNorm<Eigen::Infinity>();
}

TEST(ReferenceMlp, ParameterCountAndLayout) {
  Rng rng(1);
  ReferenceMlp net(1, {}, ve(), rng);
  // 16 + 16 (Linear 1→16) + 64 + 16 (Linear 4→16) + 16 + 1 (Linear 16→1).
  EXPECT_EQ(net.num_parameters(), 129);
  const auto& l = net.layout();
  EXPECT_EQ(l.b_x, 16);
  EXPECT_EQ(l.w_e, 32);
  EXPECT_EQ(l.b_e, 96);
  EXPECT_EQ(l.w_o, 112);
  EXPECT_EQ(l.b_o, 128);
  ReferenceMlp net3(3, {}, ve(), rng);
  EXPECT_EQ(net3.num_parameters(), 48 + 16 + 64 + 16 + 48 + 3);
}

TEST(ReferenceMlp, PytorchLinearInitialization) {
  // Wide enough that every block fills its range: weight and bias of each
  // Linear ~ U(−1/√fan_in, 1/√fan_in), so in range, mean ≈ 0, variance ≈ bound²/3.
  ReferenceMlpOptions o;
  o.hidden = 4096;
  Rng rng(7);
  ReferenceMlp net(2, o, ve(), rng);
  const auto& l = net.layout();
  const Vector& p = net.parameters();
  struct Block {
    Index begin, size, fan_in;
  };
  const Block blocks[] = {{l.w_x, l.b_x - l.w_x, 2},
                          {l.b_x, 4096, 2},
                          {l.w_e, l.b_e - l.w_e, 4},
                          {l.b_e, 4096, 4},
                          {l.w_o, 2 * 4096, 4096}};
  for (const Block& b : blocks) {
    const auto v = p.segment(b.begin, b.size).array();
    const double bound = 1.0 / std::sqrt(static_cast<double>(b.fan_in));
    EXPECT_LE(v.abs().maxCoeff(), bound);
    EXPECT_GT(v.maxCoeff(), 0.99 * bound);
    EXPECT_LT(v.minCoeff(), -0.99 * bound);
    const double var = bound * bound / 3.0, n = static_cast<double>(b.size);
    EXPECT_LT(std::abs(v.mean()), 4.0 * std::sqrt(var / n));
    // The variance of U² is bound⁴·4/45, so the sample mean of v² has standard error bound²·√(4/45/n).
    EXPECT_NEAR(v.square().mean(), var, 4.0 * bound * bound * std::sqrt(4.0 / 45.0 / n));
  }
  // The output bias has fan_in 4096 as well.
  EXPECT_LE(p.segment(l.b_o, 2).cwiseAbs().maxCoeff(), 1.0 / 64.0);
  // The default network: 129 parameters, each in its block's range.
  Rng rng1(1);
  ReferenceMlp small(1, {}, ve(), rng1);
  const Vector& q = small.parameters();
  EXPECT_LE(q.segment(0, 32).cwiseAbs().maxCoeff(), 1.0);
  EXPECT_LE(q.segment(32, 80).cwiseAbs().maxCoeff(), 0.5);
  EXPECT_LE(q.segment(112, 17).cwiseAbs().maxCoeff(), 0.25);
}

TEST(ReferenceMlp, HandComputedTinyNetwork) {
  // d = 2, H = 2, the time path switched off (w_e = 0, b_e = 0):
  // w_x = [[1, 2], [0, −1]], b_x = (0, 0.5), x = (0.5, −0.25) → h = (0, 0.75);
  // swish(h) = (0, 0.75·σ(0.75)) = (0, 0.5093840243815447);
  // w_o = [[1, 2], [−1, 4]], b_o = (0.1, −0.2) → out = (1.1187680487630896, 1.837536097526179);
  // score = out · c / s(t) with c = 1/16.
  ReferenceMlpOptions o;
  o.hidden = 2;
  o.embed_dim = 2;
  auto sde = ve();
  Rng rng(2);
  ReferenceMlp net(2, o, sde, rng);
  const auto& l = net.layout();
  Vector& p = net.parameters();
  p.setZero();
  p.segment(l.w_x, 4) << 1, 2, 0, -1;
  p.segment(l.b_x, 2) << 0, 0.5;
  p.segment(l.w_o, 4) << 1, 2, -1, 4;
  p.segment(l.b_o, 2) << 0.1, -0.2;
  const Matrix X{{0.5, -0.25}};
  const double t = 0.065, s_t = 0.284100;  // THEORY.md §1 check value of s(0.065)
  const Matrix S = net.score(X, t);
  EXPECT_NEAR(S(0, 0), 1.1187680487630896 / 16.0 / s_t, 2e-6 * std::abs(S(0, 0)));
  EXPECT_NEAR(S(0, 1), 1.837536097526179 / 16.0 / s_t, 2e-6 * std::abs(S(0, 1)));
  EXPECT_DOUBLE_EQ(S(0, 0), 1.1187680487630896 * (1.0 / 16.0) / sde->s(t));
  EXPECT_DOUBLE_EQ(S(0, 1), 1.837536097526179 * (1.0 / 16.0) / sde->s(t));
}

TEST(ReferenceMlp, HandComputedTimePath) {
  // d = 1, H = 1, E = 2, only the time path: h = w_e·e(t) + b_e with
  // e(t) = (sin 2πWt, cos 2πWt), score = (w_o swish(h) + b_o) · c / s(t).
  ReferenceMlpOptions o;
  o.hidden = 1;
  o.embed_dim = 2;
  o.output_scale = 0.5;
  auto sde = std::make_shared<VpSde>();
  Rng rng(4);
  ReferenceMlp net(1, o, sde, rng);
  const auto& l = net.layout();
  Vector& p = net.parameters();
  p.setZero();
  p.segment(l.w_e, 2) << 0.3, -0.7;
  p[l.b_e] = 0.2;
  p[l.w_o] = 1.5;
  p[l.b_o] = -0.1;
  const double t = 0.4, W = net.embedding().frequencies()[0];
  const double h = 0.3 * std::sin(2 * std::numbers::pi * W * t) - 0.7 * std::cos(2 * std::numbers::pi * W * t) + 0.2;
  const double expected =
      (1.5 * h / (1.0 + std::exp(-h)) - 0.1) * 0.5 / std::sqrt(-std::expm1(-(0.1 * t + 0.5 * t * t * 19.9)));
  EXPECT_NEAR(net.score(Matrix{{123.0}}, t)(0, 0), expected, 1e-12 * std::abs(expected));
}

class ReferenceMlpDims : public ::testing::TestWithParam<Index> {};

TEST_P(ReferenceMlpDims, GradientMatchesFiniteDifferences) {
  const Index d = GetParam();
  Rng rng(10 + d);
  ReferenceMlp net(d, {}, ve(), rng);
  const Matrix X = random_points(7, d, rng);
  const Vector t = random_times(7, rng, 1e-3, 1.0);
  QuadraticHead head{(Vector(7) << 0.2, 0.5, 1.0, 2.0, 3.0, 0.05, 1.5).finished(), random_points(7, d, rng, 1.0)};
  EXPECT_LT(gradient_error(net, X, t, head), 1e-6);
}

TEST_P(ReferenceMlpDims, DivergenceMatchesFiniteDifferences) {
  const Index d = GetParam();
  Rng rng(20 + d);
  ReferenceMlp net(d, {}, ve(), rng);
  const Matrix X = random_points(9, d, rng);
  const Vector t = random_times(9, rng, 1e-3, 1.0);
  Vector div;
  net.divergence(X, t, div);
  ASSERT_EQ(div.size(), 9);
  for (Index b = 0; b < 9; ++b) {
    double fd = 0.0;
    for (Index i = 0; i < d; ++i) {
      const double h = 1e-5;
      Matrix up = X.row(b), down = X.row(b);
      up(0, i) += h;
      down(0, i) -= h;
      fd += (net.score(up, t[b])(0, i) - net.score(down, t[b])(0, i)) / (2 * h);
    }
    EXPECT_NEAR(div[b], fd, 1e-7 * std::max(1.0, std::abs(fd))) << "point " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(D, ReferenceMlpDims, ::testing::Values(Index{1}, Index{3}));

TEST(ReferenceMlp, LossHeadSeesTheScores) {
  Rng rng(3);
  ReferenceMlp net(2, {}, ve(), rng);
  const Matrix X = random_points(5, 2, rng);
  const Vector t = random_times(5, rng);
  Matrix expected;
  net.score(X, t, expected);
  Vector grad;
  const double loss = net.loss_and_gradient(
      X, t,
      [&](const Matrix& S, Matrix& dS) {
        EXPECT_EQ(S, expected);
        dS.setZero();
        return 42.0;
      },
      grad);
  EXPECT_EQ(loss, 42.0);
  EXPECT_EQ(grad.size(), net.num_parameters());
  EXPECT_TRUE(grad.isZero(0.0));
}

TEST(ReferenceMlp, LossAndGradientAllocatesNothingAfterTheFirstCall) {
  Rng rng(12);
  ReferenceMlp net(2, {}, ve(), rng);
  const Matrix X = random_points(32, 2, rng);
  const Vector t = random_times(32, rng);
  const Matrix z = random_points(32, 2, rng);
  // (1/B) Σ (S + z)², computed without temporaries.
  const LossHead head = [&z](const Matrix& S, Matrix& dS) {
    double loss = 0.0;
    for (Index b = 0; b < S.rows(); ++b)
      for (Index i = 0; i < S.cols(); ++i) {
        const double r = S(b, i) + z(b, i);
        loss += r * r;
        dS(b, i) = 2.0 * r / S.rows();
      }
    return loss / S.rows();
  };
  Vector grad;
  net.loss_and_gradient(X, t, head, grad);
  const long allocations = testing::count_allocations([&] {
    for (int k = 0; k < 10; ++k) net.loss_and_gradient(X, t, head, grad);
  });
  if (allocations < 0) GTEST_SKIP() << "allocations cannot be counted in this build";
  EXPECT_EQ(allocations, 0);
  // The counter works: a score() call allocates its result and workspace.
  Matrix S;
  EXPECT_GT(testing::count_allocations([&] { net.score(X, t, S); }), 0);
}

TEST(ReferenceMlp, LargeBatchesAndThreadsGiveTheRowByRowScores) {
  // 1000 rows cross several of score()'s internal blocks; two threads at once
  // must not share any workspace.
  Rng rng(6);
  ReferenceMlp net(2, {}, ve(), rng);
  const Matrix X = random_points(1000, 2, rng);
  const Vector t = random_times(1000, rng);
  Matrix rows(1000, 2);
  for (Index b = 0; b < 1000; ++b) rows.row(b) = net.score(X.row(b), t[b]);
  Matrix S1, S2;
  std::thread other([&] { net.score(X, t, S1); });
  net.score(X, t, S2);
  other.join();
  EXPECT_EQ(S1, rows);
  EXPECT_EQ(S2, rows);
  Vector div;
  net.divergence(X, t, div);
  EXPECT_EQ(div[999], net.divergence(X.row(999), t[999])[0]);
}

TEST(ReferenceMlp, CloneIsIndependent) {
  Rng rng(8);
  ReferenceMlp net(1, {}, ve(), rng);
  auto copy = net.clone();
  const Matrix X{{0.3}, {-2.0}};
  EXPECT_EQ(copy->score(X, 0.5), net.score(X, 0.5));
  copy->parameters()[0] += 1.0;
  EXPECT_NE(copy->score(X, 0.5), net.score(X, 0.5));
  EXPECT_EQ(copy->name(), "reference-mlp");
}

TEST(ReferenceMlp, SameSeedSameNetwork) {
  Rng a(9), b(9), c(10);
  EXPECT_EQ(ReferenceMlp(1, {}, ve(), a).parameters(), ReferenceMlp(1, {}, ve(), b).parameters());
  Rng a2(9);
  EXPECT_NE(ReferenceMlp(1, {}, ve(), a2).parameters(), ReferenceMlp(1, {}, ve(), c).parameters());
}

TEST(ReferenceMlp, InvalidOptionsNameTheKey) {
  ReferenceMlpOptions o;
  o.hidden = 0;
  EXPECT_EQ(o.validate(), "hidden = 0 must be >= 1");
  o = {};
  o.embed_dim = 3;
  EXPECT_EQ(o.validate(), "embed_dim = 3 must be even and >= 2");
  o = {};
  o.output_scale = 0.0;
  EXPECT_NE(o.validate().find("output_scale"), std::string::npos);
  EXPECT_TRUE(ReferenceMlpOptions{}.validate().empty());
  Rng rng(1);
  o = {};
  o.hidden = -2;
  EXPECT_THROW(ReferenceMlp(1, o, ve(), rng), ConfigError);
  EXPECT_THROW(ReferenceMlp(0, {}, ve(), rng), ConfigError);
}

}  // namespace
}  // namespace diffgen

namespace diffgen {
namespace {

TEST(ReferenceMlpFused, ScoreAndDivergenceEqualTheSeparateCallsBitForBit) {
  Rng rng(17);
  auto sde = std::make_shared<VeSde>(25.0);
  for (Index d : {1, 3}) {
    ReferenceMlp net(d, ReferenceMlpOptions{}, sde, rng);
    Matrix X(300, d);  // more rows than one internal block
    rng.fill_normal(X);
    Vector t(300);
    for (Index i = 0; i < t.size(); ++i) t[i] = rng.uniform(1e-5, 1.0);
    Matrix S, S2;
    Vector div, div2;
    net.score(X, t, S);
    net.divergence(X, t, div);
    net.score_and_divergence(X, t, S2, div2);
    EXPECT_EQ(S, S2);
    EXPECT_EQ(div, div2);
  }
}

}  // namespace
}  // namespace diffgen
