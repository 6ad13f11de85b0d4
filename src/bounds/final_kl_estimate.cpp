#include "bounds/final_kl_estimate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace diffgen {

std::string FinalKlEstimateOptions::validate() const {
  if (auto err = density.validate(); !err.empty()) return err;
  if (!(check_ratio > 1.0) || !(density.spacing * check_ratio <= 1.0))
    return fmt::format("final KL check: spacing {} times the check ratio {} must be above the spacing and at most 1",
                       density.spacing, check_ratio);
  if (!(relative_tolerance > 0.0) || !(absolute_tolerance >= 0.0))
    return fmt::format("final KL check: tolerances {} (relative) and {} (absolute) are not allowed (need > 0, >= 0)",
                       relative_tolerance, absolute_tolerance);
  return {};
}

FinalKlEstimate estimate_final_kl(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid,
                                  const GaussianMixture& target, const FinalKlEstimateOptions& o) {
  if (auto err = o.validate(); !err.empty()) throw ConfigError(err);
  OutputDensityOptions coarse = o.density;
  coarse.spacing *= o.check_ratio;
  coarse.final_spacing = std::min(coarse.final_spacing * o.check_ratio, coarse.spacing);
  const OutputDensity od = output_density(f, rule, grid, &target, o.density);
  const FinalKl fine = final_kl(target, od);
  FinalKlEstimate out;
  out.kl = fine.kl;
  out.check = final_kl(target, output_density(f, rule, grid, &target, coarse)).kl;
  out.points = od.largest_grid;
  // |kl - check| is NaN or ∞ when either is ∞: then the interval is [lower, ∞).
  const double spread = std::isfinite(out.kl) && std::isfinite(out.check) ? std::abs(out.kl - out.check)
                                                                          : std::numeric_limits<double>::infinity();
  out.lower = std::isfinite(spread) ? std::max(0.0, fine.kl_lower - spread) : std::max(0.0, fine.kl_lower);
  out.upper = fine.kl_upper + spread;
  out.exact = out.error() <= o.relative_tolerance * out.kl + o.absolute_tolerance;
  return out;
}

}  // namespace diffgen
