// summary.json of a training study: per measure its minimum along training,
// that minimum's epoch and the final value over seeds, the oracle floors, the
// memorization measures and what they point to, and the diagnostics.
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

std::vector<double> facts_field(const std::vector<CurveFacts>& f, double CurveFacts::*field) {
  std::vector<double> v;
  for (const auto& x : f) v.push_back(x.*field);
  return v;
}

Json definition_json(const std::vector<SeedResult>& seeds, double StudyRow::*metric, const std::string& what) {
  std::vector<CurveFacts> facts;
  for (const auto& s : seeds) facts.push_back(curve_facts(s.rows, metric));
  std::vector<double> epochs;
  for (const auto& f : facts) epochs.push_back(f.epoch_of_min >= 0 ? static_cast<double>(f.epoch_of_min) : kNaN);
  Json j{{"definition", what},
         {"min", spread_json(spread(facts_field(facts, &CurveFacts::min)))},
         {"epoch_of_min", spread_json(spread(epochs))},
         {"final", spread_json(spread(facts_field(facts, &CurveFacts::final)))}};
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
  for (std::size_t k = 0; k < facts.size(); ++k) {
    Json e{{"seed", seeds[k].seed_index}};
    e["min"] = std::isfinite(facts[k].min) ? Json(facts[k].min) : Json(nullptr);
    e["epoch_of_min"] = facts[k].epoch_of_min >= 0 ? Json(facts[k].epoch_of_min) : Json(nullptr);
    e["final"] = std::isfinite(facts[k].final) ? Json(facts[k].final) : Json(nullptr);
    per_seed.push_back(e);
  }
  j["per_seed"] = per_seed;
  return j;
}

// Per seed, the last finite value of `metric` minus the seed's baseline.
std::vector<double> final_minus(const std::vector<SeedResult>& seeds, double StudyRow::*metric,
                                double StudyRow::*reference) {
  std::vector<double> v;
  for (const auto& s : seeds) {
    double d = kNaN;
    for (const auto& r : s.rows)
      if (std::isfinite(r.*metric) && std::isfinite(r.*reference)) d = r.*metric - r.*reference;
    v.push_back(d);
  }
  return v;
}

// The standard error of the seed mean of final `metric` minus the baseline's
// `field`, both binomial fractions of memorization.samples draws.
double fraction_difference_se(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                              double StudyRow::*metric, double MemorizationBaseline::*field, int count) {
  double var = 0.0;
  for (const auto& sr : seeds) {
    const double f = curve_facts(sr.rows, metric).final;
    const double b = sr.memorization_baseline.*field;
    if (std::isfinite(f) && std::isfinite(b))
      var += (f * (1 - f) + b * (1 - b)) / static_cast<double>(s.memorization_samples);
  }
  return std::sqrt(var) / count;
}

