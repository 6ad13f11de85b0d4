// The oracle floors of a training study as summary.json and report.md state
// them: each KL of an exact score (the perfect learner) and of the memorized
// training set, named for what it is. Under definition (b) with the Gaussian
// prior the perfect learner's value is the prior mismatch, not smoothing, so
// both parts are given; a value inside its own error estimate is never shown
// as a number; the memorizer-to-perfect-learner ratio is an estimate over
// many training sets, with its interval.
// Tested by oracle_floors_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/early_stopping.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;

// The ratio of each memorized set's exact KL (a) to the perfect learner's,
// pooled over the seeds' sets.
Spread memorizer_ratio(const std::vector<SeedResult>& seeds, const std::vector<double> OracleFloors::*sets,
                       double OracleFloors::*smoothing) {
  std::vector<double> ratios;
  for (const auto& sr : seeds)
    for (double v : sr.floors.*sets) ratios.push_back(v / (sr.floors.*smoothing));
  return spread(ratios);
}

// The largest error estimate of the perfect learner's (b) over seeds (the
// value itself is the same for every seed: it does not depend on the data).
double population_b_error(const std::vector<SeedResult>& seeds) {
  double e = 0.0;
  for (const auto& sr : seeds) e = std::max(e, sr.floors.population_b_error);
  return e;
}

// x to `digits` significant digits in plain notation ("1280", not "1.28e+03").
std::string plain(double x, int digits) {
  if (!std::isfinite(x) || x == 0.0) return format_significant(x, digits);
  const int magnitude = static_cast<int>(std::floor(std::log10(std::abs(x))));
  const double unit = std::pow(10.0, magnitude - digits + 1);
  return fmt::format("{:.{}f}", std::round(x / unit) * unit, std::max(0, digits - 1 - magnitude));
}

// A ratio over training sets: "1280 ± 37" (the 95% interval of the mean).
std::string ratio_pm(const Spread& r) {
  if (r.count < 2) return plain(r.mean, 3);
  return plain(r.mean, 3) + " ± " + plain(r.ci95, 2);
}

Json ratio_json(const Spread& r, const char* what) {
  Json j = spread_json(r);
  j["definition"] = what;
  return j;
}

}  // namespace

Json floors_json(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  const auto f = [&](double OracleFloors::*field) { return spread_json(floor_spread(seeds, field)); };
  Json floors = {{"population_a", f(&OracleFloors::population_a)},
                 {"empirical_a", f(&OracleFloors::empirical_a)},
                 {"population_emp_a", f(&OracleFloors::population_emp_a)}};
  if (s.has_kl_small()) {
    floors["population_a_small"] = f(&OracleFloors::population_a_small);
    floors["empirical_a_small"] = f(&OracleFloors::empirical_a_small);
    floors["population_emp_a_small"] = f(&OracleFloors::population_emp_a_small);
  }
  if (s.kl_ode_every > 0) {
    const double pop = floor_spread(seeds, &OracleFloors::population_b).mean, err = population_b_error(seeds);
    floors["population_b"] = f(&OracleFloors::population_b);
    floors["population_b_error"] = err;
    floors["population_b_within_error"] = !(pop > err);
    floors["population_b_prior"] = enum_name(s.kl_ode.prior);
    floors["smoothing_b"] = f(&OracleFloors::smoothing_b);
    floors["prior_mismatch_b"] = f(&OracleFloors::prior_mismatch_b);
    floors["empirical_b"] = f(&OracleFloors::empirical_b);
    floors["prior_mismatch_emp_b"] = f(&OracleFloors::prior_mismatch_emp_b);
  }
  const Spread ratio = memorizer_ratio(seeds, &OracleFloors::memorizer_a_sets, &OracleFloors::smoothing_a);
  if (ratio.count > 0) {
    floors["memorizer_ratio_a"] =
        ratio_json(ratio, "KL(p_0 || p_emp,t0) / KL(p_0 || p_t0) at kl.t0 over the memorizer sets (exact densities)");
    const Spread small = memorizer_ratio(seeds, &OracleFloors::memorizer_a_small_sets, &OracleFloors::smoothing_a_small);
    if (small.count > 0)
      floors["memorizer_ratio_a_small"] = ratio_json(
          small, "KL(p_0 || p_emp,t0) / KL(p_0 || p_t0) at kl.t0_small over the memorizer sets (exact densities)");
  }
  return floors;
}

