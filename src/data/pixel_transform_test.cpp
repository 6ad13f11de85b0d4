#include "data/pixel_transform.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

Matrix uniform_pixels(Index n, Index d, std::uint64_t seed) {
  Rng rng(seed);
  Matrix u(n, d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j) u(i, j) = rng.uniform();
  return u;
}

// log|det ∂f/∂u| of a per-pixel map by central differences, pixel by pixel.
double numerical_logdet(const PixelTransform& f, const Matrix& u_row) {
  const double h = 1e-6;
  double sum = 0.0;
  for (Index j = 0; j < u_row.cols(); ++j) {
    Matrix up = u_row, down = u_row;
    up(0, j) += h, down(0, j) -= h;
    sum += std::log(std::abs((f.forward(up)(0, j) - f.forward(down)(0, j)) / (2 * h)));
  }
  return sum;
}

TEST(PixelTransform, LogDeterminantOfEveryChainMatchesFiniteDifferences) {
  const Matrix data = uniform_pixels(50, 6, 1);
  PixelTransform logit(6), squeezed_logit(6), standardized(6), centred(6);
  logit.logit(0.05);
  squeezed_logit.affine(RowVector::Constant(6, 0.5), RowVector::Constant(6, 0.25)).logit(0.05);
  standardized.standardize(data);
  centred.centre();
  const Matrix u = uniform_pixels(4, 6, 2).array() * 0.9 + 0.05;  // away from the ends for the differences
  for (const PixelTransform* f : {&logit, &squeezed_logit, &standardized, &centred}) {
    Vector logdet;
    f->forward(u, &logdet);
    for (Index i = 0; i < u.rows(); ++i) EXPECT_NEAR(logdet[i], numerical_logdet(*f, u.row(i)), 1e-6);
  }
  // The [−1, 1] scaling doubles every pixel: log 2 each.
  Vector logdet;
  centred.forward(u, &logdet);
  EXPECT_NEAR(logdet[0], 6 * std::numbers::ln2, tolerance::kRoundoff);
}

TEST(PixelTransform, InverseUndoesForward) {
  const Matrix data = uniform_pixels(40, 5, 3);
  PixelTransform f(5);
  f.affine(RowVector::Constant(5, 0.8), RowVector::Constant(5, 0.1)).logit(0.05).standardize(uniform_pixels(30, 5, 4));
  const Matrix back = f.inverse(f.forward(data));
  EXPECT_LT((back - data).cwiseAbs().maxCoeff(), 1e-12);
}

// A model uniform on [0, 1)^D gives each 8-bit value probability 1/256: 8
// bits per pixel exactly, whatever transform the model works behind. Its
// density in y-space is written here from y alone: after standardizing, a
// uniform on a box of widths 1/sd_j (density Π sd_j); after the logit,
// Π σ(y_j)(1 − σ(y_j)) / (1 − 2α). A model with all its mass on
// [0, 1/256)^D codes the all-zero image in 0 bits.
TEST(PixelTransform, BitsPerDimOfKnownModelsAreExact) {
  const Matrix data = uniform_pixels(20, 9, 5);
  PixelTransform standardized(9);
  standardized.standardize(data);
  const RowVector& inv_sd = standardized.steps().front().scale;
  Vector logdet;
  standardized.forward(data, &logdet);
  for (Index i = 0; i < data.rows(); ++i)
    EXPECT_NEAR(bits_per_dim(-inv_sd.array().log().sum(), logdet[i], 9), 8.0, 1e-12);

  PixelTransform logit(9);
  logit.logit(0.05);
  const Matrix y = logit.forward(data, &logdet);
  for (Index i = 0; i < data.rows(); ++i) {
    double log_density = 0.0;
    for (Index j = 0; j < 9; ++j) {
      const double s = 1.0 / (1.0 + std::exp(-y(i, j)));
      log_density += std::log(s) + std::log(1.0 - s) - std::log(0.9);
    }
    EXPECT_NEAR(bits_per_dim(log_density, logdet[i], 9), 8.0, 1e-9);
  }
  EXPECT_NEAR(bits_per_dim(9 * std::log(256.0), 0.0, 9), 0.0, 1e-12);
}

TEST(PixelTransform, StandardizingCentresAndScalesEachPixelAndKeepsConstantPixels) {
  Matrix data = uniform_pixels(200, 3, 6);
  data.col(1).setConstant(0.0);  // a border pixel of MNIST
  PixelTransform f(3);
  f.standardize(data);
  const Matrix y = f.forward(data);
  for (Index j : {0, 2}) {
    EXPECT_NEAR(y.col(j).mean(), 0.0, 1e-12);
    EXPECT_NEAR(std::sqrt(y.col(j).array().square().mean()), 1.0, 1e-12);
  }
  EXPECT_EQ(f.steps().front().scale[1], 1.0);
  EXPECT_EQ(y.col(1).cwiseAbs().maxCoeff(), 0.0);
}

TEST(Dequantize, EachValueLandsInItsOwnBinUniformly) {
  std::vector<std::uint8_t> bytes(4000);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>((i * 37) % 256);
  Rng rng(7);
  const Matrix u = dequantize(bytes, 8, rng);
  ASSERT_EQ(u.rows(), 500);
  double offset_sum = 0.0;
  for (Index i = 0; i < u.rows(); ++i)
    for (Index j = 0; j < 8; ++j) {
      const double k = bytes[static_cast<std::size_t>(i * 8 + j)];
      const double offset = u(i, j) * 256.0 - k;
      ASSERT_GE(offset, 0.0);
      ASSERT_LT(offset, 1.0);
      offset_sum += offset;
    }
  // The mean offset is ½ ± 1/√(12·4000).
  EXPECT_NEAR(offset_sum / 4000.0, 0.5, tolerance::kStandardErrors / std::sqrt(12.0 * 4000.0));
  EXPECT_THROW(dequantize(bytes, 7, rng), std::invalid_argument);
}

TEST(PixelTransform, BadStepsAndInputsAreRefusedWithTheirPlace) {
  PixelTransform f(4);
  EXPECT_THROW(f.logit(0.5), std::invalid_argument);
  EXPECT_THROW(f.affine(RowVector::Constant(4, 0.0), RowVector::Zero(4)), std::invalid_argument);
  EXPECT_THROW(f.affine(RowVector::Constant(3, 1.0), RowVector::Zero(3)), std::invalid_argument);
  EXPECT_THROW(PixelTransform(0), std::invalid_argument);
  f.logit(0.05);
  Matrix u = Matrix::Constant(2, 4, 0.5);
  u(1, 2) = 1.5;
  try {
    f.forward(u);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("image 1 pixel 2 is 1.5"));
  }
  EXPECT_THROW(f.forward(Matrix::Constant(2, 3, 0.5)), std::invalid_argument);
}

}  // namespace
}  // namespace diffgen
