// `diffgen run capacity`: Li2023 Fig. 11 — the training study for hidden
// widths 4 … 2048: KL at epoch 1000 and the epochs needed to reach a KL
// threshold, against width. The authors' fixed output constant 1/16 makes
// wide networks diverge at SGD lr 0.5; the width-aware constant
// (1/16)·√(16/H) keeps them stable; both are run side by side.
#pragma once

#include "experiments/experiment.hpp"

namespace diffgen {

class CapacityExperiment final : public Experiment {
 public:
  std::string name() const override { return "capacity"; }
  std::string purpose() const override {
    return "Li et al. 2023 Fig. 11: KL at epoch 1000 and epochs to a KL threshold against hidden width";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
};

}  // namespace diffgen
