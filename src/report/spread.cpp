#include "report/spread.hpp"

#include <cmath>

#include "report/table.hpp"

namespace diffgen {

nlohmann::json spread_json(const Spread& s) {
  if (s.count == 0) return nlohmann::json{{"count", 0}, {"mean", nullptr}};
  return nlohmann::json{{"count", s.count}, {"mean", s.mean}, {"sd", s.sd},
                        {"ci95", s.ci95},   {"min", s.min},   {"max", s.max}};
}

std::string format_pm(const Spread& s, int digits) {
  if (s.count == 0) return "-";
  if (s.count < 2) return format_significant(s.mean, digits);
  return format_pm(s.mean, s.ci95, digits);
}

std::string format_pm(double value, double half_width, int digits) {
  if (!std::isfinite(value)) return "-";
  if (!std::isfinite(half_width)) return format_significant(value, digits);
  return format_significant(value, digits) + " ± " + format_significant(half_width, 2);
}

std::string format_with_error(double value, double error, int digits) {
  if (!std::isfinite(value)) return "-";
  if (!std::isfinite(error)) return format_significant(value, digits);
  const std::string e = format_significant(error, 2);
  if (!(value > error)) return "< " + e + " (zero within its error estimate)";
  return format_significant(value, digits) + " (error estimate " + e + ")";
}

}  // namespace diffgen
