#include "sampling/discrete_time.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "models/oracles.hpp"
#include "sampling/pf_ode_rk45.hpp"
#include "sampling/registry.hpp"
#include "sampling/score_denoiser.hpp"
#include "sampling/time_grid.hpp"
#include "testing/known_problems.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;

constexpr Index kSamples = 40000;
using tolerance::kStandardErrors;
constexpr std::uint64_t kSeed = 7;

void expect_moments(const Vector& x, double mean, double var, const std::string& what) {
  const double n = static_cast<double>(x.size());
  const double m = x.mean();
  const double v = (x.array() - m).square().sum() / (n - 1.0);
  EXPECT_NEAR(m, mean, kStandardErrors * std::sqrt(var / n)) << what;
  EXPECT_NEAR(v, var, kStandardErrors * var * std::sqrt(2.0 / (n - 1.0))) << what;
}

TEST(DiscreteTimeGrid, UniformAndGeometricAreNestedBitForBit) {
  const Vector u8 = discrete_time_uniform_grid(100.0, 8), u1024 = discrete_time_uniform_grid(100.0, 1024);
  const Vector g8 = discrete_time_geometric_grid(100.0, 1e-3, 8),
               g1024 = discrete_time_geometric_grid(100.0, 1e-3, 1024);
  ASSERT_EQ(u8.size(), 9);
  EXPECT_EQ(u8[0], 0.0);
  EXPECT_EQ(u8[8], 100.0);
  EXPECT_EQ(g8[0], 0.0);
  EXPECT_EQ(g8[8], 100.0);
  for (Index k = 0; k <= 8; ++k) {
    EXPECT_EQ(u8[k], u1024[128 * k]) << k;
    EXPECT_EQ(g8[k], g1024[128 * k]) << k;
  }
  // Equal ratios after the first step, and the first point t_min ρ.
  const double rho = std::pow(1e5, 1.0 / 8.0);
  EXPECT_NEAR(g8[1], 1e-3 * rho, 1e-15);
  for (Index k = 1; k < 8; ++k) EXPECT_NEAR(g8[k + 1] / g8[k], rho, 1e-12);
  EXPECT_EQ(validate_discrete_time_grid(u8), "");
  EXPECT_THROW(discrete_time_uniform_grid(0.0, 8), ConfigError);
  EXPECT_THROW(discrete_time_geometric_grid(1.0, 2.0, 8), ConfigError);
  EXPECT_THROW(discrete_time_geometric_grid(1.0, 0.1, 0), ConfigError);
}

TEST(DiscreteTimeGrid, UsableGridsIncreaseStrictlyFromZeroOrAbove) {
  EXPECT_EQ(validate_discrete_time_grid(Vector{{0.0, 0.5, 2.0, 10.0}}), "");
  EXPECT_EQ(validate_discrete_time_grid(Vector{{0.1, 0.5}}), "");
  EXPECT_NE(validate_discrete_time_grid(Vector{{0.0, 1.0, 1.0}}).find("not strictly increasing at index 2"),
            std::string::npos);
  EXPECT_NE(validate_discrete_time_grid(Vector{{0.0}}).find("need >= 2"), std::string::npos);
  EXPECT_NE(validate_discrete_time_grid(Vector{{-1.0, 2.0}}).find("below 0"), std::string::npos);
  EXPECT_NE(validate_discrete_time_grid(Vector{{0.0, std::numeric_limits<double>::infinity()}}).find("non-finite"),
            std::string::npos);
}

