#include "bounds/network_terms.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "models/oracles.hpp"
#include "numerics/quadrature.hpp"
#include "targets/gaussian_mixture.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

// s(x, t) = c t at every x: its norm is ‖c‖ t, so each rule's L is known.
class LinearInTime final : public ScoreModel {
 public:
  explicit LinearInTime(Eigen::RowVectorXd c) : c_(std::move(c)) {}
  Index dim() const override { return c_.size(); }
  std::string name() const override { return "linear-in-time"; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override {
    out.resize(X.rows(), X.cols());
    for (Index b = 0; b < X.rows(); ++b) out.row(b) = t[b] * c_;
  }

 private:
  Eigen::RowVectorXd c_;
};

Matrix points(Index m) {
  Rng rng(4);
  Matrix x(m, 2);
  rng.fill_normal(x);
  return x;
}

TEST(ScoreNormBound, EachRuleReadsTheScoreAtItsOwnTimes) {
  const LinearInTime model(Eigen::RowVector2d(3.0, 4.0));  // ‖c‖ = 5
  const VpSde sde(0.1, 20.0, 2.0);
  const double T = 0.8;
  const Matrix x = points(20);
  ScoreNormOptions o;
  o.steps = 100;
  Rng rng(1);
  // Consistent: the first step scores the state at its time T.
  EXPECT_NEAR(score_norm_bound(model, sde, T, x, o, rng), 5.0 * T, tolerance::kRoundoff);
  // The toy code: the last step's state (at time δ) is scored at T − δ.
  for (auto rule : {ScoreNormRule::TrajectoryUnreversed, ScoreNormRule::TrajectoryMaxUnreversed}) {
    o.rule = rule;
    EXPECT_NEAR(score_norm_bound(model, sde, T, x, o, rng), 5.0 * (T - T / 100.0), tolerance::kRoundoff);
  }
  // The image code: the batch mean of 5 t over t ~ U[0, T], the largest of
  // `draws` batches: above the mean 5 T / 2 and below 5 T.
  o.rule = ScoreNormRule::CleanRandomT;
  o.draws = 50;
  const double L = score_norm_bound(model, sde, T, x, o, rng);
  EXPECT_GT(L, 2.5 * T);
  EXPECT_LT(L, 5.0 * T);
  EXPECT_THROW(score_norm_bound(model, sde, 3.0, x, o, rng), ConfigError);
  o.steps = 0;
  EXPECT_THROW(score_norm_bound(model, sde, T, x, o, rng), ConfigError);
}

// For the target N(0, I) under the VP SDE, a(t)² + s(t)² = 1 and the exact
// score is −y: the loss ½ E‖s(t)(−y) + z‖² with y = a x + s z is
// ½ d E_t[a(t)²] = ½ d (1/(T − t0)) ∫_{t0}^T e^{−B(t)} dt.
TEST(FreshDenoisingLoss, OfTheExactScoreOfAGaussianIsClosedForm) {
  auto sde = std::make_shared<VpSde>(0.1, 20.0, 2.0);
  Matrix mean = Matrix::Zero(1, 2), var = Matrix::Ones(1, 2);
  auto target = std::make_shared<GaussianMixture>(Vector::Ones(1), mean, var);
  const auto oracle = make_population_oracle(target, sde);
  Rng data_rng(2);
  const Matrix x = target->sample(400, data_rng);
  for (double t0 : {0.0, 0.05}) {
    const double T = 0.6;
    const Index n = 20001;
    Vector f(n);
    const double h = (T - t0) / static_cast<double>(n - 1);
    for (Index k = 0; k < n; ++k) f[k] = std::exp(-sde->beta_integral(t0 + h * static_cast<double>(k)));
    const double exact = 0.5 * 2.0 * simpson(f, h) / (T - t0);
    Rng rng(3);
    const Estimate e = fresh_denoising_loss(*oracle, *sde, t0, T, x, 20, rng);
    EXPECT_GT(e.standard_error, 0.0);
    EXPECT_NEAR(e.value, exact, tolerance::kStandardErrors * e.standard_error) << t0;
  }
}

// With one training point the empirical score makes every term of the
// loss vanish: s(t)·(−(y − a x)/s²) + z = 0.
TEST(FreshDenoisingLoss, OfTheEmpiricalScoreOfOnePointIsZero) {
  auto sde = std::make_shared<VpSde>(0.1, 20.0, 1.0);
  const Matrix x = points(1);
  const auto oracle = make_empirical_oracle(x, sde);
  Rng rng(5);
  const Estimate e = fresh_denoising_loss(*oracle, *sde, 1e-3, 1.0, x, 50, rng);
  EXPECT_NEAR(e.value, 0.0, 1e-20);
  EXPECT_THROW(fresh_denoising_loss(*oracle, *sde, 1.0, 1.0, x, 50, rng), ConfigError);
}

}  // namespace
}  // namespace diffgen
