// Tested by study_grid_test.cpp.
#include "experiments/study_readings.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

CurveMinimum curve_minimum(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  CurveMinimum best{kNaN, -1};
  for (const auto& r : rows) {
    const double v = r.*metric;
    if (std::isfinite(v) && (best.epoch < 0 || v < best.value)) best = {v, r.epoch};
  }
  return best;
}

double curve_last(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    if (std::isfinite((*it).*metric)) return (*it).*metric;
  return kNaN;
}

Index first_epoch_at_or_below(const std::vector<StudyRow>& rows, double StudyRow::*metric, double threshold) {
  for (const auto& r : rows)
    if (std::isfinite(r.*metric) && r.*metric <= threshold) return r.epoch;
  return -1;
}

std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds,
                                   const std::function<double(const StudyRow&)>& value) {
  std::size_t longest = 0;
  for (const auto& s : seeds) longest = std::max(longest, s.rows.size());
  std::vector<CurvePoint> curve;
  for (std::size_t i = 0; i < longest; ++i) {
    std::vector<double> values;
    Index epoch = -1;
    for (const auto& s : seeds)
      if (i < s.rows.size()) {
        values.push_back(value(s.rows[i]));
        epoch = s.rows[i].epoch;
      }
    const Spread sp = spread(values);
    if (sp.count > 0) curve.push_back({epoch, sp});
  }
  return curve;
}

std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  return mean_curve(seeds, [metric](const StudyRow& r) { return r.*metric; });
}

CurveBand curve_band(const std::vector<SeedResult>& seeds, const std::function<double(const StudyRow&)>& value) {
  CurveBand band;
  for (const auto& [epoch, sp] : mean_curve(seeds, value)) {
    band.epoch.push_back(static_cast<double>(epoch));
    band.mean.push_back(sp.mean);
    band.lo.push_back(sp.mean - sp.ci95);
    band.hi.push_back(sp.mean + sp.ci95);
  }
  return band;
}

CurveBand curve_band(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  return curve_band(seeds, [metric](const StudyRow& r) { return r.*metric; });
}

Spread floor_spread(const std::vector<SeedResult>& seeds, double OracleFloors::*field) {
  return spread(per_seed(seeds, [field](const SeedResult& s) { return s.floors.*field; }));
}

Spread baseline_spread(const std::vector<SeedResult>& seeds, double MemorizationBaseline::*field, bool memorizer) {
  return spread(per_seed(seeds, [field, memorizer](const SeedResult& s) {
    return (memorizer ? s.memorization_memorizer : s.memorization_baseline).*field;
  }));
}

Spread final_spread(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  return spread(per_seed(seeds, [metric](const SeedResult& s) { return curve_last(s.rows, metric); }));
}

std::vector<double> final_minus(const std::vector<SeedResult>& seeds, double StudyRow::*metric,
                                double StudyRow::*reference) {
  return per_seed(seeds, [&](const SeedResult& s) {
    double d = kNaN;
    for (const auto& r : s.rows)
      if (std::isfinite(r.*metric) && std::isfinite(r.*reference)) d = r.*metric - r.*reference;
    return d;
  });
}

}  // namespace diffgen
