#include "bounds/final_kl_estimate.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "testing/known_problems.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;
using known::two_mode_1d;

// The exact final-marginal KL on N(μ, σ²): Ŷ_n is Gaussian. The mean-only
// step maps Ŷ to (1 + δ a_k) Ŷ + δ μ/(1 + t_k σ²) + √δ Z, a_k = σ²/(1 + t_k σ²);
// the covariance-matched one adds variance δ² a_k (and is exact).
double gaussian_final_kl(const Vector& grid, double mu, double var, bool covariance) {
  double m = 0.0, v = 0.0;
  for (Index k = 0; k + 1 < grid.size(); ++k) {
    const double t = grid[k], d = grid[k + 1] - t, a = var / (1.0 + t * var);
    m = (1.0 + d * a) * m + d * mu / (1.0 + t * var);
    v = (1.0 + d * a) * (1.0 + d * a) * v + d + (covariance ? d * d * a : 0.0);
  }
  const double T = grid[grid.size() - 1], pm = T * mu, pv = T * T * var + T;
  return 0.5 * (std::log(v / pv) + (pv + (pm - m) * (pm - m)) / v - 1.0);
}

TEST(FinalKlEstimate, TheIntervalHoldsTheGaussianClosedFormAndExactValuesMatchIt) {
  // Uniform grids to t = 100: with few steps the sampler's output is far
  // narrower than the comparison's (σ² = 10: by a factor of 20 in variance at
  // n = 8), whose tails then sit where q is only known from cut tails; with
  // more steps the values become exact.
  Index exact = 0, not_exact = 0;
  for (double var : {1.0, 10.0}) {
    auto target = gaussian_1d(0.3, var);
    const MixtureDenoiser f(target);
    for (Index n : {8, 16, 32, 64, 128})
      for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched}) {
        const Vector grid = discrete_time_uniform_grid(100.0, n);
        const double want = gaussian_final_kl(grid, 0.3, var, rule == StepRule::CovarianceMatched);
        const FinalKlEstimate e = estimate_final_kl(f, rule, grid, *target);
        EXPECT_LE(e.lower, want * (1.0 + 1e-12) + 1e-15) << var << " " << n << " " << step_rule_name(rule);
        EXPECT_GE(e.upper, want * (1.0 - 1e-12) - 1e-15) << var << " " << n << " " << step_rule_name(rule);
        EXPECT_LE(e.lower, e.kl + 1e-15);  // a KL of 0 may come out as -1e-18
        EXPECT_GE(e.upper, e.kl);
        if (e.exact) {
          ++exact;
          EXPECT_NEAR(e.kl, want, 1e-6 * want + 1e-14) << var << " " << n << " " << step_rule_name(rule);
        } else {
          ++not_exact;
        }
      }
  }
  EXPECT_GE(exact, 12);
  EXPECT_GE(not_exact, 3);
}

TEST(FinalKlEstimate, AnUpperEstimateHoldsTheReference) {
  // Eight uniform mean-only steps on the two-mode target (the case of
  // output_density_test): not exact, and the interval holds the value of a
  // propagation that drops nothing, 37.87.
  auto target = two_mode_1d();
  const MixtureDenoiser f(target);
  const Vector grid = discrete_time_uniform_grid(100.0, 8);
  OutputDensityOptions everything;
  everything.kernel_width = 30.0;
  everything.mass_floor = 0.0;
  const double ref = final_kl(*target, output_density(f, StepRule::MeanOnly, grid, target.get(), everything)).kl;
  const FinalKlEstimate e = estimate_final_kl(f, StepRule::MeanOnly, grid, *target);
  EXPECT_FALSE(e.exact);
  EXPECT_LE(e.lower, ref);
  EXPECT_GE(e.upper, ref);
  EXPECT_NEAR(ref, 37.87, 0.01);
}

TEST(FinalKlEstimate, RefusesBadOptions) {
  auto target = two_mode_1d();
  const MixtureDenoiser f(target);
  const Vector grid = discrete_time_uniform_grid(1.0, 2);
  FinalKlEstimateOptions o;
  o.density.spacing = 0.9;  // the check would be coarser than 1
  EXPECT_THROW(estimate_final_kl(f, StepRule::MeanOnly, grid, *target, o), ConfigError);
  o = {};
  o.check_ratio = 1.0;
  EXPECT_THROW(estimate_final_kl(f, StepRule::MeanOnly, grid, *target, o), ConfigError);
  o = {};
  o.relative_tolerance = 0.0;
  EXPECT_THROW(estimate_final_kl(f, StepRule::MeanOnly, grid, *target, o), ConfigError);
}

}  // namespace
}  // namespace diffgen
