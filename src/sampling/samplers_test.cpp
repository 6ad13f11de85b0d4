#include "sampling/samplers.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "models/oracles.hpp"
#include "sampling/time_grid.hpp"
#include "targets/gaussian_mixture.hpp"
#include "sampling/registry.hpp"
#include "testing/known_problems.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;

constexpr Index kSamples = 20000;
using tolerance::kStandardErrors;
constexpr std::uint64_t kSeed = 42;

constexpr double kMean = 0.5, kVar = 2.0;  // the target N(0.5, 2)

// Exact draws from p_T = N(a_T μ, a_T² v + s_T²), so the sampler is the only error.
Matrix exact_prior_samples(const Sde& sde, Rng& rng) {
  Matrix x(kSamples, 1);
  rng.fill_normal(x);
  const double T = sde.T();
  return (sde.a(T) * kMean + std::sqrt(sde.a(T) * sde.a(T) * kVar + sde.s2(T)) * x.array()).matrix();
}

void expect_moments(const Matrix& x, double mean, double var, const std::string& what) {
  const double n = static_cast<double>(x.rows());
  const double m = x.mean();
  const double v = (x.array() - m).square().sum() / (n - 1.0);
  // Standard errors of the sample mean and variance of a Gaussian.
  EXPECT_NEAR(m, mean, kStandardErrors * std::sqrt(var / n)) << what;
  EXPECT_NEAR(v, var, kStandardErrors * var * std::sqrt(2.0 / (n - 1.0))) << what;
}

TEST(TimeGrid, EndpointsAndSpacing) {
  const Vector u = uniform_time_grid(1.0, 1e-5, 4);
  ASSERT_EQ(u.size(), 5);
  EXPECT_EQ(u[0], 1.0);
  EXPECT_EQ(u[4], 1e-5);
  EXPECT_NEAR(u[1] - u[2], (1.0 - 1e-5) / 4.0, 1e-15);
  const Vector g = geometric_time_grid(1.0, 1e-5, 5);
  EXPECT_EQ(g[0], 1.0);
  EXPECT_EQ(g[5], 1e-5);
  for (Index k = 0; k < 5; ++k) EXPECT_NEAR(g[k + 1] / g[k], 0.1, 1e-12);
  EXPECT_EQ(validate_time_grid(u), "");
  EXPECT_THROW(uniform_time_grid(1.0, 0.0, 4), ConfigError);
  EXPECT_THROW(geometric_time_grid(1.0, 1e-5, 0), ConfigError);
  Vector bad(3);
  bad << 1.0, 0.5, 0.5;
  EXPECT_NE(validate_time_grid(bad).find("not strictly decreasing"), std::string::npos);
}

TEST(EulerMaruyama, MomentsOfAGaussianTargetVe) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  Rng rng = Rng::stream(kSeed, {kStreamEval});
  Matrix x = exact_prior_samples(*sde, rng);
  const Matrix out = sample_euler_maruyama(*oracle, *sde, x, uniform_time_grid(1.0, 1e-5, 500), rng);
  expect_moments(out, kMean, kVar + sde->s2(1e-5), "VE");
}

TEST(EulerMaruyama, MomentsOfAGaussianTargetVp) {
  auto sde = std::make_shared<VpSde>();
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  Rng rng = Rng::stream(kSeed, {kStreamEval, 1});
  Matrix x = exact_prior_samples(*sde, rng);
  const Matrix out = sample_euler_maruyama(*oracle, *sde, x, uniform_time_grid(1.0, 1e-5, 500), rng);
  const double a = sde->a(1e-5);
  expect_moments(out, a * kMean, a * a * kVar + sde->s2(1e-5), "VP");
}

TEST(PfOdeHeun, MomentsOfAGaussianTarget) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  Rng rng = Rng::stream(kSeed, {kStreamEval, 2});
  Matrix x = exact_prior_samples(*sde, rng);
  const Matrix out = sample_pf_ode_heun(*oracle, *sde, x, uniform_time_grid(1.0, 1e-5, 100), rng);
  expect_moments(out, kMean, kVar + sde->s2(1e-5), "heun");
}

TEST(PfOdeHeun, ErrorShrinksQuadraticallyWhenStepsDouble) {
  // The exact flow of a Gaussian target is affine: x(ε) = a_ε μ + k (x_T - a_T μ),
  // k = sqrt(v_ε / v_T), v_t = a_t² v + s_t².
  for (int which = 0; which < 2; ++which) {
    std::shared_ptr<const Sde> sde =
        which == 0 ? std::shared_ptr<const Sde>(std::make_shared<VeSde>(25.0)) : std::make_shared<VpSde>();
    const auto oracle = make_population_oracle(gaussian_1d(), sde);
    const double eps = 1e-3, T = sde->T();
    const Matrix xT = Vector::LinSpaced(11, -20.0, 20.0) * (which == 0 ? 1.0 : 0.1);
    const double vT = sde->a(T) * sde->a(T) * kVar + sde->s2(T), ve = sde->a(eps) * sde->a(eps) * kVar + sde->s2(eps);
    const Matrix exact = (sde->a(eps) * kMean + std::sqrt(ve / vT) * (xT.array() - sde->a(T) * kMean)).matrix();
    Rng rng(0);
    double previous = 0.0;
    for (Index steps : {50, 100, 200, 400}) {
      const Matrix out = sample_pf_ode_heun(*oracle, *sde, xT, uniform_time_grid(T, eps, steps), rng);
      const double err = (out - exact).cwiseAbs().maxCoeff();
      if (previous > 0.0) {
        EXPECT_GT(previous / err, 3.5) << sde->name() << " " << steps;
        EXPECT_LT(previous / err, 4.5) << sde->name() << " " << steps;
      }
      previous = err;
    }
  }
}

TEST(Samplers, IdenticalForOneAndTwoThreadsAndCallbackSeesEveryStep) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle =
      make_population_oracle(std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0)), sde);
  const Vector grid = geometric_time_grid(1.0, 1e-3, 20);
  Matrix out[2];
  Index calls = 0;
  double last_t = 0.0;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Rng rng = Rng::stream(kSeed, {kStreamEval, 3});
    const Matrix xT = sde->sample_prior(5000, 1, rng);  // several score chunks
    out[threads - 1] = sample_euler_maruyama(*oracle, *sde, xT, grid, rng, [&](Index step, double t, const Matrix& x) {
      ++calls;
      last_t = t;
      EXPECT_EQ(t, grid[step]);
      EXPECT_EQ(x.rows(), 5000);
    });
  }
  set_num_threads(0);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(calls, 40);
  EXPECT_EQ(last_t, 1e-3);
}

TEST(Samplers, ByNameAndInputChecks) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  Rng rng(1);
  const Matrix xT = Matrix::Zero(4, 1);
  const Vector grid = uniform_time_grid(1.0, 0.01, 10);
  EXPECT_EQ(make_sampler("pf-ode-heun")(*oracle, *sde, xT, grid, rng, {}),
            sample_pf_ode_heun(*oracle, *sde, xT, grid, rng));
  EXPECT_THROW(sample_euler_maruyama(*oracle, *sde, Matrix::Zero(4, 2), grid, rng), ConfigError);
  Vector increasing = grid.reverse();
  EXPECT_THROW(sample_pf_ode_heun(*oracle, *sde, xT, increasing, rng), ConfigError);
  EXPECT_THROW(sample_pf_ode_heun(*oracle, *sde, xT, uniform_time_grid(2.0, 0.01, 10), rng), ConfigError);
}

}  // namespace
}  // namespace diffgen
