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

std::vector<double> parse_time_list(std::string_view text, std::string_view key) {
  std::vector<double> times;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    std::string item(text.substr(begin, comma - begin));
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    char* end = nullptr;
    const double v = item.empty() ? 0.0 : std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v))
      throw ConfigError(std::string(key) + " = '" + std::string(text) + "': '" + item +
                        "' is not a time (a finite number; times are separated by commas)");
    times.push_back(v);
    begin = comma + 1;
  }
  return times;
}

Vector user_time_grid(std::string_view text, std::string_view key) {
  const std::vector<double> times = parse_time_list(text, key);
  const Vector grid = Eigen::Map<const Vector>(times.data(), static_cast<Index>(times.size()));
  if (auto err = validate_time_grid(grid); !err.empty())
    throw ConfigError(std::string(key) + " = '" + std::string(text) + "': " + err);
  return grid;
}

}  // namespace diffgen
