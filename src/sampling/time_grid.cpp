// The SDE samplers' time grids (uniform, geometric) and their check.
// Tested by samplers_test.cpp.
#include "sampling/time_grid.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace diffgen {
namespace {

void check(double T, double eps, Index steps) {
  if (!(eps > 0.0) || !std::isfinite(T) || !(T > eps))
    throw ConfigError("sampling.eps = " + std::to_string(eps) + ", T = " + std::to_string(T) +
                      " is not allowed (need 0 < eps < T, finite)");
  if (steps < 1) throw ConfigError("sampling.steps = " + std::to_string(steps) + " is not allowed (need >= 1)");
}

}  // namespace

Vector uniform_time_grid(double T, double eps, Index steps) {
  check(T, eps, steps);
  Vector t(steps + 1);
  // Interpolate from both ends so the first is T and the last ε exactly.
  for (Index k = 0; k <= steps; ++k) {
    const double w = static_cast<double>(k) / static_cast<double>(steps);
    t[k] = (1.0 - w) * T + w * eps;
  }
  t[0] = T;
  t[steps] = eps;
  return t;
}

Vector geometric_time_grid(double T, double eps, Index steps) {
  check(T, eps, steps);
  Vector t(steps + 1);
  const double log_ratio = std::log(eps / T);
  for (Index k = 0; k <= steps; ++k)
    t[k] = T * std::exp(log_ratio * static_cast<double>(k) / static_cast<double>(steps));
  t[0] = T;
  t[steps] = eps;
  return t;
}

std::string validate_time_grid(const Vector& grid) {
  if (grid.size() < 2) return "time grid has " + std::to_string(grid.size()) + " times (need >= 2)";
  if (!grid.allFinite()) return "time grid has non-finite times";
  for (Index k = 0; k + 1 < grid.size(); ++k)
    if (!(grid[k + 1] < grid[k]))
      return "time grid is not strictly decreasing at index " + std::to_string(k + 1) +
             " (t = " + std::to_string(grid[k + 1]) + " after " + std::to_string(grid[k]) + ")";
  if (grid[grid.size() - 1] < 0.0) return "time grid ends below 0";
  return {};
}

}  // namespace diffgen
