// The 2-D Swiss roll of Chen2025's toy experiments (THEORY.md §7): sklearn's
// make_swiss_roll(noise = 0.5), its columns x and z, divided by 5:
//   u ~ U(0, 1), t = 1.5π (1 + 2u), x = (t cos t + 0.5 ε₁, t sin t + 0.5 ε₂) / 5.
// It has an exact sampler but no closed-form density, so it is not a Target
// (targets/target.hpp): its test errors are measured from samples.
// swiss_roll_mixture is a Gaussian mixture of the same shape, which is a
// Target: on it a test error can be computed from exact densities.
#pragma once

#include "core/rng.hpp"
#include "core/types.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {

class SwissRoll {
 public:
  // noise: the standard deviation added to each coordinate before the scaling.
  explicit SwissRoll(double noise = 0.5, double scale = 0.2);
  Index dim() const { return 2; }
  // n points, one per row; u, then ε₁ and ε₂, drawn in that order per point.
  Matrix sample(Index n, Rng& rng) const;
  // E‖x‖² = scale² (E t² + 2 noise²), with t uniform on [1.5π, 4.5π].
  double mean_squared_norm() const;

 private:
  double noise_, scale_;
};

// A 2-D Gaussian mixture laid along the Swiss roll's spiral: `components`
// equal-weight isotropic components whose means are the spiral's points
// scale (t_k cos t_k, t_k sin t_k) at equally spaced t_k over [1.5π, 4.5π]
// (the roll's parameter range), the midpoints of K cells of width
// Δ = 3π / K: each component stands for one cell, which holds 1/K of the
// roll's mass, so equal weights are exact.
// Variance (per coordinate) scale² (noise² + (1 + E t²) Δ² / 24): within a
// cell the roll spreads noise² in every direction and, along the curve,
// (1 + t²) Δ² / 12 (uniform t over Δ times the squared speed |dγ/dt|² =
// 1 + t²); an isotropic component with the same total variance (trace),
// averaged over t uniform on the range, has that variance. Then
// E‖x‖² = roll's E‖x‖² + scale² Δ² E t² / 12, about 1.9% above it at K = 20
// (the along-curve spread is put half across the curve, where the roll has none).
GaussianMixture swiss_roll_mixture(Index components = 20, double noise = 0.5, double scale = 0.2);

}  // namespace diffgen