TEST(DiscreteTimeSampler, CovarianceMatchedStepIsExactForAGaussianTarget) {
  // For X ~ N(μ, σ²) each covariance-matched step has exactly the law of the
  // comparison's increment, so even 3 coarse steps give Ŷ_n ~ N(t_n μ, t_n² σ² + t_n).
  const double mu = 0.5, var = 2.0;
  const MixtureDenoiser f(gaussian_1d(mu, var));
  Vector grid(4);
  grid << 0.0, 0.3, 2.0, 5.0;
  Rng rng = Rng::stream(kSeed, {kStreamEval});
  const Matrix y = sample_discrete_time_covariance(f, Matrix::Zero(kSamples, 1), grid, rng);
  expect_moments(y.col(0), 5.0 * mu, 25.0 * var + 5.0, "covariance-matched");
}

TEST(DiscreteTimeSampler, MeanOnlyStepFollowsItsLinearRecursionForAGaussianTarget) {
  // Mean-only on N(μ, σ²): Ŷ_{k+1} = (1 + δ σ²/(1 + t σ²)) Ŷ_k + δ μ/(1 + t σ²) + √δ Z,
  // a Gaussian whose mean and variance follow in closed form (and differ from the target's).
  const double mu = 0.5, var = 2.0;
  const MixtureDenoiser f(gaussian_1d(mu, var));
  const Vector grid = discrete_time_uniform_grid(4.0, 4);
  double m = 0.0, v = 0.0;
  for (Index k = 0; k < 4; ++k) {
    const double t = grid[k], d = grid[k + 1] - t, a = 1.0 + d * var / (1.0 + t * var);
    m = a * m + d * mu / (1.0 + t * var);
    v = a * a * v + d;
  }
  ASSERT_GT(std::abs(v - (16.0 * var + 4.0)), 5.0);  // coarse steps: visibly not the target's variance
  Rng rng = Rng::stream(kSeed, {kStreamEval, 1});
  const Matrix y = sample_discrete_time(f, Matrix::Zero(kSamples, 1), grid, rng);
  expect_moments(y.col(0), m, v, "mean-only");
}

TEST(DiscreteTimeSampler, CovarianceMatchedStepIsExactForAFullCovarianceGaussianIn2d) {
  SquareMatrix C(2, 2);
  C << 1.5, 0.6, 0.6, 0.8;
  Matrix mu(1, 2);
  mu << 1.0, -0.5;
  auto g = std::make_shared<GaussianMixture>(Vector::Ones(1), mu, std::vector<SquareMatrix>{C});
  const MixtureDenoiser f(g);
  const Vector grid = discrete_time_geometric_grid(6.0, 0.1, 3);
  Rng rng = Rng::stream(kSeed, {kStreamEval, 2});
  const Matrix y = sample_discrete_time_covariance(f, Matrix::Zero(kSamples, 2), grid, rng);
  // Ŷ_n / t_n ~ N(μ, C + I / t_n): check each coordinate and the projection on (1, 1).
  const double t = 6.0;
  for (Index j = 0; j < 2; ++j) expect_moments(y.col(j) / t, mu(0, j), C(j, j) + 1.0 / t, "coordinate");
  expect_moments((y.col(0) + y.col(1)) / t, mu.sum(), C.sum() + 2.0 / t, "sum");
}

