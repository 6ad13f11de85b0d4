// early-stopping as a sweep point: one seed of the training study, without
// checkpoints (a sweep resumes point by point) or files.
#include "experiments/early_stopping.hpp"
#include "experiments/study_table.hpp"
#include "experiments/training_study.hpp"

namespace diffgen {

SeedTable EarlyStoppingExperiment::run_seed(const Config& config, Index seed_index) const {
  const TrainingStudySettings settings = TrainingStudySettings::from_config(config);
  return study_seed_table(run_training_study(settings, seed_index));
}

}  // namespace diffgen
