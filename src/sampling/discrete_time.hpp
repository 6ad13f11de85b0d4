// Discrete-time samplers (Reeves & Pfister 2025; THEORY.md §9) and DDPM
// ancestral sampling, which is the same sampler written in SDE variables.
//
// On a grid 0 <= t_0 < t_1 < ... < t_n (δ_k = t_{k+1} - t_k) the comparison
// process Y_t = t X + W_t moves by Y_{k+1} = Y_k + δ_k X + √δ_k Z_k. The
// sampler replaces the unknown X by an estimate of E[X | Y_k]:
//   mean-only:           Ŷ_{k+1} = Ŷ_k + δ_k f_k(Ŷ_k) + √δ_k Z_k,
//   covariance-matched:  Ŷ_{k+1} = Ŷ_k + δ_k f_k(Ŷ_k) + √δ_k Z_k + δ_k Σ_k(Ŷ_k)^{1/2} Z'_k,
// with f_k ≈ E[X | Y_{t_k} = y] and Σ_k ≈ Cov(X | Y_{t_k} = y). The second
// matches the first two moments of Y_{k+1} | Y_k, so its per-step KL falls
// from O(δ²) to O(δ³) (exactly 0 for a Gaussian target). Started from
// Ŷ_0 = Y_0 = 0 at t_0 = 0, the output Ŷ_n / t_n estimates X + N(0, I / t_n).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/options.hpp"
#include "core/rng.hpp"
#include "sampling/samplers.hpp"
#include "targets/denoiser.hpp"

namespace diffgen {

enum class StepRule {
  MeanOnly,           // Ŷ += δ f + √δ Z
  CovarianceMatched,  // Ŷ += δ f + √δ Z + δ Σ^{1/2} Z'
};

template <>
struct EnumNames<StepRule> {
  static constexpr std::array table{std::pair{StepRule::MeanOnly, std::string_view("mean")},
                                    std::pair{StepRule::CovarianceMatched, std::string_view("covariance")}};
};

// "mean" | "covariance".
std::string_view step_rule_name(StepRule rule);
// The inverse of step_rule_name; ConfigError naming `key` and the value otherwise.
StepRule step_rule_by_name(std::string_view name, std::string_view key = "rule");

// The samplers' one signature: estimator, the points Ŷ at grid[0] (rows), an
// increasing grid, an RNG, and an optional callback after each step (with
// the step, t_{k+1} and Ŷ_{k+1}). Returns Ŷ_n (divide by t_n for the
// estimate of X). Each step draws Z (and then Z') as one n x d block from rng.
using DiscreteTimeSampler = std::function<Matrix(const ConditionalMeanEstimator& f, Matrix y, const Vector& grid,
                                                 Rng& rng, const StepCallback& callback)>;

// Reeves & Pfister 2025, the mean-only step.
Matrix sample_discrete_time(const ConditionalMeanEstimator& f, Matrix y, const Vector& grid, Rng& rng,
                            const StepCallback& callback = {});

// Reeves & Pfister 2025, the randomized (covariance-matched) step. Σ_k^{1/2}
// is any B with B Bᵀ = Σ_k (the same law): its Cholesky factor, or where Σ_k
// is not positive definite the symmetric square root with the negative
// eigenvalues of an estimated covariance set to 0. Needs f.has_covariance()
// (ConfigError otherwise).
Matrix sample_discrete_time_covariance(const ConditionalMeanEstimator& f, Matrix y, const Vector& grid, Rng& rng,
                                       const StepCallback& callback = {});

DiscreteTimeSampler discrete_time_sampler(StepRule rule);

// Grids 0 = t_0 < ... < t_n = t_max for the discrete-time samplers. Both are
// nested: the grid of n steps is every other point of the grid of 2n steps,
// bit for bit when n is a power of two, so results at several step counts
// can share work done on the finest grid.
//
// Uniform: t_k = t_max · k / n.
Vector discrete_time_uniform_grid(double t_max, Index n);
// Geometric: the n + 1 points t_min ρ^k (ρ = (t_max/t_min)^{1/n}, computed
// as t_max · exp(-L (n - k) / n), L = log(t_max / t_min)) with the first
// moved to 0, so the first step is [0, t_min ρ] and the others have equal
// ratios. Equal ratios suit a conditional mean that changes on the scale of t.
Vector discrete_time_geometric_grid(double t_max, double t_min, Index n);
// Empty when `grid` is a usable grid (>= 2 finite times, strictly
// increasing, the first >= 0), else what is wrong.
std::string validate_discrete_time_grid(const Vector& grid);

// Ancestral sampling (Ho et al. 2020, DDPM) on any linear SDE, with the
// Sampler signature of samplers.hpp and a grid decreasing from T: each step
// from τ to τ' < τ draws x_{τ'} from the Gaussian q(x_{τ'} | x_τ, x_0) with
// x_0 replaced by Tweedie's estimate x̂_0 = (x + s² s_θ(x, τ)) / a:
//   mean = (ā s'² / s²) x + (a' σ̄² / s²) x̂_0,   variance = σ̄² s'² / s²,
// ā = a / a', σ̄² = s² - ā² s'². Noise is added on every step, the last
// included (its variance is 0 when the grid ends at τ = 0). Under
// t = a²/s², y = (a / s²) x this is exactly the mean-only discrete-time step
// (THEORY.md §9): with the same noise draws the two coincide step for step.
Matrix sample_ancestral(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid, Rng& rng,
                        const StepCallback& callback = {});

}  // namespace diffgen
