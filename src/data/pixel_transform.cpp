#include "data/pixel_transform.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <utility>

namespace diffgen {

PixelTransform::PixelTransform(Index pixels) : pixels_(pixels) {
  if (pixels < 1) throw std::invalid_argument(fmt::format("pixel transform: {} pixels must be >= 1", pixels));
}

PixelTransform& PixelTransform::affine(RowVector scale, RowVector shift) {
  if (scale.size() != pixels_ || shift.size() != pixels_)
    throw std::invalid_argument(fmt::format("pixel transform: an affine step needs {} scales and shifts, got {} and {}",
                                            pixels_, scale.size(), shift.size()));
  for (Index j = 0; j < pixels_; ++j)
    if (!(scale[j] != 0.0) || !std::isfinite(scale[j]) || !std::isfinite(shift[j]))
      throw std::invalid_argument(
          fmt::format("pixel transform: pixel {} has scale {} and shift {} (the scale must be finite and nonzero)", j,
                      scale[j], shift[j]));
  PixelStep step;
  step.scale = std::move(scale), step.shift = std::move(shift);
  steps_.push_back(std::move(step));
  return *this;
}

PixelTransform& PixelTransform::centre() {
  return affine(RowVector::Constant(pixels_, 2.0), RowVector::Constant(pixels_, -1.0));
}

PixelTransform& PixelTransform::standardize(const Matrix& data) {
  if (data.cols() != pixels_ || data.rows() < 1)
    throw std::invalid_argument(
        fmt::format("pixel transform: standardizing needs images of {} pixels, got {} x {}", pixels_, data.rows(),
                    data.cols()));
  const RowVector mean = data.colwise().mean();
  RowVector scale(pixels_);
  for (Index j = 0; j < pixels_; ++j) {
    const double sd = std::sqrt((data.col(j).array() - mean[j]).square().mean());
    scale[j] = sd > 0.0 ? 1.0 / sd : 1.0;
  }
  return affine(scale, -(mean.array() * scale.array()).matrix());
}

PixelTransform& PixelTransform::logit(double alpha) {
  if (!(alpha > 0.0 && alpha < 0.5))
    throw std::invalid_argument(fmt::format("pixel transform: the logit's α = {} must lie in (0, ½)", alpha));
  PixelStep step;
  step.kind = PixelStep::Kind::Logit;
  step.alpha = alpha;
  steps_.push_back(std::move(step));
  return *this;
}

Matrix PixelTransform::forward(const Matrix& u, Vector* logdet) const {
  if (u.cols() != pixels_)
    throw std::invalid_argument(fmt::format("pixel transform: images of {} pixels, got {}", pixels_, u.cols()));
  Matrix y = u;
  if (logdet) logdet->setZero(u.rows());
  for (const PixelStep& step : steps_) {
    if (step.kind == PixelStep::Kind::Affine) {
      y = (y.array().rowwise() * step.scale.array()).rowwise() + step.shift.array();
      if (logdet) logdet->array() += step.scale.array().abs().log().sum();
      continue;
    }
    const double a = step.alpha, b = 1.0 - 2.0 * step.alpha;
    for (Index i = 0; i < y.rows(); ++i)
      for (Index j = 0; j < pixels_; ++j) {
        const double x = y(i, j);
        if (!(x >= 0.0 && x <= 1.0))
          throw std::invalid_argument(
              fmt::format("pixel transform: the logit needs values in [0, 1], image {} pixel {} is {}", i, j, x));
        const double s = a + b * x;
        y(i, j) = std::log(s) - std::log1p(-s);
        // dy/dx = b / (s (1 − s)).
        if (logdet) (*logdet)[i] += std::log(b) - std::log(s) - std::log1p(-s);
      }
  }
  return y;
}

Matrix PixelTransform::inverse(const Matrix& y) const {
  if (y.cols() != pixels_)
    throw std::invalid_argument(fmt::format("pixel transform: images of {} pixels, got {}", pixels_, y.cols()));
  Matrix u = y;
  for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
    if (step->kind == PixelStep::Kind::Affine) {
      u = (u.array().rowwise() - step->shift.array()).rowwise() / step->scale.array();
      continue;
    }
    const double a = step->alpha, b = 1.0 - 2.0 * step->alpha;
    // s = sigmoid(y), x = (s − α) / (1 − 2α).
    u = ((1.0 / (1.0 + (-u.array()).exp())) - a) / b;
  }
  return u;
}

Matrix dequantize(const std::vector<std::uint8_t>& bytes, Index pixels, Rng& rng) {
  if (pixels < 1 || bytes.size() % static_cast<std::size_t>(pixels) != 0)
    throw std::invalid_argument(
        fmt::format("dequantize: {} bytes are not whole images of {} pixels", bytes.size(), pixels));
  const Index n = static_cast<Index>(bytes.size()) / pixels;
  Matrix u(n, pixels);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < pixels; ++j)
      u(i, j) = (static_cast<double>(bytes[static_cast<std::size_t>(i * pixels + j)]) + rng.uniform()) / 256.0;
  return u;
}

double bits_per_dim(double log_density, double logdet, Index pixels) {
  return -(log_density + logdet) / (static_cast<double>(pixels) * std::numbers::ln2) + 8.0;
}

}  // namespace diffgen
