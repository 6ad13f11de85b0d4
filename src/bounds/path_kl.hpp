// The exact KL divergence between the path of the comparison process and
// the path of a discrete-time sampler (Reeves & Pfister 2025; THEORY.md §9),
// and its upper bounds.
//
// With Y_0 = Ŷ_0 = 0 on the grid 0 = t_0 < ... < t_n, the comparison path
// has density ∫ p(x) Π_k N(y_{k+1}; y_k + δ_k x, δ_k I) dx and the sampler's
// is Π_k N(y_{k+1}; y_k + δ_k f_k(y_k), C_k(y_k)), C_k = δ_k I (mean-only)
// or δ_k I + δ_k² Σ_k (covariance-matched). The path's entropy is
// Σ_k (d/2) log(2πe δ_k) + I(X; Y_{t_n}) (given X the increments are
// independent, and Y_{t_n} is sufficient for X), and the sampler's
// log-density is Gaussian, so
//   Δ_n = KL(P_{Y_0:n} ‖ Q_{Ŷ_0:n}) = Σ_k E g_k(Y_{t_k}) - I(X; Y_{t_n}),
//   g_k = ½ log det A + ½ δ_k tr(A^{-1} (Σ* - Σ + e eᵀ)),   A = I + δ_k Σ,
// where Σ* = Cov(X | Y_{t_k}), e = E[X | Y_{t_k}] - f_k, and Σ the sampler's
// covariance (0 for the mean-only step). For the mean-only step this is the
// identity of THEORY.md §9,
//   Δ_n = ½ Σ_k δ_k E‖X - f_k(Y_k)‖² - I(X; Y_{t_n})
//       = ½ Σ_k [δ_k M(t_k) - ∫_{t_k}^{t_{k+1}} M] + ½ Σ_k δ_k ε_k²,
// and since M is non-increasing,
//   Δ_n ≤ ½ Σ_k δ_k (M(t_k) - M(t_{k+1})) + ½ Σ_k δ_k ε_k²      ("grid bound")
//       ≤ ½ δ_max tr Cov(X) + ½ Σ_k δ_k ε_k²                    ("bound").
// The covariance-matched step with the exact covariance makes each step's
// Gaussian the moment-matched (KL-closest) one, so its Δ_n is below the
// mean-only one and the same bounds hold; with an estimated covariance they
// need not.
//
// In d = 1 every expectation is a quadrature against the exact density of
// Y_t, so Δ_n is exact to quadrature accuracy. In d > 1 they are Monte Carlo
// averages over draws (X, N), Y_t = t X + √t N, in antithetic pairs and
// shared by all times and steps (common random numbers), with standard
// errors. ∫ M is integrated along each draw's path, so that g_k and the
// integral cancel draw by draw; what remains per draw is of the order of
// Δ_n for the mean-only step. For the covariance-matched step the remainder
// ½ log det(I + δΣ*) - ½ ∫ m = -¼ δ² (tr Σ*² + dm/dt) + O(δ³), with m(t) =
// tr Cov(X | Y_t) along the draw's path, is O(δ²) per draw but has mean
// zero, since E[dm/dt] = M'(t) = -E tr Cov(X | Y_t)² (Guo, Wu, Shamai &
// Verdú 2011): it is added back as a control variate at every step with
// t_k > 0, which leaves O(δ³) per step. On the two-mode target in d = 8
// (2000 draws) this cuts the standard error of the covariance-matched Δ_n
// by 3 to 10 times; for the mean-only step it would raise it, and is not used.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bounds/mmse.hpp"
#include "sampling/discrete_time.hpp"
#include "targets/denoiser.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {

struct PathKl {
  Index steps = 0;
  double t_max = 0.0;             // t_n
  double delta_max = 0.0;         // the largest step δ_k
  Estimate delta_n;               // Δ_n, the path KL
  // The rule's Δ_n with the exact estimator: ½ Σ [δ_k M(t_k) - ∫ M] for the
  // mean-only step, Σ_k ½ E log det(I + δ_k Cov(X | Y_{t_k})) - I(X; Y_{t_n})
  // for the covariance-matched one (0 for a Gaussian target).
  Estimate discretization;
  Estimate estimation;            // ½ Σ δ_k ε_k²
  Estimate bound;                 // ½ δ_max tr Cov(X) + ½ Σ δ_k ε_k²
  Estimate bound_grid;            // ½ Σ δ_k (M(t_k) - M(t_{k+1})) + ½ Σ δ_k ε_k²
  Estimate mutual_information;    // I(X; Y_{t_n})
  std::vector<Estimate> eps2;     // ε_k² = E‖f_k - E[X | Y_{t_k}]‖², k < n
  std::vector<Estimate> mmse;     // M(t_k), k <= n
  Index clipped_covariances = 0;  // d = 1 quadrature nodes or d > 1 draws whose estimated covariance had a
                                  // negative eigenvalue (set to 0, as the sampler does), summed over steps
};

struct PathKlOptions {
  MmseOptions mmse;  // quadrature (d = 1) and Monte Carlo (d > 1) settings
  // d > 1: central-difference step of dm/dt along a draw's path, relative to t.
  double derivative_step = 1e-5;
  // d > 1, covariance-matched step: add the zero-mean control ¼ δ² (tr Σ*² + dm/dt)
  // (off: for comparison only).
  bool control_variate = true;
  std::string validate() const;
};

class PathKlEvaluator {
 public:
  // Prepares ∫ M on every interval of `grid` (0 = t_0 < ... < t_n): by
  // quadrature in d = 1, along every Monte Carlo draw in d > 1. Paths of any
  // grid whose times are all points of `grid` can then be evaluated without
  // repeating that work (discrete_time_*_grid are nested for this).
  // ConfigError when the grid does not start at 0 or is not increasing.
  PathKlEvaluator(std::shared_ptr<const GaussianMixture> target, Vector grid, PathKlOptions options = {});

  // Δ_n and the bounds for each grid, a subset of the evaluator's grid
  // starting at 0 (ConfigError naming the first time that is not). The
  // estimator must have a covariance for the covariance-matched rule. Node
  // quantities are computed once for all the grids.
  std::vector<PathKl> evaluate(const ConditionalMeanEstimator& f, StepRule rule,
                               const std::vector<Vector>& grids) const;
  PathKl evaluate(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid) const;

  const Vector& grid() const { return grid_; }
  const GaussianMixture& target() const { return *target_; }
  // I(X; Y_{t_k}) at every point of the grid.
  std::vector<Estimate> mutual_information() const;
  // M(t_k) at every point of the grid.
  const std::vector<Estimate>& mmse() const { return mmse_; }

 private:
  std::shared_ptr<const GaussianMixture> target_;
  std::shared_ptr<const MixtureDenoiser> exact_;
  Vector grid_;
  PathKlOptions options_;
  bool quadrature_;  // d = 1
  // d = 1: ∫ M over interval j. d > 1: per draw (rows) the cumulative ∫_0^{t_j} m and dm/dt at t_j.
  Vector interval_;
  Matrix cumulative_, slope_;
  Matrix X_, N_;  // d > 1: the draws
  std::vector<Estimate> mmse_;
};

}  // namespace diffgen
