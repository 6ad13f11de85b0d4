#include "sampling/pf_ode_rk45.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "models/oracles.hpp"
#include "sampling/time_grid.hpp"
#include "testing/known_problems.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;

// For X ~ N(μ, σ²) the probability-flow ODE is affine: with
// m(τ) = a(τ) μ and v(τ) = a(τ)² σ² + s(τ)², x(τ) = m(τ) + (x(T) - m(T)) √(v(τ) / v(T)).
double exact_flow(const Sde& sde, double mu, double var, double x_T, double tau) {
  const double T = sde.T();
  const double vT = sde.a(T) * sde.a(T) * var + sde.s2(T), v = sde.a(tau) * sde.a(tau) * var + sde.s2(tau);
  return sde.a(tau) * mu + (x_T - sde.a(T) * mu) * std::sqrt(v / vT);
}

TEST(PfOdeRk45Sampler, FollowsTheAffineFlowOfAGaussianTarget) {
  const double mu = 0.5, var = 2.0;
  for (std::shared_ptr<const Sde> sde : {std::shared_ptr<const Sde>(std::make_shared<VeSde>(25.0)),
                                         std::shared_ptr<const Sde>(std::make_shared<VpSde>())}) {
    const auto oracle = make_population_oracle(gaussian_1d(mu, var), sde);
    Matrix x(5, 1);
    x << -20.0, -3.0, 0.0, 1.0, 15.0;
    if (sde->name() == "vp") x /= 10.0;
    const Matrix x_T = x;
    const Vector grid = uniform_time_grid(1.0, 1e-5, 4);
    PfOdeSamplerOptions o;
    o.rtol = o.atol = 1e-9;
    PfOdeSamplerSummary summary;
    std::vector<std::pair<double, Matrix>> at;
    const Matrix out = sample_pf_ode_rk45(*oracle, *sde, x, grid, o, &summary,
                                          [&](Index, double tau, const Matrix& xs) { at.emplace_back(tau, xs); });
    ASSERT_EQ(at.size(), 4u);
    for (const auto& [tau, xs] : at)
      for (Index i = 0; i < x.rows(); ++i)
        EXPECT_NEAR(xs(i, 0), exact_flow(*sde, mu, var, x_T(i, 0), tau), 1e-6 * (1.0 + std::abs(xs(i, 0))))
            << sde->name() << " τ = " << tau;
    EXPECT_EQ(out, at.back().second);
    EXPECT_GT(summary.steps, 4);
  }
}

TEST(PfOdeRk45Sampler, ErrorShrinksWithTheTolerance) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(0.0, 1.0), sde);
  const Matrix x = Matrix::Constant(1, 1, 5.0);
  const Vector grid = uniform_time_grid(1.0, 1e-3, 1);
  const double want = exact_flow(*sde, 0.0, 1.0, 5.0, 1e-3);
  double previous = 1.0;
  for (double tol : {1e-4, 1e-7, 1e-10}) {
    PfOdeSamplerOptions o;
    o.rtol = o.atol = tol;
    const double err = std::abs(sample_pf_ode_rk45(*oracle, *sde, x, grid, o)(0, 0) - want);
    EXPECT_LT(err, previous);
    EXPECT_LT(err, 100.0 * tol);
    previous = err;
  }
}

TEST(PfOdeRk45Sampler, BitIdenticalForAnyThreadCountAndRefusesBadInput) {
  auto sde = std::make_shared<VpSde>();
  const auto oracle =
      make_population_oracle(std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(2.0, 0.3)), sde);
  Rng rng = Rng::stream(3, {kStreamEval});
  Matrix x(300, 1);
  rng.fill_normal(x);
  const Vector grid = geometric_time_grid(1.0, 1e-3, 5);
  const int before = num_threads();
  set_num_threads(1);
  const Matrix a = sample_pf_ode_rk45(*oracle, *sde, x, grid, rng);
  set_num_threads(2);
  const Matrix b = sample_pf_ode_rk45(*oracle, *sde, x, grid, rng);
  set_num_threads(before);
  EXPECT_EQ(a, b);
  PfOdeSamplerOptions o;
  o.rtol = 0.0;
  EXPECT_THROW(sample_pf_ode_rk45(*oracle, *sde, x, grid, o), ConfigError);
  Vector up(2);
  up << 0.1, 0.5;
  EXPECT_THROW(sample_pf_ode_rk45(*oracle, *sde, x, up, rng), ConfigError);
  o = {};
  o.max_steps = 2;
  EXPECT_THROW(sample_pf_ode_rk45(*oracle, *sde, x, grid, o), NumericalError);
}

}  // namespace
}  // namespace diffgen
