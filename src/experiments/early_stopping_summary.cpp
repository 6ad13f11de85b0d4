// summary.json of a training study: per measure its minimum along training,
// that minimum's epoch and the final value over seeds, the oracle floors, the
// memorization measures and what they point to, and the diagnostics.
// Tested by early_stopping_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/early_stopping.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Json definition_json(const std::vector<SeedResult>& seeds, double StudyRow::*metric, const std::string& what) {
  std::vector<CurveMinimum> minima;
  for (const auto& sr : seeds) minima.push_back(curve_minimum(sr.rows, metric));
  const std::vector<double> finals = per_seed(seeds, [metric](const SeedResult& sr) { return curve_last(sr.rows, metric); });
  std::vector<double> mins, epochs;
  for (const auto& m : minima) {
    mins.push_back(m.value);
    epochs.push_back(m.epoch >= 0 ? static_cast<double>(m.epoch) : kNaN);
  }
  Json j{{"definition", what},
         {"min", spread_json(spread(mins))},
         {"epoch_of_min", spread_json(spread(epochs))},
         {"final", spread_json(spread(finals))}};
  // The minimum of the seed-mean curve: the early-stopping point a reader of the plot sees.
  const auto curve = mean_curve(seeds, metric);
  const auto best = std::min_element(curve.begin(), curve.end(), [](const CurvePoint& a, const CurvePoint& b) {
    return a.spread.mean < b.spread.mean;
  });
  if (best != curve.end()) {
    j["mean_curve"] = {{"min", best->spread.mean},
                       {"epoch_of_min", best->epoch},
                       {"final", curve.back().spread.mean},
                       {"final_epoch", curve.back().epoch}};
  }
  Json per_seed = Json::array();
  for (std::size_t k = 0; k < seeds.size(); ++k) {
    Json e{{"seed", seeds[k].seed_index}};
    e["min"] = std::isfinite(minima[k].value) ? Json(minima[k].value) : Json(nullptr);
    e["epoch_of_min"] = minima[k].epoch >= 0 ? Json(minima[k].epoch) : Json(nullptr);
    e["final"] = std::isfinite(finals[k]) ? Json(finals[k]) : Json(nullptr);
    per_seed.push_back(e);
  }
  j["per_seed"] = per_seed;
  return j;
}

// The learned weight of the right mode: at the end, and its mean distance from ½ along training.
Json weight_json(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  std::vector<double> final_w, error_w;
  for (const auto& sr : seeds) {
    double sum = 0.0;
    Index count = 0;
    for (const auto& row : sr.rows)
      if (std::isfinite(row.weight_right)) {
        sum += std::abs(row.weight_right - 0.5);
        ++count;
      }
    final_w.push_back(curve_last(sr.rows, &StudyRow::weight_right));
    error_w.push_back(count > 0 ? sum / static_cast<double>(count) : kNaN);
  }
  return {{"definition",
           fmt::format("mass of the score-integrated density at t0 = {} on x > 0 (the target's: 0.5)", s.kl.t0)},
          {"final", spread_json(spread(final_w))},
          {"mean_abs_deviation_from_half", spread_json(spread(error_w))}};
}

// The sampler of the memorization measures, as its definition states it.
std::string samples_text(const TrainingStudySettings& s) {
  if (s.sampler.kind == "euler-maruyama")
    return fmt::format("{} reverse-SDE samples ({} Euler–Maruyama steps, {} time grid)", s.memorization_samples,
                       s.sampler.steps, enum_name(s.sampler.time_grid));
  return fmt::format("{} samples of the {} sampler ({} steps, {} time grid)", s.memorization_samples, s.sampler.kind,
                     s.sampler.steps, enum_name(s.sampler.time_grid));
}

