#include "numerics/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.hpp"

namespace diffgen {

namespace {

// P(|T| <= t) for Student's t with integer `dof`, by the classical finite
// series in θ = atan(t / √dof) (Abramowitz & Stegun 26.7.3–26.7.4).
double t_two_sided_mass(double t, int dof) {
  const double theta = std::atan(t / std::sqrt(static_cast<double>(dof)));
  const double s = std::sin(theta), c2 = std::cos(theta) * std::cos(theta);
  if (dof % 2 == 0) {
    double term = 1, sum = 1;
    for (int k = 2; k <= dof - 2; k += 2) {
      term *= c2 * (k - 1) / k;
      sum += term;
    }
    return s * sum;
  }
  if (dof == 1) return 2 * theta / M_PI;
  double term = 1, sum = 1;
  for (int k = 3; k <= dof - 2; k += 2) {
    term *= c2 * (k - 1) / k;
    sum += term;
  }
  return 2 / M_PI * (theta + s * std::cos(theta) * sum);
}

}  // namespace

double student_t975(int dof) {
  if (dof < 1) return std::numeric_limits<double>::quiet_NaN();
  if (dof > 10000) {  // the series costs O(dof); Cornish–Fisher is exact to ~1e-12 here
    const double z = 1.959963984540054, n = dof;
    return z + (z * z * z + z) / (4 * n) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
  }
  // Bisection on P(|T| <= t) = 0.95, which is increasing in t; the quantile
  // lies in [1.9, 12.71] for every dof >= 1.
  double lo = 1.9, hi = 12.71;
  for (int i = 0; i < 200 && hi - lo > 1e-13; ++i) {
    const double mid = 0.5 * (lo + hi);
    (t_two_sided_mass(mid, dof) < 0.95 ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Spread spread(const std::vector<double>& values) {
  Spread s;
  double sum = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    ++s.count;
    sum += v;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
  }
  if (s.count == 0) {
    s.mean = s.min = s.max = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = sum / s.count;
  if (s.count < 2) return s;
  double ss = 0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(ss / (s.count - 1));
  s.ci95 = student_t975(s.count - 1) * s.sd / std::sqrt(static_cast<double>(s.count));
  return s;
}

Estimate mean_estimate(const Vector& draws) {
  const Index n = draws.size();
  if (n < 2)
    throw ConfigError("a Monte Carlo mean needs at least 2 draws for its standard error, got " + std::to_string(n));
  const double mean = draws.mean();
  const double ss = (draws.array() - mean).square().sum();
  return {mean, std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n))};
}

namespace {

// Ranks 1..n, ties sharing their mean rank.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double mean_rank = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) r[order[k]] = mean_rank;
    i = j + 1;
  }
  return r;
}

}  // namespace

double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (x.size() != y.size() || x.size() < 2) return nan;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) return nan;
  const std::vector<double> rx = ranks(x), ry = ranks(y);
  const double mean = 0.5 * static_cast<double>(x.size() + 1);
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  return sxx > 0.0 && syy > 0.0 ? sxy / std::sqrt(sxx * syy) : nan;
}

}  // namespace diffgen
