// Reading training studies' results (experiments/training_study.hpp): one
// seed's curve along training (its minimum, its last value, when it first
// reaches a level) and a measure over seeds (its mean curve with a 95% band,
// the spread of a floor, of a baseline, of the last value). Every summary and
// plot of early-stopping, mode-shift, optimizers and capacity reads them here.
#pragma once

#include <functional>
#include <vector>

#include "experiments/training_study.hpp"
#include "numerics/statistics.hpp"

namespace diffgen {

// The lowest finite value of `metric` along training and its epoch; NaN and
// -1 when it was never measured. Ties go to the earliest epoch.
struct CurveMinimum {
  double value = 0.0;
  Index epoch = -1;
};
CurveMinimum curve_minimum(const std::vector<StudyRow>& rows, double StudyRow::*metric);
// The last finite value of `metric`; NaN when there is none.
double curve_last(const std::vector<StudyRow>& rows, double StudyRow::*metric);
// The first epoch where `metric` is at or below `threshold`; -1 when never.
Index first_epoch_at_or_below(const std::vector<StudyRow>& rows, double StudyRow::*metric, double threshold);

// Per seed, f(seed result).
template <class F>
std::vector<double> per_seed(const std::vector<SeedResult>& seeds, F f) {
  std::vector<double> out;
  for (const auto& s : seeds) out.push_back(f(s));
  return out;
}

// Per evaluated epoch, the spread of a measure (or of f(row)) over the seeds
// with a finite value there. Seeds share their rows' epochs (one row per
// epoch from 0); a seed that stopped early has fewer.
struct CurvePoint {
  Index epoch;
  Spread spread;
};
std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds,
                                   const std::function<double(const StudyRow&)>& value);
std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds, double StudyRow::*metric);

// The mean curve as plot lines: the mean and its 95% confidence band.
struct CurveBand {
  std::vector<double> epoch, mean, lo, hi;
};
CurveBand curve_band(const std::vector<SeedResult>& seeds, const std::function<double(const StudyRow&)>& value);
CurveBand curve_band(const std::vector<SeedResult>& seeds, double StudyRow::*metric);

// Over seeds: an oracle floor, a field of the fresh-sample baseline (or of
// the memorizer's samples), the last finite value of a measure.
Spread floor_spread(const std::vector<SeedResult>& seeds, double OracleFloors::*field);
Spread baseline_spread(const std::vector<SeedResult>& seeds, double MemorizationBaseline::*field,
                       bool memorizer = false);
Spread final_spread(const std::vector<SeedResult>& seeds, double StudyRow::*metric);
// Per seed, the last value of `metric` minus `reference` on a row where both are finite.
std::vector<double> final_minus(const std::vector<SeedResult>& seeds, double StudyRow::*metric,
                                double StudyRow::*reference);

}  // namespace diffgen
