// Distributions with exact densities and scores at every diffusion time
// (THEORY.md §2). Under a linear SDE, x_t = a x_0 + s z with z ~ N(0, I), so
// a target answers for any pair (a, s); (1, 0) is the clean target.
#pragma once

#include "core/rng.hpp"
#include "core/types.hpp"

namespace diffgen {

class Target {
 public:
  virtual ~Target() = default;
  virtual Index dim() const = 0;
  virtual Matrix sample(Index n, Rng& rng) const = 0;
  // log p(x) for every row x of X, where p is the law of a x_0 + s z.
  virtual Vector log_density(const Matrix& X, double a = 1.0, double s = 0.0) const = 0;
  // ∇_x log p(x) for every row.
  virtual Matrix score(const Matrix& X, double a = 1.0, double s = 0.0) const = 0;
  // ∇_x · ∇_x log p(x) (the Laplacian of log p) for every row.
  virtual Vector score_divergence(const Matrix& X, double a = 1.0, double s = 0.0) const = 0;
};

}  // namespace diffgen
