// Bits per dimension that are bits per 8-bit pixel. An image model sees its
// pixels after a chain of transforms: an 8-bit value k ∈ {0, …, 255} is
// dequantized to u = (k + U)/256 with U ~ U[0, 1) (uniform dequantization on
// the 8-bit grid), then mapped to the model's space y = f(u) by per-pixel
// affine maps (scaling to [−1, 1], the paper's standardization) and the
// logit y = logit(α + (1 − 2α) u) of Chen et al.'s image code. With D pixels,
//   log P(k) ≥ E_U[log p_u(u)] − D ln 256,   log p_u(u) = log p_y(f(u)) + log|det ∂f/∂u|,
// so a model's bits per pixel are
//   bpd = −(log p_y(y) + log|det ∂f/∂u|) / (D ln 2) + 8,
// an upper bound on the discrete model's code length by the dequantization
// gap. Leaving out the log-determinant, or dequantizing after a transform
// (Li et al.'s notebook dequantizes standardized pixels, notes/li2023-mnist.md),
// gives bits of some other quantity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace diffgen {

// y = scale ⊙ u + shift per pixel, or the logit; one step of the chain.
struct PixelStep {
  enum class Kind { Affine, Logit } kind = Kind::Affine;
  RowVector scale, shift;  // Affine: one per pixel, scale ≠ 0
  double alpha = 0.0;      // Logit: y = logit(α + (1 − 2α) u), 0 < α < ½
};

// A chain of steps from dequantized pixels u ∈ [0, 1)^D to the model's space.
class PixelTransform {
 public:
  // The identity on D pixels (the model sees u itself).
  explicit PixelTransform(Index pixels);

  // u ↦ 2u − 1, the [−1, 1] scaling of many image models.
  PixelTransform& centre();
  // u ↦ (u − mean_j) / sd_j with each pixel's mean and population standard
  // deviation over `data` (rows = images in [0, 1]); a constant pixel keeps
  // sd = 1, as scikit-learn's StandardScaler does (Li et al.'s representation).
  PixelTransform& standardize(const Matrix& data);
  // u ↦ logit(α + (1 − 2α) u) (Chen et al.'s image code: α = 0.05).
  PixelTransform& logit(double alpha);
  // Any per-pixel affine step; throws std::invalid_argument on a zero scale or a size mismatch.
  PixelTransform& affine(RowVector scale, RowVector shift);

  Index pixels() const { return pixels_; }
  const std::vector<PixelStep>& steps() const { return steps_; }
  // y = f(u) row by row; logdet (when given) receives log|det ∂f/∂u| per row.
  // Throws std::invalid_argument when u has the wrong width or lies outside
  // the logit's domain [0, 1].
  Matrix forward(const Matrix& u, Vector* logdet = nullptr) const;
  // u = f⁻¹(y).
  Matrix inverse(const Matrix& y) const;

 private:
  Index pixels_;
  std::vector<PixelStep> steps_;
};

// u = (k + U)/256 per pixel, one fresh U ~ U[0, 1) per value from rng; rows
// are images of `pixels` bytes each (row-major, as ImageSet stores them).
Matrix dequantize(const std::vector<std::uint8_t>& bytes, Index pixels, Rng& rng);

// Bits per 8-bit pixel from the model's log-density in its own space and the
// transform's log-determinant, for D pixels (formula above).
double bits_per_dim(double log_density, double logdet, Index pixels);

}  // namespace diffgen
