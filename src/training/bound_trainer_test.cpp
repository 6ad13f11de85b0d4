#include "training/bound_trainer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "models/deep_mlp.hpp"
#include "numerics/quadrature.hpp"
#include "numerics/statistics.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

std::shared_ptr<const VpSde> vp(double T = 2.0) {
  return std::make_shared<const VpSde>(0.1, 20.0, T);
}

DeepMlp small_net(std::uint64_t seed) {
  DeepMlpOptions o;
  o.hidden = {8, 8};
  o.output = OutputParametrization::Score;
  Rng rng(seed);
  return DeepMlp(2, o, vp(), rng);
}

Matrix points(Index m, std::uint64_t seed) {
  Rng rng(seed);
  Matrix x(m, 2);
  rng.fill_normal(x);
  return x;
}

TEST(BoundTrainer, HeadValueAndGradientAgreeWithFiniteDifferences) {
  DsmBatch batch;
  batch.x0 = points(5, 1);
  batch.t = Vector::LinSpaced(5, 0.05, 0.9);
  batch.z = points(5, 2);
  perturb(*vp(), batch);
  const Matrix S = points(5, 3);
  BoundHeadValues values;
  const double mu = 0.7;
  const LossHead head = make_bound_head(batch, mu, &values);
  Matrix dS, unused;
  const double J = head(S, dS);
  double sm = 0.0, norm = 0.0;
  for (Index b = 0; b < 5; ++b) {
    sm += 0.5 * (batch.s_t[b] * S.row(b) + batch.z.row(b)).squaredNorm() / 5.0;
    norm += S.row(b).norm() / 5.0;
  }
  EXPECT_NEAR(values.sm_loss, sm, tolerance::kRoundoff);
  EXPECT_NEAR(values.score_norm, norm, tolerance::kRoundoff);
  EXPECT_NEAR(J, sm + mu * norm, tolerance::kRoundoff);
  const double h = 1e-6;
  for (Index b = 0; b < 5; ++b)
    for (Index i = 0; i < 2; ++i) {
      Matrix up = S, down = S;
      up(b, i) += h;
      down(b, i) -= h;
      EXPECT_NEAR((head(up, unused) - head(down, unused)) / (2 * h), dS(b, i), 1e-8) << b << "," << i;
    }
}

TEST(BoundTrainer, WithoutPenaltyTheFirstObjectiveIsHalfTheDenoisingLossOfItsDraw) {
  DeepMlp net = small_net(4);
  const Matrix data = points(50, 5);
  BoundTrainerOptions o;
  o.t_min = 0.01;
  BoundTrainer trainer(net, vp(), data, 0.8, nullptr, o, Rng(6));
  const DeepMlp before = net;
  const BoundStep step = trainer.step();
  // The same draw: all times first, then the noise, from the trainer's stream.
  Rng rng(6);
  Vector t(50);
  for (Index b = 0; b < 50; ++b) t[b] = rng.uniform(0.01, 0.8);
  Matrix z(50, 2);
  rng.fill_normal(z);
  EXPECT_NEAR(step.objective, 0.5 * dsm_loss(before, *vp(), data, t, z), tolerance::kRoundoff);
  EXPECT_DOUBLE_EQ(step.objective, step.sm_loss);
  EXPECT_DOUBLE_EQ(trainer.T(), 0.8);
  EXPECT_FALSE(net.parameters().isApprox(before.parameters()));
}

