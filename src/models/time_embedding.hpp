// Gaussian Fourier time embedding (THEORY.md §4; the score-SDE tutorial's
// GaussianFourierProjection): frequencies W ∈ R^{E/2} drawn once as
// N(0, 1)·scale and frozen, e(t) = [sin(2π W t), cos(2π W t)] ∈ R^E.
// The sines are taken of t·W in turns with an exact reduction
// (sincos_2pi), so e(t) is accurate to 3e-16 even where 2π W t is in the
// hundreds of radians.
#pragma once

#include "core/rng.hpp"
#include "core/types.hpp"

namespace diffgen {

class FourierTimeEmbedding {
 public:
  // Draws W (embed_dim / 2 normals, times scale) from rng. embed_dim must be
  // even and >= 2, scale finite and >= 0 (ConfigError otherwise).
  FourierTimeEmbedding(Index embed_dim, double scale, Rng& rng);
  // Given frequencies W (for tests and checkpoints); the embedding has 2·W.size() entries.
  explicit FourierTimeEmbedding(Vector frequencies);

  // E, the width of e(t).
  Index dim() const { return 2 * frequencies_.size(); }
  const Vector& frequencies() const { return frequencies_; }

  // Writes e(t[b]) for b < n as n consecutive rows of dim() values into out
  // (no allocation).
  void embed(const double* t, Index n, double* out) const;
  // e(t) as a row.
  RowVector operator()(double t) const;
  // Row b is e(t[b]).
  Matrix operator()(const Vector& t) const;

 private:
  Vector frequencies_;
};

}  // namespace diffgen
