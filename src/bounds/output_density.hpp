// The exact density of a discrete-time sampler's output in one dimension
// (Reeves & Pfister 2025; THEORY.md §9), and the KL divergence between the
// final marginals of the comparison process and the sampler.
//
// Each step of the sampler is a Gaussian transition,
//   Ŷ_{k+1} | Ŷ_k = y ~ N(y + δ_k f_k(y), v_k(y)),  v_k = δ_k (mean-only) or δ_k + δ_k² Σ_k(y)⁺,
// so the law of Ŷ_{k+1} is q_{k+1}(y') = ∫ q_k(y) N(y'; y + δ_k f_k(y), v_k(y)) dy.
// Starting from the point mass Ŷ_0 = 0, q_1 is Gaussian; every later q_k is
// carried on a uniform grid by the trapezoid rule in y, each node's mass
// spread onto the next grid by its Gaussian kernel. The integrand is a
// Gaussian bump in y of width √v_k / |1 + δ_k f_k'(y)|, and the trapezoid
// rule on such a bump errs by about 2 exp(-2π² (width / h)²), so the grid
// spacing h is kept at a fixed fraction of that width, read off each new
// grid where it carries mass; a grid too coarse for the next step is
// refined and the step redone. The grid follows the mass: its range covers
// every node carrying mass plus its kernel's reach, and the comparison's
// Y_{t_k}. Checked against closed forms (Gaussian targets), against direct
// quadrature of a two-step path, and for convergence in the spacing: on the
// two-mode target, n = 8 to 1024 steps, both rules and grids, the KL changes
// by up to 8e-8 (relative) from spacing 0.8 to 0.4, and by below 1e-10 from
// 0.6 to 0.4 where the KL is above 1e-8 (the bending of y + δ f early on,
// not the bump's width, sets the error). Where the sampler misses whole
// regions of the target, the KL depends on tails the propagation cuts:
// final_kl bounds it from the mass lost, and bounds/final_kl_estimate.hpp
// adds a check of the spacing, for an error estimate per value.
#pragma once

#include <string>

#include "core/types.hpp"
#include "sampling/discrete_time.hpp"
#include "targets/denoiser.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {

struct OutputDensityOptions {
  // Grid step as a fraction of the narrowest kernel width √v / |1 + δ f'|
  // of the step it feeds (and of the one that produced it).
  double spacing = 0.8;
  // The same for the last grid, on which the KL is integrated: log q, a sum
  // of Gaussian kernels, is analytic only in a strip about as wide as the
  // kernels, and the trapezoid rule errs by about exp(-2π strip / h). The
  // last grid also resolves each component of Y_{t_n} (1/8 of its standard
  // deviation) and the strip of log p.
  double final_spacing = 0.25;
  // The grid step is also kept small enough that φ(y) = y + δ f(y) bends by
  // at most this many kernel widths over one step, h² |φ''| <= bend √v:
  // where f turns fast (between the modes of a mixture, early on) the
  // integrand is analytic only in a narrow strip, which the width alone misses.
  double bend = 0.2;
  // Kernels are cut at ± this many standard deviations (e^{-w²/2} of their
  // peak) and normalized by their exact integral.
  double kernel_width = 10.0;
  // Nodes whose mass h q is below this fraction of the total are dropped
  // (their mass is reported).
  double mass_floor = 1e-20;
  // Every grid also covers each component of the comparison's Y_{t_k} ± this
  // many of its standard deviations (when a target is given), so that q is
  // carried wherever the comparison has mass and the final KL sees all of it.
  double target_width = 8.0;
  Index max_points = 4'000'000;  // NumericalError beyond: the grid would not fit the work
  std::string validate() const;
};

struct OutputDensity {
  Vector y;  // the final grid (uniform)
  Vector q;  // density of Ŷ_n at y
  // log q at y; where q is below what the truncated kernels carry (10^4
  // e^{-w²/2} of its peak, w = kernel_width) and the comparison's density is
  // not negligible, from the full kernels of the last step.
  Vector log_q;
  Index tail_nodes = 0;  // nodes whose log q came from the full kernels
  double h = 0.0;
  double t_max = 0.0;                           // t_n
  double dropped_mass = 0.0;                    // mass of dropped nodes, summed over steps
  // Mass the propagation lost, summed over steps: the dropped nodes' and
  // each kept kernel's beyond ± kernel_width standard deviations. Every
  // contribution it carries is positive, so the computed q is below the
  // true one (up to the trapezoid rule's error) by at most this mass spread
  // through the last step's kernels.
  double lost_mass = 0.0;
  double last_variance = 0.0;                   // the smallest variance of the last step's kernels
  Index largest_grid = 0;                       // most grid points of any step
  Index kernel_evaluations = 0;                 // source-target pairs visited, summed over steps
  double kernel_width = 0.0, mass_floor = 0.0;  // the options it was computed with
};

// Propagates the law of Ŷ from Ŷ_0 = 0 through every step of `grid` (a
// validate_discrete_time_grid grid) for a 1-D estimator. `target` only sets
// the reach of the last grid (it may be null). ConfigError for d != 1, a
// covariance-matched rule without covariance, or bad options;
// NumericalError when a grid would exceed max_points or values turn non-finite.
OutputDensity output_density(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid,
                             const GaussianMixture* target = nullptr, const OutputDensityOptions& options = {});

struct FinalKl {
  double kl = 0.0;                   // KL(P_{Y_{t_n}} ‖ Q_{Ŷ_n}) = KL(law of X + N(0, 1/t_n) ‖ law of Ŷ_n / t_n)
  double target_mass_outside = 0.0;  // 1 - ∫_grid p
  double sampler_mass = 0.0;         // ∫_grid q
  // The true density q_true lies between the computed q and q + density_gap
  // (density_gap = lost_mass / √(2π last_variance)), and the KL between
  // these bounds: where the sampler misses whole regions of the target,
  // q there comes from far tails the propagation cut, and kl is an
  // overestimate that kl_upper bounds and kl_lower bounds from below. Up to
  // the trapezoid rule's error on the grid, and the comparison's mass off
  // the grid (target_mass_outside).
  double density_gap = 0.0;
  double kl_lower = 0.0, kl_upper = 0.0;
};

// The KL between the final marginals, by the trapezoid rule on the density's
// grid with the integrand p log(p/q) - p + q >= 0 (same integral when both
// masses are 1, and no cancellation between large terms), and the bounds on
// it that the propagation's lost mass leaves.
FinalKl final_kl(const GaussianMixture& target, const OutputDensity& density);

}  // namespace diffgen
