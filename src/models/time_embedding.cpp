#include "models/time_embedding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "models/vector_math.hpp"

namespace diffgen {
namespace {

Vector draw_frequencies(Index embed_dim, double scale, Rng& rng) {
  if (embed_dim < 2 || embed_dim % 2 != 0)
    throw ConfigError(fmt::format("embed_dim = {} must be even and >= 2", embed_dim));
  if (!(scale >= 0.0) || !std::isfinite(scale))
    throw ConfigError(fmt::format("embed_scale = {} must be finite and >= 0", scale));
  Vector W(embed_dim / 2);
  for (Index k = 0; k < W.size(); ++k) W[k] = rng.normal() * scale;
  return W;
}

}  // namespace

FourierTimeEmbedding::FourierTimeEmbedding(Index embed_dim, double scale, Rng& rng)
    : frequencies_(draw_frequencies(embed_dim, scale, rng)) {}

FourierTimeEmbedding::FourierTimeEmbedding(Vector frequencies) : frequencies_(std::move(frequencies)) {
  if (frequencies_.size() < 1) throw ConfigError("a Fourier time embedding needs at least one frequency");
}

void FourierTimeEmbedding::embed(const double* t, Index n, double* out) const {
  // A buffer of (row, frequency) pairs at a time: y = t_b W_k in turns, then
  // sin and cos of 2πy into columns k and E/2 + k of row b. Whole rows fill
  // the buffer; a row wider than the buffer goes in pieces.
  constexpr Index kBuffer = 256;
  double y[kBuffer], s[kBuffer], c[kBuffer];
  const double* W = frequencies_.data();
  const Index half = frequencies_.size(), E = 2 * half;
  const Index piece = std::min(half, kBuffer), rows_per_chunk = kBuffer / piece;
  for (Index b0 = 0; b0 < n; b0 += rows_per_chunk) {
    const Index b1 = std::min(n, b0 + rows_per_chunk);
    for (Index k0 = 0; k0 < half; k0 += piece) {
      const Index w = std::min(half, k0 + piece) - k0;
      for (Index b = b0; b < b1; ++b)
        for (Index k = 0; k < w; ++k) y[(b - b0) * w + k] = t[b] * W[k0 + k];
      sincos_2pi(y, s, c, (b1 - b0) * w);
      for (Index b = b0; b < b1; ++b)
        for (Index k = 0; k < w; ++k) {
          out[b * E + k0 + k] = s[(b - b0) * w + k];
          out[b * E + half + k0 + k] = c[(b - b0) * w + k];
        }
    }
  }
}

RowVector FourierTimeEmbedding::operator()(double t) const {
  RowVector e(dim());
  embed(&t, 1, e.data());
  return e;
}

Matrix FourierTimeEmbedding::operator()(const Vector& t) const {
  Matrix e(t.size(), dim());
  embed(t.data(), t.size(), e.data());
  return e;
}

}  // namespace diffgen
