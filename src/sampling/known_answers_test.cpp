// Every sampler of the registry on every known problem under every forward
// process: started from exact draws of p_T and run with the exact score (the
// population oracle), its samples must have the mean and covariance of p_ε
// in closed form, so the discretization is the only error and it is small.
// A sampler added to the registry is checked here without a new test.
#include <gtest/gtest.h>

#include <cmath>

#include "models/oracles.hpp"
#include "sampling/registry.hpp"
#include "sampling/time_grid.hpp"
#include "testing/known_problems.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using tolerance::kStandardErrors;

constexpr Index kPoints = 4000;
constexpr Index kSteps = 200;
constexpr double kEps = 1e-3;

// Exact draws of p_t: a(t) X + s(t) Z with X from the target.
Matrix draws_at(const GaussianMixture& target, const Sde& sde, double t, Index n, Rng& rng) {
  Matrix z(n, target.dim());
  rng.fill_normal(z);
  return sde.a(t) * target.sample(n, rng) + sde.s(t) * z;
}

// The law at t of X + noise: mean a μ, covariance a² C + s² I.
struct Moments {
  Vector mean;
  SquareMatrix covariance;
};
Moments moments_at(const GaussianMixture& target, const Sde& sde, double t) {
  const double a = sde.a(t);
  SquareMatrix c = a * a * target.covariance();
  c.diagonal().array() += sde.s2(t);
  return {a * target.mean(), c};
}

// Sample mean and covariance against the exact ones, within 4 standard
// errors of a Gaussian's (conservative for these mixtures, whose fourth
// moments are lighter than a Gaussian's of the same covariance).
void expect_moments(const Matrix& x, const Moments& exact) {
  const double n = static_cast<double>(x.rows());
  const Vector mean = x.colwise().mean().transpose();
  const Matrix centred = x.rowwise() - mean.transpose();
  const SquareMatrix cov = centred.transpose() * centred / (n - 1.0);
  for (Index i = 0; i < x.cols(); ++i) {
    const double cii = exact.covariance(i, i);
    EXPECT_NEAR(mean[i], exact.mean[i], kStandardErrors * std::sqrt(cii / n)) << "mean " << i;
    for (Index j = 0; j <= i; ++j) {
      const double cij = exact.covariance(i, j), cjj = exact.covariance(j, j);
      EXPECT_NEAR(cov(i, j), cij, kStandardErrors * std::sqrt((cii * cjj + cij * cij) / (n - 1.0)))
          << "covariance " << i << "," << j;
    }
  }
}

TEST(EverySamplerOnEveryKnownProblem, ReachesTheLawAtEpsWithTheExactScore) {
  for (const auto& sde : known::all_sdes())
    for (const auto& problem : known::known_problems()) {
      const auto oracle = make_population_oracle(problem.target, sde);
      const Vector grid = uniform_time_grid(sde->T(), kEps, kSteps);
      const Moments exact = moments_at(*problem.target, *sde, kEps);
      for (const auto& name : sampler_names()) {
        SCOPED_TRACE(name + " on " + problem.name + " under " + sde->name());
        Rng rng(17);
        const Matrix x = make_sampler(name)(*oracle, *sde, draws_at(*problem.target, *sde, sde->T(), kPoints, rng),
                                            grid, rng, {});
        ASSERT_EQ(x.rows(), kPoints);
        ASSERT_EQ(x.cols(), problem.target->dim());
        ASSERT_TRUE(x.allFinite());
        expect_moments(x, exact);
        if (problem.name == "two-mode-1d") {
          // Each mode keeps its weight ½ (p_t is symmetric at every t).
          const double right = (x.array() > 0.0).cast<double>().mean();
          EXPECT_NEAR(right, 0.5, kStandardErrors * std::sqrt(0.25 / kPoints));
        }
      }
    }
}

}  // namespace
}  // namespace diffgen
