#include "numerics/tabulated_curve.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace diffgen {

TabulatedCurve::TabulatedCurve(const std::function<double(double)>& f, double lo, double hi, Index nodes)
    : lo_(lo), hi_(hi) {
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw std::invalid_argument(fmt::format("tabulated curve: the range [{}, {}] must be finite with lo < hi", lo, hi));
  if (nodes < 3) throw std::invalid_argument(fmt::format("tabulated curve: {} nodes must be >= 3", nodes));
  const auto n = static_cast<std::size_t>(nodes);
  h_ = (hi - lo) / static_cast<double>(nodes - 1);
  f_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double x = i + 1 == n ? hi : lo + h_ * static_cast<double>(i);
    f_[i] = f(x);
    if (!std::isfinite(f_[i]))
      throw std::invalid_argument(fmt::format("tabulated curve: the function is {} at x = {}", f_[i], x));
  }
  // Second-order differences: central inside, one-sided at the ends.
  df_.resize(n);
  df_[0] = (-3.0 * f_[0] + 4.0 * f_[1] - f_[2]) / (2.0 * h_);
  df_[n - 1] = (3.0 * f_[n - 1] - 4.0 * f_[n - 2] + f_[n - 3]) / (2.0 * h_);
  for (std::size_t i = 1; i + 1 < n; ++i) df_[i] = (f_[i + 1] - f_[i - 1]) / (2.0 * h_);
}

std::pair<std::size_t, double> TabulatedCurve::locate(double x) const {
  const double p = (std::clamp(x, lo_, hi_) - lo_) / h_;
  const std::size_t i = std::min(static_cast<std::size_t>(p), f_.size() - 2);
  return {i, p - static_cast<double>(i)};
}

double TabulatedCurve::value(double x) const {
  const auto [i, u] = locate(x);
  // Cubic Hermite basis on [0, 1].
  const double h00 = (1 + 2 * u) * (1 - u) * (1 - u), h10 = u * (1 - u) * (1 - u);
  const double h01 = u * u * (3 - 2 * u), h11 = u * u * (u - 1);
  return h00 * f_[i] + h10 * h_ * df_[i] + h01 * f_[i + 1] + h11 * h_ * df_[i + 1];
}

double TabulatedCurve::slope(double x) const {
  const auto [i, u] = locate(x);
  const double d00 = 6 * u * (u - 1), d10 = (1 - u) * (1 - 3 * u);
  const double d01 = -d00, d11 = u * (3 * u - 2);
  return (d00 * f_[i] + d01 * f_[i + 1]) / h_ + d10 * df_[i] + d11 * df_[i + 1];
}

}  // namespace diffgen