Json memorization_json(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, Index n) {
  std::vector<double> fraction, distance;
  for (const auto& sr : seeds) {
    fraction.push_back(curve_last(sr.rows, &StudyRow::memorized_fraction));
    distance.push_back(curve_last(sr.rows, &StudyRow::nn_distance));
  }
  Json m = {{"definition", fmt::format("fraction of {} whose nearest training point is over {} times closer than the "
                                       "second nearest",
                                       samples_text(s), format_significant(1.0 / s.memorization.ratio_threshold, 3))},
            {"final_fraction", spread_json(spread(fraction))},
            {"final_mean_nn_distance", spread_json(spread(distance))}};
  if (!s.has_target()) return m;
  const auto base = [&](double MemorizationBaseline::*f, bool memorizer = false) {
    return spread_json(baseline_spread(seeds, f, memorizer));
  };
  m["baseline"] = {{"definition", fmt::format("the same measures for {} fresh target samples in place of generated "
                                              "ones; distances to the training set and to a fresh set of its size "
                                              "(n = {})",
                                              s.memorization_samples, n)},
                   {"fraction", base(&MemorizationBaseline::memorized_fraction)},
                   {"mean_nn_distance", base(&MemorizationBaseline::nn_distance)},
                   {"mean_nn_distance_fresh", base(&MemorizationBaseline::nn_distance_fresh)},
                   {"closer_to_train", base(&MemorizationBaseline::closer_to_train)}};
  m["final_excess_fraction"] =
      spread_json(spread(final_minus(seeds, &StudyRow::memorized_fraction, &StudyRow::memorized_baseline)));
  m["final_mean_nn_distance_fresh"] = spread_json(final_spread(seeds, &StudyRow::nn_distance_fresh));
  m["final_closer_to_train"] = spread_json(final_spread(seeds, &StudyRow::closer_to_train));
  if (s.memorization_memorizer)
    m["memorizer"] = {
        {"definition", "the same measures for the empirical oracle's samples (same sampler): a perfect memorizer"},
        {"fraction", base(&MemorizationBaseline::memorized_fraction, true)},
        {"mean_nn_distance", base(&MemorizationBaseline::nn_distance, true)},
        {"mean_nn_distance_fresh", base(&MemorizationBaseline::nn_distance_fresh, true)},
        {"closer_to_train", base(&MemorizationBaseline::closer_to_train, true)}};
  return m;
}

Json diagnostics_json(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                      std::vector<std::string>& warnings) {
  StudyDiagnostics worst;
  for (const auto& sr : seeds) {
    const auto& d = sr.diagnostics;
    worst.max_target_mass_outside = std::max(worst.max_target_mass_outside, d.max_target_mass_outside);
    worst.max_quadrature_error_a = std::max(worst.max_quadrature_error_a, d.max_quadrature_error_a);
    worst.max_quadrature_error_b = std::max(worst.max_quadrature_error_b, d.max_quadrature_error_b);
    worst.max_solver_error_b = std::max(worst.max_solver_error_b, d.max_solver_error_b);
    worst.max_quadrature_error_a_small = std::max(worst.max_quadrature_error_a_small, d.max_quadrature_error_a_small);
    worst.ode_steps += d.ode_steps;
    worst.ode_rejected_steps += d.ode_rejected_steps;
  }
  // KLs of interest are ~1e-2 and up (the memorizer's at t0_small): an error
  // estimate near that means the grid does not resolve the learned density.
  constexpr double kQuadratureWarning = 1e-3;
  if (s.has_target() && worst.max_quadrature_error_a > kQuadratureWarning)
    warnings.push_back(fmt::format("KL (a): quadrature error estimate up to {}; raise kl.points (now {})",
                                   format_significant(worst.max_quadrature_error_a, 2), s.kl.grid.points));
  if (s.has_kl_small() && worst.max_quadrature_error_a_small > kQuadratureWarning)
    warnings.push_back(fmt::format(
        "KL (a) at t0 = {}: quadrature error estimate up to {}; raise kl.points (now {} nodes at that t0)",
        s.kl_small.t0, format_significant(worst.max_quadrature_error_a_small, 2), s.kl_small.grid.points));
  return {{"max_target_mass_outside_grid", worst.max_target_mass_outside},
          {"max_quadrature_error_a", worst.max_quadrature_error_a},
          {"max_quadrature_error_b", worst.max_quadrature_error_b},
          {"max_solver_error_b", worst.max_solver_error_b},
          {"max_quadrature_error_a_small", worst.max_quadrature_error_a_small},
          {"kl_small_grid_points", s.has_kl_small() ? Json(s.kl_small.grid.points) : Json(nullptr)},
          {"ode_steps", worst.ode_steps},
          {"ode_rejected_steps", worst.ode_rejected_steps}};
}

}  // namespace

