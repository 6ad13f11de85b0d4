// The 2-D Swiss roll of Chen2025's toy experiments (THEORY.md §7): sklearn's
// make_swiss_roll(noise = 0.5), its columns x and z, divided by 5:
//   u ~ U(0, 1), t = 1.5π (1 + 2u), x = (t cos t + 0.5 ε₁, t sin t + 0.5 ε₂) / 5.
// It has an exact sampler but no closed-form density, so it is not a Target
// (targets/target.hpp): its test errors are measured from samples.
#pragma once

#include "core/rng.hpp"
#include "core/types.hpp"

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

}  // namespace diffgen
