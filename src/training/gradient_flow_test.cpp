#include "training/gradient_flow.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "training/dsm_loss.hpp"

namespace diffgen {
namespace {

// A model, a draw set and a random A; VE with a moderate σ keeps G's
// spectrum wide enough to be interesting yet Euler-integrable in test 3.
struct Problem {
  VeSde sde{5.0};
  Rng init_rng;  // declared before model, which draws its weights from it
  RandomFeatureModel model;
  Matrix x0, z;
  Vector t;
  Matrix A;

  Problem(Index d, Index m, Index N, std::uint64_t seed)
      : init_rng(Rng::stream(seed, {kStreamInit})),
        model(d, RandomFeatureOptions{.width = m, .embed_dim = 4, .embed_scale = 30.0, .init_std = 0.0}, init_rng) {
    Rng rng = Rng::stream(seed, {kStreamData});
    x0.resize(N, d);
    rng.fill_normal(x0);
    x0.array() += 1.0;  // off-centre, so B carries the mean as well as the noise
    t.resize(N);
    for (Index j = 0; j < N; ++j) t[j] = rng.uniform(0.01, 1.0);
    z.resize(N, d);
    rng.fill_normal(z);
    A.resize(d, m);
    rng.fill_normal(A);
  }

  void set_parameters(const Matrix& coefficients) { model.coefficients() = coefficients; }
};

double relative(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(b), 1e-300);
}

class GradientFlowDims : public ::testing::TestWithParam<Index> {};

TEST_P(GradientFlowDims, QuadraticFormEqualsDsmLoss) {
  Problem p(GetParam(), 16, 200, 11);
  const QuadraticDsmLoss q = quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
  ASSERT_EQ(q.G.rows(), 16);
  ASSERT_EQ(q.B.rows(), GetParam());
  ASSERT_EQ(q.N, 200);
  for (double scale : {0.0, 1.0, 30.0}) {
    const Matrix A = scale * p.A;
    p.set_parameters(A);
    const double direct = dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
    EXPECT_LT(relative(q.value(A), direct), 1e-10) << "scale " << scale << ": " << q.value(A) << " vs " << direct;
  }
}

TEST_P(GradientFlowDims, GradientEqualsBackprop) {
  const Index d = GetParam();
  Problem p(d, 16, 200, 12);
  const QuadraticDsmLoss q = quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
  p.set_parameters(p.A);
  DsmBatch batch{p.x0, p.t, p.z, {}, {}};
  perturb(p.sde, batch);
  Vector grad;
  const double loss = p.model.loss_and_gradient(batch.x_t, batch.t, make_dsm_head(batch), grad);
  EXPECT_LT(relative(q.value(p.A), loss), 1e-10);
  // The flat parameters are A row-major.
  const Matrix backprop = Eigen::Map<const Matrix>(grad.data(), d, 16);
  const Matrix closed = q.gradient(p.A);
  EXPECT_LT((closed - backprop).norm(), 1e-9 * backprop.norm()) << closed << "\nvs\n" << backprop;
}

INSTANTIATE_TEST_SUITE_P(GradientFlow, GradientFlowDims, ::testing::Values(Index{1}, Index{2}));

// Explicit Euler on dA/dτ = −2(AG + B) up to τ.
Matrix euler(const QuadraticDsmLoss& q, const Matrix& A0, double tau, long steps) {
  const double h = tau / static_cast<double>(steps);
  Matrix A = A0, AG(A0.rows(), A0.cols());
  for (long k = 0; k < steps; ++k) {
    AG.noalias() = A * q.G;
    A -= (2.0 * h) * (AG + q.B);
  }
  return A;
}

TEST(GradientFlow, MatchesEulerWithFirstOrderConvergence) {
  Problem p(2, 16, 200, 13);
  const QuadraticDsmLoss q = quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
  const ExactGradientFlow flow(q, p.A);
  const double tau = 0.5;
  const Matrix exact = flow.at(tau);
  // Euler is stable only for h < 1/λ_max; start safely below that.
  const double lambda_max = flow.eigenvalues().maxCoeff();
  long steps = std::max(50000L, static_cast<long>(std::ceil(4.0 * tau * lambda_max)));
  ASSERT_LE(steps, 100000L) << "G too stiff for the test's step budget: λ_max = " << lambda_max;
  // The flow must actually move A, or the comparison says nothing.
  ASSERT_GT((exact - p.A).norm(), 1e-2 * p.A.norm());
  double previous = 0.0;
  for (int level = 0; level < 3; ++level, steps *= 2) {
    const double error = (euler(q, p.A, tau, steps) - exact).norm() / exact.norm();
    if (level > 0) {
      const double ratio = previous / error;
      EXPECT_GT(ratio, 1.8) << "steps " << steps;
      EXPECT_LT(ratio, 2.2) << "steps " << steps;
    }
    previous = error;
  }
  EXPECT_LT(previous, 1e-4);
}

TEST(GradientFlow, LossDecreasesToTheMinimum) {
  Problem p(2, 16, 200, 14);
  const QuadraticDsmLoss q = quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
  const ExactGradientFlow flow(q, p.A);
  EXPECT_EQ(flow.at(0.0), p.A);  // bit for bit
  EXPECT_EQ(flow.loss_at(0.0), q.value(p.A));

  double previous = flow.loss_at(0.0);
  for (double tau = 1e-4; tau < 1e4; tau *= 1.5) {
    const double loss = flow.loss_at(tau);
    EXPECT_LE(loss, previous + 1e-12 * std::abs(previous)) << "tau " << tau;
    previous = loss;
  }
  const double minimum = q.value(flow.minimizer());
  const double at_end = flow.loss_at(1e300);
  EXPECT_LT(relative(at_end, minimum), 1e-9);
  EXPECT_LT(std::abs(previous - minimum), 1e-3 * (q.value(p.A) - minimum));
  // A* is a minimum: random perturbations never lower L.
  Rng rng(99);
  for (int k = 0; k < 20; ++k) {
    Matrix dA(2, 16);
    rng.fill_normal(dA);
    EXPECT_GE(q.value(flow.minimizer() + 1e-3 * dA), minimum - 1e-12 * std::abs(minimum));
  }
  // At τ → ∞ the gradient vanishes on range(G) (and on null(G), where B is 0).
  const Matrix grad = q.gradient(flow.at(1e300));
  const Matrix grad_range = grad * flow.eigenvectors();
  for (Index i = 0; i < 16; ++i) {
    if (flow.eigenvalues()[i] == 0.0) continue;
    EXPECT_LT(grad_range.col(i).norm(), 1e-8 * q.gradient(p.A).norm()) << "mode " << i;
  }
  EXPECT_LT(grad.norm(), 1e-8 * q.gradient(p.A).norm());
}

TEST(GradientFlow, NullSpaceOfGDoesNotMove) {
  // Two feature directions never seen with s > 0 are simulated by a G with a
  // zero block: A must keep A0 there at every τ.
  QuadraticDsmLoss q;
  q.G = SquareMatrix::Zero(4, 4);
  q.G.topLeftCorner(2, 2) << 2.0, 0.5, 0.5, 1.0;
  q.B = Matrix::Zero(1, 4);
  q.B << 0.3, -0.7, 0.0, 0.0;
  q.c0 = 1.0;
  q.N = 1;
  Matrix A0(1, 4);
  A0 << 1.0, 2.0, 3.0, -4.0;
  const ExactGradientFlow flow(q, A0);
  EXPECT_EQ(flow.rank(), 2);
  for (double tau : {0.1, 10.0, 1e300}) {
    const Matrix A = flow.at(tau);
    EXPECT_NEAR(A(0, 2), 3.0, 1e-12);
    EXPECT_NEAR(A(0, 3), -4.0, 1e-12);
  }
  // On range(G) the limit solves A G = −B.
  const Matrix limit = flow.at(1e300);
  EXPECT_LT((limit * q.G + q.B).norm(), 1e-12);
}

TEST(GradientFlow, RejectsBadInput) {
  Problem p(2, 16, 20, 15);
  EXPECT_THROW(quadratic_dsm_loss(p.model, p.sde, p.x0.leftCols(1), p.t, p.z), ConfigError);
  EXPECT_THROW(quadratic_dsm_loss(p.model, p.sde, p.x0, p.t.head(3), p.z), ConfigError);
  EXPECT_THROW(quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z.topRows(3)), ConfigError);
  EXPECT_THROW(quadratic_dsm_loss(p.model, p.sde, Matrix(0, 2), Vector(0), Matrix(0, 2)), ConfigError);
  const QuadraticDsmLoss q = quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
  EXPECT_THROW(ExactGradientFlow(q, Matrix::Zero(2, 15)), ConfigError);
  EXPECT_THROW(ExactGradientFlow(q, Matrix::Zero(1, 16)), ConfigError);
  EXPECT_THROW(ExactGradientFlow(q, p.A, -1.0), ConfigError);
  const ExactGradientFlow flow(q, p.A);
  EXPECT_THROW(flow.at(-1.0), ConfigError);
  EXPECT_THROW(flow.at(std::nan("")), ConfigError);
  EXPECT_THROW(flow.loss_at(INFINITY), ConfigError);
  try {
    flow.at(-2.0);
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tau"), std::string::npos);
  }
}

