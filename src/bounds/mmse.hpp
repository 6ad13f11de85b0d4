// The MMSE function and mutual information of the comparison process
// Y_t = t X + W_t of Reeves & Pfister 2025 (THEORY.md §9) for a
// Gaussian-mixture X:
//   M(t) = E‖X - E[X | Y_t]‖² = E tr Cov(X | Y_t),
//   I(X; Y_t) = ½ ∫_0^t M(u) du   (the I-MMSE relation).
// In one dimension expectations over Y_t are quadratures against its exact
// density (the mixture at (a, s) = (t, √t)); in higher dimension they are
// Monte Carlo averages over draws (X, N), Y_t = t X + √t N, with standard
// errors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/types.hpp"
#include "numerics/statistics.hpp"  // Estimate
#include "targets/gaussian_mixture.hpp"

namespace diffgen {

struct MmseOptions {
  // d = 1: trapezoid nodes over y per time. The integrands are smooth and
  // decay like the Gaussian components, so the trapezoid rule converges
  // geometrically; the node count is checked against a doubled one in the tests.
  Index quadrature_points = 401;
  // d = 1: the y-range covers every component's mean ± this many of its
  // standard deviations.
  double quadrature_width = 12.0;
  // d > 1: Monte Carlo draws (X, N), shared by all times (common random
  // numbers), in antithetic pairs (X, N), (X, -N): the odd powers of √t in
  // Y_t = t X + √t N cancel within a pair, which matters near t = 0. Even.
  Index samples = 2000;
  std::uint64_t seed = 0;  // d > 1: draws from Rng::stream(seed, {kStreamEval, ...})
  // ∫ M is computed in the variable v = √t (in which Y = v² X + v N is
  // smooth down to t = 0) by Gauss–Legendre with this many nodes, on
  // intervals bisected until the rule on the halves agrees with the rule on
  // the whole to `tolerance` (relative, largest over the draws).
  Index legendre_points = 6;
  double tolerance = 1e-11;
  std::string validate() const;
};

// Nodes and weights with Σ_j w_j g(y_j) ≈ E g(Y_t) for a 1-D target (at
// t = 0, the single node y = 0). The weights are h p_t(y_j), normalized to
// sum to 1.
struct ObservationQuadrature {
  Matrix y;  // nodes, one per row
  Vector w;  // weights
};
ObservationQuadrature observation_quadrature(const GaussianMixture& target, double t, const MmseOptions& options = {});

// The draws (X, N) of the Monte Carlo estimates for d > 1: X from the
// target, N standard normal, both from streams of options.seed; rows 2i and
// 2i + 1 are the antithetic pair (X_i, N_i), (X_i, -N_i).
void observation_draws(const GaussianMixture& target, const MmseOptions& options, Matrix& X, Matrix& N);
// The mean of per-draw values and its standard error, over antithetic pairs
// (each pair averaged first: the pairs are independent, their halves are not).
Estimate pair_mean(const Vector& per_draw);

// ∫_{a}^{b} F(v) dv for an integrand with one value per draw (F returns a
// vector, the same length at every v): Gauss–Legendre on [a, b] against the
// same rule on the halves, bisecting each half that disagrees by more than
// max(tolerance |I|, 1e-300) in the largest component (at most 40 levels).
// `evaluations` counts the calls of F.
Vector integrate_adaptive(const std::function<Vector(double)>& F, double a, double b, Index points, double tolerance,
                          Index* evaluations = nullptr);

// The subintervals of [a, b] on which integrate_adaptive settles for F,
// left to right: for integrands with many components (Monte Carlo draws),
// decide them on a few components and apply plain Gauss–Legendre on them to all.
std::vector<std::pair<double, double>> adaptive_partition(const std::function<Vector(double)>& F, double a, double b,
                                                          Index points, double tolerance);

// M(t): quadrature in d = 1, Monte Carlo (with its standard error) otherwise.
Estimate mmse(const GaussianMixture& target, double t, const MmseOptions& options = {});

// I(X; Y_t) = ½ ∫_0^t M by adaptive Gauss–Legendre in v = √u. In d > 1 the
// same draws serve every node, and the standard error is that of the
// per-draw integral.
Estimate mutual_information(const GaussianMixture& target, double t, const MmseOptions& options = {});

// I(X; Y_t) = h(Y_t) - (d/2) log(2πe t) from the exact density of Y_t, in
// d = 1 only (quadrature): a route independent of the I-MMSE relation, for tests.
double mutual_information_from_entropy(const GaussianMixture& target, double t, const MmseOptions& options = {});

}  // namespace diffgen
