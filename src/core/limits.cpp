#include "core/limits.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

#include "core/error.hpp"

namespace diffgen {
namespace {

// Empty when `value` is an acceptable count, otherwise why not.
std::string count_problem(double value, Index max_count) {
  if (std::isnan(value)) return "is not a number";
  if (value < 0) return fmt::format("is negative ({})", value);
  if (!(std::ceil(value) <= static_cast<double>(max_count)))
    return fmt::format("is {:.3g}, above the limit of {}", value, max_count);
  return {};
}

}  // namespace

Index checked_count(double value, Index max_count, std::string_view what) {
  const std::string problem = count_problem(value, max_count);
  if (!problem.empty()) throw NumericalError(fmt::format("{}: the number of points {}", what, problem));
  return static_cast<Index>(std::ceil(value));
}

Index checked_setting_count(double value, Index max_count, std::string_view keys) {
  const std::string problem = count_problem(value, max_count);
  if (!problem.empty()) {
    throw ConfigError(
        fmt::format("{}: the number of points these settings imply {}; choose values that keep it "
                    "at most {}",
                    keys, problem, max_count));
  }
  return static_cast<Index>(std::ceil(value));
}

std::uint64_t memory_limit_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return std::uint64_t{8} << 30;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size) / 2;
}

std::string format_bytes(double bytes) {
  constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 6) {
    bytes /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} bytes", bytes);
  return fmt::format("{:.3g} {}", bytes, kUnits[unit]);
}

void require_memory(double bytes, std::string_view keys, std::string_view purpose) {
  const auto limit = static_cast<double>(memory_limit_bytes());
  if (std::isnan(bytes) || bytes > limit) {
    throw ConfigError(fmt::format("{} needs about {} for {}; at most {} (half the physical memory) is allowed", keys,
                                  std::isfinite(bytes) ? format_bytes(bytes) : "unbounded memory", purpose,
                                  format_bytes(limit)));
  }
}

}  // namespace diffgen

namespace diffgen {

Index clamped_index(double value, Index lo, Index hi) {
  if (!(value > static_cast<double>(lo))) return lo;
  if (!(value < static_cast<double>(hi))) return hi;
  return static_cast<Index>(value);
}

}  // namespace diffgen

namespace diffgen {

Index checked_setting_size(double count, double bytes_per_item, std::string_view keys, std::string_view purpose) {
  if (count >= 0) require_memory(std::ceil(count) * bytes_per_item, keys, purpose);
  return checked_setting_count(count, kMaxGridPoints, keys);
}

}  // namespace diffgen