TEST(GradientFlow, QuadraticFormInBlocksEqualsTheWholeDrawSet) {
  // Blocks of 7 over 50 draws (the last one short): the forms averaged with
  // weights len/N are the form of the whole set, up to rounding.
  Problem p(2, 12, 50, 16);
  const QuadraticDsmLoss whole = quadratic_dsm_loss(p.model, p.sde, p.x0, p.t, p.z);
  for (Index block : {7, 50, 1000}) {
    const QuadraticDsmLoss blocks = quadratic_dsm_loss_in_blocks(p.model, p.sde, p.x0, p.t, p.z, block);
    EXPECT_EQ(blocks.N, 50);
    EXPECT_LT((blocks.G - whole.G).cwiseAbs().maxCoeff(), 1e-14 * whole.G.cwiseAbs().maxCoeff()) << block;
    EXPECT_LT((blocks.B - whole.B).cwiseAbs().maxCoeff(), 1e-14 * whole.B.cwiseAbs().maxCoeff()) << block;
    EXPECT_NEAR(blocks.c0, whole.c0, 1e-14 * whole.c0) << block;
    EXPECT_NEAR(blocks.value(p.A), whole.value(p.A), 1e-12 * std::abs(whole.value(p.A))) << block;
  }
  EXPECT_THROW(quadratic_dsm_loss_in_blocks(p.model, p.sde, p.x0, p.t, p.z, 0), ConfigError);
}

}  // namespace
}  // namespace diffgen