// ∂J/∂T by Leibniz's rule, averaged over steps at (nearly) frozen θ and T,
// against a central difference of J(T) computed by Gauss–Legendre in t over
// a fixed large noise sample.
TEST(BoundTrainer, TGradientMatchesTheDerivativeOfTheObjective) {
  const double T = 0.7, t_min = 0.02, lambda = 0.8, slope = 0.01;  // the network's part is about 0.02
  const Matrix data = points(400, 7);
  DeepMlp net = small_net(8);
  BoundTrainerOptions o;
  o.t_min = t_min, o.penalty = lambda, o.learn_T = true;
  o.lr = o.T_lr = 1e-14;  // θ and T stay put to 1e-12
  BoundTrainer trainer(net, vp(), data, T, [&](double) { return slope; }, o, Rng(9));
  const Index steps = 60;
  Vector draws(steps);
  for (Index k = 0; k < steps; ++k) draws[k] = trainer.step().dJ_dT;
  const Estimate estimate = mean_estimate(draws);

  // J(T) = (1/(T − t_min)) ∫ E[½‖s(t)S + z‖² + λ G(T) ‖S‖] dt + slope·T.
  const Index K = 30;
  Matrix x0(data.rows() * K, 2), z(data.rows() * K, 2);
  Rng rng(10);
  rng.fill_normal(z);
  for (Index k = 0; k < K; ++k) x0.middleRows(k * data.rows(), data.rows()) = data;
  Vector u, w;
  gauss_legendre_unit(24, u, w);
  const auto sde = vp();
  const auto J = [&](double horizon) {
    double sm = 0.0, norm = 0.0;
    for (Index q = 0; q < u.size(); ++q) {
      const double t = t_min + (horizon - t_min) * u[q];
      const Matrix x_t = sde->a(t) * x0 + sde->s(t) * z;
      Matrix S;
      net.score(x_t, Vector::Constant(x0.rows(), t), S);
      double sm_q = 0.0, norm_q = 0.0;
      for (Index b = 0; b < S.rows(); ++b) {
        sm_q += 0.5 * (sde->s(t) * S.row(b) + z.row(b)).squaredNorm();
        norm_q += S.row(b).norm();
      }
      sm += w[q] * sm_q / static_cast<double>(S.rows());
      norm += w[q] * norm_q / static_cast<double>(S.rows());
    }
    const double G = std::sqrt(sde->beta_integral(horizon) / (2.0 * static_cast<double>(data.rows())));
    return sm + lambda * G * norm + slope * horizon;
  };
  const double h = 1e-4;
  const double reference = (J(T + h) - J(T - h)) / (2 * h);
  // The reference carries Monte Carlo error of its own, of the same order.
  EXPECT_NEAR(estimate.value, reference, tolerance::kStandardErrors * std::sqrt(2.0) * estimate.standard_error)
      << "estimate " << estimate.value << " ± " << estimate.standard_error;
  EXPECT_NEAR(trainer.T(), T, 1e-11);
}

TEST(BoundTrainer, LearnedTFollowsTheDataTermsSlopeAndStaysInItsRange) {
  const Matrix data = points(30, 11);
  for (const double slope : {-50.0, 50.0}) {
    DeepMlp net = small_net(12);
    BoundTrainerOptions o;
    o.learn_T = true, o.T_lr = 0.05, o.T_lo = 0.3, o.T_hi = 1.5;
    BoundTrainer trainer(net, vp(), data, 1.0, [&](double) { return slope; }, o, Rng(13));
    for (int k = 0; k < 40; ++k) trainer.step();
    EXPECT_DOUBLE_EQ(trainer.T(), slope > 0 ? 0.3 : 1.5) << slope;
  }
}

TEST(BoundTrainer, NonFiniteDataStopsTheStepAndKeepsTheParameters) {
  Matrix data = points(10, 14);
  data(3, 1) = std::numeric_limits<double>::quiet_NaN();
  DeepMlp net = small_net(15);
  const Vector before = net.parameters();
  BoundTrainer trainer(net, vp(), data, 1.0, nullptr, {}, Rng(16));
  try {
    trainer.step();
    FAIL();
  } catch (const NumericalError& e) {
    EXPECT_NE(std::string(e.what()).find("step 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(net.parameters(), before);
}

TEST(BoundTrainer, RejectsBadOptionsAndHorizons) {
  const Matrix data = points(10, 17);
  DeepMlp net = small_net(18);
  BoundTrainerOptions o;
  o.penalty = -1.0;
  EXPECT_THROW(BoundTrainer(net, vp(), data, 1.0, nullptr, o, Rng(1)), ConfigError);
  o = {};
  EXPECT_THROW(BoundTrainer(net, vp(1.0), data, 1.5, nullptr, o, Rng(1)), ConfigError);
  o.learn_T = true;
  EXPECT_THROW(BoundTrainer(net, vp(), data, 1.0, nullptr, o, Rng(1)), ConfigError);  // no slope
  EXPECT_THROW(BoundTrainer(net, vp(), data, 2.5, [](double) { return 0.0; }, o, Rng(1)), ConfigError);
}

}  // namespace
}  // namespace diffgen
