#include "models/time_embedding.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace diffgen {
namespace {

TEST(FourierTimeEmbedding, HandComputedValues) {
  // W = (0.5, 2), t = 0.25: 2πWt = (π/4, π), so e = (sin π/4, sin π, cos π/4, cos π).
  FourierTimeEmbedding emb(Vector{{0.5, 2.0}});
  ASSERT_EQ(emb.dim(), 4);
  const RowVector e = emb(0.25);
  EXPECT_NEAR(e[0], std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(e[1], 0.0, 1e-15);
  EXPECT_NEAR(e[2], std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(e[3], -1.0, 1e-15);
}

TEST(FourierTimeEmbedding, BatchRowsMatchSingleTimes) {
  Rng rng(5);
  FourierTimeEmbedding emb(6, 30.0, rng);
  const Vector t{{1e-5, 0.3, 1.0}};
  const Matrix E = emb(t);
  ASSERT_EQ(E.rows(), 3);
  ASSERT_EQ(E.cols(), 6);
  for (Index b = 0; b < 3; ++b) EXPECT_EQ(E.row(b), emb(t[b]));
  // sin² + cos² = 1 for every frequency.
  for (Index k = 0; k < 3; ++k) EXPECT_NEAR(E(1, k) * E(1, k) + E(1, k + 3) * E(1, k + 3), 1.0, 1e-14);
}

TEST(FourierTimeEmbedding, WideEmbeddingsAndLongBatches) {
  // 600 frequencies (wider than the internal buffer of 256 pairs) and 100
  // times (many buffers): every entry is sin or cos of 2π W_k t_b.
  Rng rng(6);
  FourierTimeEmbedding emb(1200, 3.0, rng);
  Vector t(100);
  for (Index b = 0; b < 100; ++b) t[b] = rng.uniform();
  const Matrix E = emb(t);
  const Vector& W = emb.frequencies();
  for (Index b = 0; b < 100; b += 7)
    for (Index k = 0; k < 600; k += 13) {
      EXPECT_NEAR(E(b, k), std::sin(2.0 * std::numbers::pi * W[k] * t[b]), 1e-13);
      EXPECT_NEAR(E(b, 600 + k), std::cos(2.0 * std::numbers::pi * W[k] * t[b]), 1e-13);
    }
  FourierTimeEmbedding narrow(4, 30.0, rng);
  const Matrix N = narrow(t);
  for (Index b = 0; b < 100; ++b) EXPECT_EQ(N.row(b), narrow(t[b]));
}

TEST(FourierTimeEmbedding, FrequenciesAreScaledStandardNormals) {
  // 10000 frequencies ~ N(0, 30²): the sample mean is within 4 standard errors
  // of 0, the sample std within 4% of 30 (its standard error is 30/√20000 ≈ 0.7%).
  Rng rng(11);
  FourierTimeEmbedding emb(20000, 30.0, rng);
  const Vector& W = emb.frequencies();
  const double mean = W.mean();
  const double sd = std::sqrt((W.array() - mean).square().sum() / static_cast<double>(W.size() - 1));
  EXPECT_LT(std::abs(mean), 4.0 * 30.0 / std::sqrt(10000.0));
  EXPECT_NEAR(sd, 30.0, 0.04 * 30.0);
}

TEST(FourierTimeEmbedding, SameSeedSameFrequencies) {
  Rng a(3), b(3);
  EXPECT_EQ(FourierTimeEmbedding(4, 30.0, a).frequencies(), FourierTimeEmbedding(4, 30.0, b).frequencies());
}

TEST(FourierTimeEmbedding, RejectsOddOrEmptyWidth) {
  Rng rng(1);
  EXPECT_THROW(FourierTimeEmbedding(3, 30.0, rng), ConfigError);
  EXPECT_THROW(FourierTimeEmbedding(0, 30.0, rng), ConfigError);
  EXPECT_THROW(FourierTimeEmbedding(4, -1.0, rng), ConfigError);
}

}  // namespace
}  // namespace diffgen
