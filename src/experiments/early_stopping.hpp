// `diffgen run early-stopping`: Li2023 §4.1.1, Fig. 3 — KL(target ‖ learned)
// along training on ½N(-3,1) + ½N(3,1): it falls, reaches a minimum, then
// rises as the model drifts toward the training set.
#pragma once

#include "experiments/experiment.hpp"

namespace diffgen {

class EarlyStoppingExperiment final : public Experiment {
 public:
  std::string name() const override { return "early-stopping"; }
  std::string purpose() const override {
    return "Li et al. 2023 Fig. 3: KL(target || learned) along training falls, bottoms out, then rises";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
  // One seed for `diffgen sweep` (early_stopping_sweep.cpp).
  bool sweepable() const override { return true; }
  SeedTable run_seed(const Config& config, Index seed_index) const override;
};

}  // namespace diffgen