// (1) KL to the target vs KL to the empirical oracle's density, at t0_small when measured.
void kl_reading(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, MemorizationReading& r) {
  const bool small = s.has_kl_small();
  const double t0 = small ? s.kl_small.t0 : s.kl.t0;
  const Spread kt = final_spread(seeds, small ? &StudyRow::kl_a_small : &StudyRow::kl_a);
  const Spread ke = final_spread(seeds, small ? &StudyRow::kl_emp_a_small : &StudyRow::kl_emp_a);
  const double pop = floor_spread(seeds, small ? &OracleFloors::population_a_small : &OracleFloors::population_a).mean;
  const double pop_emp =
      floor_spread(seeds, small ? &OracleFloors::population_emp_a_small : &OracleFloors::population_emp_a).mean;
  const double emp = floor_spread(seeds, small ? &OracleFloors::empirical_a_small : &OracleFloors::empirical_a).mean;
  if (kt.count == 0 || ke.count == 0) return;
  // D = KL(p_emp ‖ q) - KL(p_0 ‖ q) = const - ∫ (p_emp - p_0) log q falls as
  // log q follows the bumps the training points put in p_emp: on the scale
  // from the perfect learner's D (index 0) to the memorizer's (index 1),
  // below ½ is the generalizing side. It is read only when q is nearer the
  // target than the memorizer is: a density far from both (an untrained
  // network, KL ~ 1) lands anywhere on that scale through its tails.
  const double d = ke.mean - kt.mean, d_learner = pop_emp - pop, d_memorizer = -emp;
  const double index = (d_learner - d) / (d_learner - d_memorizer);
  const bool readable = kt.mean <= emp;
  const bool generalizing = index < 0.5;
  r.json["kl"] = {{"t0", t0},
                  {"to_target", kt.mean},
                  {"to_empirical_density", ke.mean},
                  {"perfect_learner", {{"to_target", pop}, {"to_empirical_density", pop_emp}}},
                  {"memorizer", {{"to_target", emp}, {"to_empirical_density", 0.0}}},
                  {"difference", d},
                  {"memorization_index", index},
                  {"points_to", !readable ? "inconclusive" : generalizing ? "generalization" : "memorization"}};
  std::string line = fmt::format(
      "KL at t0 = {}: to the target {}, to the empirical density {}; their difference D = {} (a perfect learner "
      "{}, the memorizer {}) puts the learned density at {} on the scale from the perfect learner (0) to the "
      "memorizer (1)",
      t0, format_significant(kt.mean, 3), format_significant(ke.mean, 3), format_significant(d, 2),
      format_significant(d_learner, 2), format_significant(d_memorizer, 2), format_significant(index, 2));
  line += readable ? fmt::format(": the {} side.", generalizing ? "generalizing" : "memorizing")
                   : fmt::format(
                         ". Inconclusive here: its KL to the target is above even the memorizer's ({}), so its "
                         "large-scale errors (mode weights, tails) move D as much as memorization would.",
                         format_significant(emp, 2));
  r.lines.push_back(line);
}

// (2) the nearest-neighbour-ratio fraction against fresh target samples; binomial standard errors.
void nn_ratio_reading(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, MemorizationReading& r) {
  const Spread ex = spread(final_minus(seeds, &StudyRow::memorized_fraction, &StudyRow::memorized_baseline));
  const Spread base = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction);
  const Spread frac = final_spread(seeds, &StudyRow::memorized_fraction);
  if (ex.count == 0) return;
  const double se =
      fraction_difference_se(seeds, s, &StudyRow::memorized_fraction, &MemorizationBaseline::memorized_fraction,
                             ex.count);
  const std::string where = std::abs(ex.mean) <= 2 * se
                                ? std::string("at the baseline (no more near-copies than fresh samples)")
                                : fmt::format("{} SE {} the baseline ({} near-copies than fresh samples)",
                                              format_significant(std::abs(ex.mean) / se, 2),
                                              ex.mean > 0 ? "above" : "below", ex.mean > 0 ? "more" : "fewer");
  r.json["nn_ratio"] = {{"fraction", frac.mean},
                        {"baseline", base.mean},
                        {"excess", ex.mean},
                        {"excess_se", se},
                        {"points_to", std::abs(ex.mean) <= 2 * se ? "generalization"
                                      : ex.mean > 0               ? "memorization"
                                                                  : "neither"}};
  r.lines.push_back(fmt::format(
      "Nearest-neighbour ratio < {}: {} of generated samples, {} of fresh target samples: excess {} ± {} (1 SE), "
      "{}.",
      format_significant(s.memorization.ratio_threshold, 3), format_significant(frac.mean, 3),
      format_significant(base.mean, 3), format_significant(ex.mean, 2), format_significant(se, 2), where));
}