std::string StudyDefinitions::emp(double t0) const {
  return fmt::format(
      "KL(p_emp,t0 || q_t0) at t0 = {}: from the empirical oracle's density (1/n) sum_i N(a(t0) x_i, s(t0)^2) "
      "(what a model that memorized the training set learns) to the score-integrated density",
      t0);
}

StudyDefinitions study_definitions(const TrainingStudySettings& s) {
  const auto against = [](KlReference r) { return r == KlReference::Clean ? "the clean" : "the smoothed"; };
  StudyDefinitions d;
  d.kl_a = fmt::format("score-integrated density at t0 = {} ({}), against {} target", s.kl.t0, enum_name(s.kl.method),
                       against(s.kl.reference));
  d.kl_b = fmt::format("PF-ODE density at eps = {} (RK45, rtol {}, {} prior), against {} target", s.kl_ode.ode.eps,
                       s.kl_ode.ode.rtol, enum_name(s.kl_ode.prior), against(s.kl_ode.reference));
  d.kl_small = fmt::format("score-integrated density at t0_small = {} (fine, {} nodes on [{}, {}]), against {} target",
                           s.kl_small.t0, s.kl_small.grid.points, s.kl_small.grid.lo, s.kl_small.grid.hi,
                           against(s.kl.reference));
  d.no_kl = fmt::format(
      "not computed: the training data come from data.file = '{}', which has no exact density to measure KL "
      "against; the training loss and (with memorization.every > 0) the memorization of generated samples are "
      "reported instead",
      s.data_file);
  return d;
}

Json early_stopping_summary(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                            std::vector<std::string>& warnings) {
  const bool exact = s.has_target(), with_small = s.has_kl_small(), with_b = exact && s.kl_ode_every > 0;
  const StudyDefinitions def = study_definitions(s);
  const Index n = exact ? s.n : s.data->rows();
  Json summary{{"experiment", "early-stopping"},
               {"seeds", static_cast<Index>(seeds.size())},
               {"epochs", s.train.epochs},
               {"n", n}};
  if (!s.data_file.empty()) summary["data_file"] = s.data_file;
  if (exact) {
    summary["kl_a"] = definition_json(seeds, &StudyRow::kl_a, def.kl_a);
    if (with_small) summary["kl_a_small"] = definition_json(seeds, &StudyRow::kl_a_small, def.kl_small);
    summary["kl_emp_a"] = definition_json(seeds, &StudyRow::kl_emp_a, def.emp(s.kl.t0));
    if (with_small) summary["kl_emp_a_small"] = definition_json(seeds, &StudyRow::kl_emp_a_small, def.emp(s.kl_small.t0));
    summary["weight_right"] = weight_json(seeds, s);
    summary["floors"] = floors_json(seeds, s);
  } else {
    summary["kl"] = def.no_kl;
  }
  if (with_b) {
    summary["kl_b"] = definition_json(seeds, &StudyRow::kl_b, def.kl_b);
    // Each value's own estimate is kl_b_error in metrics.csv; here the largest.
    double largest = 0.0;
    for (const auto& sr : seeds)
      for (const auto& row : sr.rows)
        if (std::isfinite(row.kl_b_error)) largest = std::max(largest, row.kl_b_error);
    summary["kl_b"]["largest_error_estimate"] = largest;
  }
  if (s.memorization_every > 0) summary["memorization"] = memorization_json(seeds, s, n);
  if (exact) summary["memorization_reading"] = memorization_reading(seeds, s).json;
  summary["diagnostics"] = diagnostics_json(seeds, s, warnings);
  Json failures = Json::array();
  for (const auto& sr : seeds) {
    if (sr.failure) failures.push_back({{"seed", sr.seed_index}, {"epoch", sr.failed_epoch}, {"message", *sr.failure}});
    for (const auto& f : sr.floors.failures) failures.push_back({{"seed", sr.seed_index}, {"floor", f}});
  }
  summary["failures"] = failures;
  return summary;
}

}  // namespace diffgen