std::vector<std::string> floor_lines(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  const auto f = [&](double OracleFloors::*field) { return format_pm(floor_spread(seeds, field)); };
  // The perfect learner's floors do not depend on the training set: one value.
  const auto one = [&](double OracleFloors::*field) {
    return format_significant(floor_spread(seeds, field).mean, 4);
  };
  std::vector<std::string> lines;
  lines.push_back(fmt::format("Oracle floors (a) at t0 = {}: a perfect learner {} (the smoothing floor KL(p_0 ‖ p_t0)); "
                              "the memorized training set {}.",
                              s.kl.t0, one(&OracleFloors::population_a), f(&OracleFloors::empirical_a)));
  if (s.has_kl_small())
    lines.push_back(fmt::format("Oracle floors (a) at t0 = {}: a perfect learner {}; the memorized training set {}.",
                                s.kl_small.t0, one(&OracleFloors::population_a_small),
                                f(&OracleFloors::empirical_a_small)));
  const Spread ratio = memorizer_ratio(seeds, &OracleFloors::memorizer_a_sets, &OracleFloors::smoothing_a);
  if (ratio.count > 0) {
    std::string line = fmt::format(
        "A model that memorized its training set scores {}× a perfect learner's KL (a) at t0 = {}", ratio_pm(ratio),
        s.kl.t0);
    const Spread small = memorizer_ratio(seeds, &OracleFloors::memorizer_a_small_sets, &OracleFloors::smoothing_a_small);
    if (small.count > 0) line += fmt::format(" and {}× at t0 = {}", ratio_pm(small), s.kl_small.t0);
    lines.push_back(line + fmt::format(" (over {} training sets of n = {}, exact densities).", ratio.count, s.n));
  }
  if (s.kl_ode_every > 0) {
    const double pop = floor_spread(seeds, &OracleFloors::population_b).mean;
    const bool gaussian = s.kl_ode.prior == KlPrior::Gaussian;
    lines.push_back(fmt::format(
        "Oracle floors (b), {} prior: a perfect learner (the exact score's PF-ODE) {}. Its parts, each exact: the "
        "smoothing floor KL(p_0 ‖ p_ε) = {}{}, and the prior mismatch KL(p_T ‖ N(0, s(T)²)) = {}{}.",
        enum_name(s.kl_ode.prior), format_with_error(pop, population_b_error(seeds)),
        format_significant(floor_spread(seeds, &OracleFloors::smoothing_b).mean, 2),
        gaussian ? "" : " (the best any learner can do at ε)",
        format_significant(floor_spread(seeds, &OracleFloors::prior_mismatch_b).mean, 5),
        gaussian ? ", which the PF-ODE carries to ε unchanged: it, not smoothing, is the Gaussian-prior floor"
                 : " (what the Gaussian prior would add)"));
    lines.push_back(fmt::format(
        "The memorized training set under (b): {} (its exact density at ε, what its PF-ODE generates from its own "
        "law at T; the same under either prior setting, because the PF-ODE cannot resolve that comb of bumps; from "
        "N(0, s(T)²) instead, its output would be KL(p_emp,T ‖ N(0, s(T)²)) = {} away from it).",
        f(&OracleFloors::empirical_b), format_pm(floor_spread(seeds, &OracleFloors::prior_mismatch_emp_b))));
  }
  return lines;
}

}  // namespace diffgen