// (3) distances: mean distances to the training set and to a fresh set of
// its size, and the fraction of samples nearer to the training set (½ for
// samples independent of it, whatever the tails do to the means).
void distance_reading(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, MemorizationReading& r) {
  const Spread closer = final_spread(seeds, &StudyRow::closer_to_train);
  const Spread bc = baseline_spread(seeds, &MemorizationBaseline::closer_to_train);
  if (closer.count == 0 || bc.count == 0) return;
  // Against the fresh samples' value on the same two sets, not against ½:
  // the realizations of the training and fresh sets move both alike.
  const double se = fraction_difference_se(seeds, s, &StudyRow::closer_to_train,
                                           &MemorizationBaseline::closer_to_train, closer.count);
  const double dev = closer.mean - bc.mean;
  const Spread dt = final_spread(seeds, &StudyRow::nn_distance), df = final_spread(seeds, &StudyRow::nn_distance_fresh);
  const Spread bt = baseline_spread(seeds, &MemorizationBaseline::nn_distance);
  const Spread bf = baseline_spread(seeds, &MemorizationBaseline::nn_distance_fresh);
  const Spread mc = baseline_spread(seeds, &MemorizationBaseline::closer_to_train, true);
  const bool at_baseline = std::abs(dev) <= 2 * se;
  r.json["distance"] = {{"closer_to_train", closer.mean}, {"baseline_closer_to_train", bc.mean},
                        {"excess", dev},                  {"excess_se", se},
                        {"mean_to_train", dt.mean},       {"mean_to_fresh", df.mean},
                        {"baseline_mean_to_train", bt.mean}, {"baseline_mean_to_fresh", bf.mean},
                        {"points_to", at_baseline ? "generalization" : dev > 0 ? "memorization" : "neither"}};
  std::string memorizer;
  if (mc.count > 0) {
    r.json["distance"]["memorizer_closer_to_train"] = mc.mean;
    memorizer = fmt::format("; the memorizer's {}", format_significant(mc.mean, 3));
    if (mc.mean > bc.mean)
      memorizer += fmt::format(", so the generated samples are {}% of the way from fresh samples to it",
                               format_significant(100 * dev / (mc.mean - bc.mean), 2));
  }
  r.lines.push_back(fmt::format(
      "Nearer to the training set than to a fresh set of its size: {} of generated samples, {} of fresh target "
      "samples (½ in expectation): excess {} ± {} (1 SE), {}{}. Mean distances: {} to the training set and {} to "
      "the fresh set (fresh target samples: {} and {}).",
      format_significant(closer.mean, 3), format_significant(bc.mean, 3), format_significant(dev, 2),
      format_significant(se, 2),
      at_baseline ? std::string("at the baseline (no sign of copying)")
                  : fmt::format("{} SE {} the baseline ({})", format_significant(std::abs(dev) / se, 2),
                                dev > 0 ? "above" : "below",
                                dev > 0 ? "nearer to the training set: a sign of copying" : "nearer to the fresh set"),
      memorizer, format_significant(dt.mean, 3), format_significant(df.mean, 3), format_significant(bt.mean, 3),
      format_significant(bf.mean, 3)));
}

// With memorization.memorizer: the memorizer's end of the fraction's scale.
void memorizer_reading(const std::vector<SeedResult>& seeds, MemorizationReading& r) {
  const Spread mem = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction, true);
  const Spread base = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction);
  if (mem.count == 0 || !r.json.contains("nn_ratio")) return;
  r.json["nn_ratio"]["memorizer"] = mem.mean;
  r.lines.push_back(fmt::format(
      "The empirical oracle's own samples (a perfect memorizer, same sampler) score a fraction {} against the "
      "baseline {}: the range of this measure at this n and sampler{}.",
      format_significant(mem.mean, 3), format_significant(base.mean, 3),
      mem.mean > base.mean && r.json["nn_ratio"].contains("excess")
          ? fmt::format(
                "; the generated samples' excess is {}% of the memorizer's",
                format_significant(100 * r.json["nn_ratio"]["excess"].get<double>() / (mem.mean - base.mean), 2))
          : std::string()));
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
    final_w.push_back(curve_facts(sr.rows, &StudyRow::weight_right).final);
    error_w.push_back(count > 0 ? sum / static_cast<double>(count) : kNaN);
  }
  return {{"definition",
           fmt::format("mass of the score-integrated density at t0 = {} on x > 0 (the target's: 0.5)", s.kl.t0)},
          {"final", spread_json(spread(final_w))},
          {"mean_abs_deviation_from_half", spread_json(spread(error_w))}};
}

