// Phase 2 of a training-study seed (experiments/training_study.cpp): every
// KL, memorization measure and oracle floor of the trained seed, as
// independent tasks on all cores (bit-identical for any thread count).
#pragma once

#include <functional>
#include <memory>

#include "experiments/training_study.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {

// Which evaluations are due after `epoch` epochs: KL (a) every kl.every,
// KL (b) every kl.ode.every, memorization every memorization.every, each
// also at the last epoch. The parameters are kept exactly there.
bool kl_a_due(const TrainingStudySettings& s, Index epoch);
bool kl_b_due(const TrainingStudySettings& s, Index epoch);
bool memorization_due(const TrainingStudySettings& s, Index epoch);
bool evaluation_due(const TrainingStudySettings& s, Index epoch);

// A seed after training: its data, model and the rows and kept parameters.
struct TrainedSeed {
  const TrainingStudySettings& settings;
  Index k;
  std::shared_ptr<const Sde> sde;
  std::shared_ptr<const GaussianMixture> target;  // null with a data file
  const Matrix& data;
  const TrainableScoreModel& model;  // its architecture; parameters come from `state.kept`
  const StudyCheckpoint& state;
};

// Fills result's rows, snapshots, floors, baselines and diagnostics (the
// rows stop at the first failed evaluation, recorded in result.failure).
// `tick(1)` after each evaluation. Returns false when a stop request skipped
// evaluations (the result is then incomplete).
bool evaluate_seed(const TrainedSeed& seed, SeedResult& result, const std::function<void(Index)>& tick);

}  // namespace diffgen
