// Quadrature in one dimension (THEORY.md §5): uniform grids and the rules
// used on them — composite Simpson, a 4th-order cumulative integral — an
// adaptive Gauss–Kronrod (G7–K15) rule that integrates many intervals in one
// batch of function evaluations, and Gauss–Legendre rules
//   ∫_{-1}^{1} f(y) dy ≈ Σ_k w_k f(y_k),
// exact for polynomials of degree ≤ 2n − 1 with n nodes.
#pragma once

#include <functional>
#include <string>

#include "core/types.hpp"

namespace diffgen {

// A read-only vector view that also binds to every other element of a vector
// (Eigen::Map with InnerStride<>(2)) without a copy.
using ConstStridedVector = Eigen::Ref<const Vector, 0, Eigen::InnerStride<>>;

// Every other element of v (indices 0, 2, 4, ...), as a view.
inline Eigen::Map<const Vector, 0, Eigen::InnerStride<>> every_other(const Vector& v) {
  return {v.data(), (v.size() + 1) / 2, Eigen::InnerStride<>(2)};
}

// The points lo = x_0 < x_1 < ... < x_{points-1} = hi, equally spaced.
struct Grid {
  double lo = -12.0;
  double hi = 12.0;
  // Must be 4k + 1 (k >= 2): odd for Simpson's rule on the grid, and odd
  // again on every other point, where the Richardson error estimate (step 2h
  // against step h) repeats the computation.
  Index points = 2401;

  // Empty when valid, else what is wrong; `key` names the option in messages.
  std::string validate(const std::string& key = "grid") const;
  double step() const { return (hi - lo) / static_cast<double>(points - 1); }
  // x_i = lo + (hi - lo) i / (points - 1): node 2j of this grid equals node j
  // of coarse() bit for bit.
  double x(Index i) const { return lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(points - 1); }
  Vector nodes() const;
  // The grid of every other node: step 2h, (points + 1) / 2 nodes.
  Grid coarse() const { return {lo, hi, (points + 1) / 2}; }
};

// Composite Simpson's rule for f sampled at an odd number (>= 3) of nodes
// spaced h apart. Exact for cubics; error O(h^4).
double simpson(const ConstStridedVector& f, double h);

// F_i = ∫_{x_0}^{x_i} f for f sampled at n >= 4 nodes spaced h apart, to 4th
// order: interior intervals use the cubic through the four nearest nodes,
// h/24 (-f_{i-1} + 13 f_i + 13 f_{i+1} - f_{i+2}); the first and last
// intervals use the one-sided cubic through the four end nodes. Exact for cubics.
Vector cumulative_integral(const ConstStridedVector& f, double h);

// f(y, fy): fy[i] = f(y[i]) for a whole batch of abscissae (resize fy to y's size).
using BatchFunction = std::function<void(const Vector& y, Vector& fy)>;

struct GaussKronrodOptions {
  double epsabs = 1.49e-8;  // absolute tolerance (scipy.integrate.quad's default)
  double epsrel = 1.49e-8;  // relative tolerance (scipy.integrate.quad's default)
  Index limit = 50;         // most subintervals per integral (scipy.integrate.quad's default)
  std::string validate() const;
};

struct GaussKronrodSummary {
  Vector integral;  // one per interval
  Vector error;     // QUADPACK's error estimate, one per interval
  Index evaluations = 0;
  Index unconverged = 0;  // integrals that hit `limit` before the tolerance
};

// ∫_{lower_j}^{upper_j} f for every j by globally adaptive G7–K15 quadrature
// (QUADPACK's qag with key 1: bisect the subinterval with the largest error
// until the sum of errors is <= max(epsabs, epsrel |I|)). The integrals are
// refined side by side so that each round is one batched call of f.
GaussKronrodSummary integrate_gauss_kronrod(const BatchFunction& f, const Vector& lower, const Vector& upper,
                                            const GaussKronrodOptions& options = {});

// The n-point Gauss–Legendre rule on [-1, 1]: the roots y_k of the Legendre
// polynomial P_n (Newton's method from the classical initial guesses), in
// ascending order, and w_k = 2 / ((1 − y_k²) P_n'(y_k)²). ConfigError for n < 1.
void gauss_legendre(Index n, Vector& nodes, Vector& weights);

// The same rule on [0, 1]: nodes v_k = (1 − y)/2 (ascending; v_k is the image
// of the k-th largest root y) and weights w/2, so that Σ_k w_k f(v_k) ≈ ∫_0^1 f.
void gauss_legendre_unit(Index n, Vector& nodes, Vector& weights);

}  // namespace diffgen