Json floors_json(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  Json floors = {
      {"population_a", spread_json(floor_spread(seeds, &OracleFloors::population_a))},
      {"empirical_a", spread_json(floor_spread(seeds, &OracleFloors::empirical_a))},
      {"population_emp_a", spread_json(floor_spread(seeds, &OracleFloors::population_emp_a))},
  };
  if (s.has_kl_small()) {
    floors["population_a_small"] = spread_json(floor_spread(seeds, &OracleFloors::population_a_small));
    floors["empirical_a_small"] = spread_json(floor_spread(seeds, &OracleFloors::empirical_a_small));
    floors["population_emp_a_small"] = spread_json(floor_spread(seeds, &OracleFloors::population_emp_a_small));
  }
  if (s.kl_ode_every > 0) {
    floors["population_b"] = spread_json(floor_spread(seeds, &OracleFloors::population_b));
    floors["empirical_b"] = spread_json(floor_spread(seeds, &OracleFloors::empirical_b));
  }
  return floors;
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
    fraction.push_back(curve_facts(sr.rows, &StudyRow::memorized_fraction).final);
    distance.push_back(curve_facts(sr.rows, &StudyRow::nn_distance).final);
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
          {"max_quadrature_error_a_small", worst.max_quadrature_error_a_small},
          {"kl_small_grid_points", s.has_kl_small() ? Json(s.kl_small.grid.points) : Json(nullptr)},
          {"ode_steps", worst.ode_steps},
          {"ode_rejected_steps", worst.ode_rejected_steps}};
}

}  // namespace

CurveFacts curve_facts(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  CurveFacts f;
  for (const auto& r : rows) {
    const double v = r.*metric;
    if (!std::isfinite(v)) continue;
    if (!std::isfinite(f.min) || v < f.min) {
      f.min = v;
      f.epoch_of_min = r.epoch;
    }
    f.final = v;
  }
  return f;
}

std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds,
                                   const std::function<double(const StudyRow&)>& value) {
  Index longest = 0;
  for (const auto& s : seeds) longest = std::max<Index>(longest, static_cast<Index>(s.rows.size()));
  std::vector<CurvePoint> curve;
  for (Index i = 0; i < longest; ++i) {
    std::vector<double> values;
    Index epoch = -1;
    for (const auto& s : seeds)
      if (i < static_cast<Index>(s.rows.size())) {
        values.push_back(value(s.rows[static_cast<std::size_t>(i)]));
        epoch = s.rows[static_cast<std::size_t>(i)].epoch;
      }
    const Spread sp = spread(values);
    if (sp.count > 0) curve.push_back({epoch, sp});
  }
  return curve;
}

std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  return mean_curve(seeds, [metric](const StudyRow& r) { return r.*metric; });
}

Spread floor_spread(const std::vector<SeedResult>& seeds, double OracleFloors::*field) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back(s.floors.*field);
  return spread(v);
}

Spread baseline_spread(const std::vector<SeedResult>& seeds, double MemorizationBaseline::*field, bool memorizer) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back((memorizer ? s.memorization_memorizer : s.memorization_baseline).*field);
  return spread(v);
}

Spread final_spread(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back(curve_facts(s.rows, metric).final);
  return spread(v);
}

MemorizationReading memorization_reading(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  MemorizationReading r;
  if (!s.has_target()) return r;
  kl_reading(seeds, s, r);
  if (s.memorization_every <= 0) return r;
  nn_ratio_reading(seeds, s, r);
  distance_reading(seeds, s, r);
  memorizer_reading(seeds, r);
  return r;
}

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
  if (!exact) summary["data_file"] = s.data_file;
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
  if (with_b) summary["kl_b"] = definition_json(seeds, &StudyRow::kl_b, def.kl_b);
  if (s.memorization_every > 0) summary["memorization"] = memorization_json(seeds, s, n);
  if (exact) summary["memorization_reading"] = memorization_reading(seeds, s).json;
  summary["diagnostics"] = diagnostics_json(seeds, s, warnings);
  Json failures = Json::array();
  for (const auto& sr : seeds)
    if (sr.failure) failures.push_back({{"seed", sr.seed_index}, {"epoch", sr.failed_epoch}, {"message", *sr.failure}});
  summary["failures"] = failures;
  return summary;
}

}  // namespace diffgen
