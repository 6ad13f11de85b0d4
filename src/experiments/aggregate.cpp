#include "experiments/aggregate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace diffgen {

double student_t975(int dof) {
  // Exact to 3 decimals for dof <= 30 (standard tables); beyond, the normal
  // quantile with the first Cornish–Fisher correction.
  static constexpr double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof < 1) return std::numeric_limits<double>::quiet_NaN();
  if (dof <= 30) return kTable[dof - 1];
  const double z = 1.959963984540054;
  return z + (z * z * z + z) / (4.0 * dof);
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

}  // namespace diffgen