TEST(DiscreteTimeSampler, DdpmAncestralIsTheMeanOnlyStepUnderTheMapping) {
  // THEORY.md §9: under t = a²/s², y = (a/s²) x, ancestral sampling on a VP
  // SDE and the mean-only discrete-time step coincide draw for draw.
  auto target = std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(2.0, 0.5));
  auto sde = std::make_shared<VpSde>();
  std::shared_ptr<const ScoreModel> oracle = make_population_oracle(target, sde);
  const Vector tau = uniform_time_grid(1.0, 1e-3, 60);
  Vector t(tau.size());
  for (Index k = 0; k < tau.size(); ++k) t[k] = sde->a(tau[k]) * sde->a(tau[k]) / sde->s2(tau[k]);
  Rng r0 = Rng::stream(kSeed, {kStreamEval, 3});
  Matrix x_T(200, 1);
  r0.fill_normal(x_T);
  const Matrix y0 = (sde->a(1.0) / sde->s2(1.0)) * x_T;

  std::vector<Matrix> xs, ys;
  Rng ra = Rng::stream(kSeed, {kStreamEval, 4}), rb = ra, rc = ra;
  sample_ancestral(*oracle, *sde, x_T, tau, ra, [&](Index, double, const Matrix& x) { xs.push_back(x); });
  // With the exact conditional mean...
  const MixtureDenoiser exact(target);
  sample_discrete_time(exact, y0, t, rb, [&](Index, double, const Matrix& y) { ys.push_back(y); });
  ASSERT_EQ(xs.size(), ys.size());
  for (std::size_t k = 0; k < xs.size(); ++k) {
    const double tk = tau[static_cast<Index>(k) + 1];
    const Matrix x_from_y = (sde->s2(tk) / sde->a(tk)) * ys[k];
    EXPECT_LT((xs[k] - x_from_y).cwiseAbs().maxCoeff(), 1e-12 * (1.0 + xs[k].cwiseAbs().maxCoeff())) << "step " << k;
  }
  // ... and with the same score model through Tweedie's conversion.
  const ScoreModelDenoiser tweedie(oracle, sde, 1e-3);
  const Matrix y_n = sample_discrete_time(tweedie, y0, t, rc);
  const Matrix x_n = (sde->s2(tau[tau.size() - 1]) / sde->a(tau[tau.size() - 1])) * y_n;
  EXPECT_LT((xs.back() - x_n).cwiseAbs().maxCoeff(), 1e-12 * (1.0 + x_n.cwiseAbs().maxCoeff()));
}

TEST(DiscreteTimeSampler, AncestralAndRk45AreSamplersByName) {
  auto target = std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(2.0, 0.5));
  auto sde = std::make_shared<VpSde>();
  const auto oracle = make_population_oracle(target, sde);
  const Vector tau = uniform_time_grid(1.0, 1e-3, 20);
  Matrix x(50, 1);
  Rng r0(3);
  r0.fill_normal(x);
  Rng a = Rng::stream(kSeed, {kStreamEval, 6}), b = a;
  EXPECT_EQ(make_sampler("ancestral")(*oracle, *sde, x, tau, a, {}), sample_ancestral(*oracle, *sde, x, tau, b));
  EXPECT_EQ(make_sampler("pf-ode-rk45")(*oracle, *sde, x, tau, a, {}),
            sample_pf_ode_rk45(*oracle, *sde, x, tau, PfOdeSamplerOptions{}));
}

TEST(DiscreteTimeSampler, BitIdenticalForAnyThreadCount) {
  auto target = std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0, 1.0));
  const MixtureDenoiser f(target);
  const Vector grid = discrete_time_geometric_grid(50.0, 0.01, 20);
  Matrix a, b;
  const int before = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Rng rng = Rng::stream(kSeed, {kStreamEval, 5});
    (threads == 1 ? a : b) = sample_discrete_time_covariance(f, Matrix::Zero(5000, 1), grid, rng);
  }
  set_num_threads(before);
  EXPECT_EQ(a, b);
}

TEST(DiscreteTimeSampler, RefusesBadInput) {
  const MixtureDenoiser f(gaussian_1d(0.0, 1.0));
  Rng rng(1);
  Vector bad(3);
  bad << 0.0, 1.0, 1.0;
  EXPECT_THROW(sample_discrete_time(f, Matrix::Zero(4, 1), bad, rng), ConfigError);
  EXPECT_THROW(sample_discrete_time(f, Matrix::Zero(4, 2), discrete_time_uniform_grid(1.0, 2), rng), ConfigError);
  EXPECT_EQ(step_rule_by_name("covariance"), StepRule::CovarianceMatched);
  EXPECT_EQ(step_rule_name(StepRule::MeanOnly), "mean");
  EXPECT_THROW(step_rule_by_name("both", "rules"), ConfigError);
}

}  // namespace
}  // namespace diffgen
