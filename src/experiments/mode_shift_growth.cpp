#include "experiments/mode_shift_growth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Json number_or_null(double x) {
  return std::isfinite(x) ? Json(x) : Json(nullptr);
}

// A seed's slope counts in the spread only when its fit used every distance
// (fit_power_law_over_seeds without `partial`).
bool in_spread(const PowerFit& f) {
  return f.ok() && f.skipped == 0;
}

}  // namespace

SeedSlopes fit_best_kl_growth(const std::vector<double>& distances, const GridResults& results) {
  std::size_t seeds = 0;
  for (const auto& v : results) seeds = std::max(seeds, v.size());
  // y[k][v]: seed k's best KL (a) at distance v.
  std::vector<std::vector<double>> y(seeds, std::vector<double>(distances.size(), kNaN));
  for (std::size_t v = 0; v < results.size() && v < distances.size(); ++v)
    for (std::size_t k = 0; k < results[v].size(); ++k)
      y[k][v] = curve_minimum(results[v][k].rows, &StudyRow::kl_a).value;
  return fit_power_law_over_seeds(distances, y);
}

std::string growth_exponent_text(const SeedSlopes& fit) {
  return format_pm(fit.slope, 2);
}

std::string growth_per_seed_text(const SeedSlopes& fit) {
  std::string text;
  for (const auto& f : fit.per_seed) {
    if (!text.empty()) text += ", ";
    text += in_spread(f) ? format_significant(f.slope, 2) : std::string("-");
  }
  return text;
}

std::string growth_reading(const SeedSlopes& fit) {
  const Spread& s = fit.slope;
  const std::string left_out =
      fit.seeds_left_out > 0
          ? fmt::format(" ({} seed{} left out: a best KL (a) missing or not positive at some distance)",
                        fit.seeds_left_out, fit.seeds_left_out > 1 ? "s" : "")
          : "";
  if (s.count == 0) return "no exponent: no seed has a positive best KL (a) at every distance" + left_out;
  // One slope has no spread: an interval over seeds needs two.
  if (s.count < 2) return "one seed, so no interval exists: growth cannot be told from no growth" + left_out;
  const double lo = s.mean - s.ci95, hi = s.mean + s.ci95;
  const auto power = [](double e) { return "d^" + format_significant(e, 2); };
  if (lo > 0)
    return fmt::format("the best KL grows, as d^b with b between {} and {}", format_significant(lo, 2),
                       format_significant(hi, 2)) +
           left_out;
  if (hi < 0)
    return fmt::format("the best KL falls, as d^b with b between {} and {}", format_significant(lo, 2),
                       format_significant(hi, 2)) +
           left_out;
  // The interval holds 0: "no growth" is inside it, and so is growth up to d^hi.
  return fmt::format("growth slower than {} — no growth cannot be told from mild growth", power(hi)) + left_out;
}

Json growth_json(const SeedSlopes& fit) {
  Json j = spread_json(fit.slope);
  Json per_seed = Json::array();
  for (const auto& f : fit.per_seed) per_seed.push_back(in_spread(f) ? number_or_null(f.slope) : Json(nullptr));
  j["per_seed"] = per_seed;
  j["seeds_left_out"] = fit.seeds_left_out;
  j["seed_mean_curve_fit"] = {{"slope", number_or_null(fit.of_mean.slope)},
                              {"ci95", number_or_null(fit.of_mean.slope_ci95)},
                              {"points", fit.of_mean.points}};
  j["method"] =
      "least-squares slope of log(best KL (a)) against log d, fitted per seed; mean and Student-t 95% "
      "interval over the seeds";
  j["reading"] = growth_reading(fit);
  return j;
}

}  // namespace diffgen
