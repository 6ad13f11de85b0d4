// `diffgen run optimizers`: Li2023 Figs. 8–10 — the training study under
// three optimizer schedules: SGD lr 0.5 (Fig. 3's), Adam lr 1e-4 (the
// authors' code comments), and SGD switched to Adam 1e-4 after epoch 1000;
// KL curves side by side.
#pragma once

#include "experiments/experiment.hpp"

namespace diffgen {

class OptimizersExperiment final : public Experiment {
 public:
  std::string name() const override { return "optimizers"; }
  std::string purpose() const override {
    return "Li et al. 2023 Figs. 8-10: KL along training for SGD, Adam, and SGD switched to Adam";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
};

}  // namespace diffgen
