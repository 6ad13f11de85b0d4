// The memorization reading of a training study (THEORY.md §8): the three
// measures at the last epoch over seeds, each beside its references (the
// perfect learner, the memorizer, fresh target samples) and what it points
// to. Tested by early_stopping_test.cpp.
#include <fmt/format.h>

#include <cmath>

#include "experiments/early_stopping.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

// The standard error of the seed mean of final `metric` minus the baseline's
// `field`, both binomial fractions of memorization.samples draws.
double fraction_difference_se(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                              double StudyRow::*metric, double MemorizationBaseline::*field, int count) {
  double var = 0.0;
  for (const auto& sr : seeds) {
    const double f = curve_last(sr.rows, metric);
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

}  // namespace

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

}  // namespace diffgen
