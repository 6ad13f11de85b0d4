// One seed of a training study (experiments/training_study.hpp) as tidy
// numbers: the rows of the early-stopping experiment's metrics.csv and its
// headline numbers, for sweeps and for the experiments built from several
// studies (mode-shift, optimizers, capacity).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "experiments/experiment.hpp"
#include "experiments/training_study.hpp"

namespace diffgen {

// The StudyRow fields that are measurements, with their column names.
const std::vector<std::pair<std::string, double StudyRow::*>>& study_metrics();

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

// Keys {"epoch"}; metrics study_metrics(); scalars: best_kl_a, best_epoch_a,
// final_kl_a, best_kl_b, best_epoch_b, final_kl_b and the oracle floors.
SeedTable study_seed_table(const SeedResult& result);

}  // namespace diffgen
