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
  // Pairs (b, k) in row-major order, a buffer at a time: y = t_b W_k in turns,
  // then sin and cos of 2πy into columns k and E/2 + k of row b.
  constexpr Index kBuffer = 256;
  double y[kBuffer], s[kBuffer], c[kBuffer];
  const Index half = frequencies_.size(), E = 2 * half, total = n * half;
  for (Index begin = 0; begin < total; begin += kBuffer) {
    const Index m = std::min(kBuffer, total - begin);
    for (Index i = 0; i < m; ++i) y[i] = t[(begin + i) / half] * frequencies_[(begin + i) % half];
    sincos_2pi(y, s, c, m);
    for (Index i = 0; i < m; ++i) {
      const Index b = (begin + i) / half, k = (begin + i) % half;
      out[b * E + k] = s[i];
      out[b * E + half + k] = c[i];
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
