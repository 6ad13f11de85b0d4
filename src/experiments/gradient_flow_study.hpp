// `diffgen run gradient-flow`: the random-feature model of Li2023's theorems
// (eq. 12, THEORY.md §4) trained by its exact gradient flow, once on the
// empirical loss (the n training points) and once on the population loss
// (the target itself), from the same A(0) and the same features. KL (a) of
// both along training time τ on a log scale, their gap — the generalization
// gap of Li2023 — and where early stopping should stop, free of optimizer
// noise and of step-size error.
#pragma once

#include "experiments/experiment.hpp"

namespace diffgen {

class GradientFlowExperiment final : public Experiment {
 public:
  std::string name() const override { return "gradient-flow"; }
  std::string purpose() const override {
    return "Li et al. 2023 Thm. 1 dynamics: random features by their exact gradient flow, empirical vs population "
           "loss, KL along training time";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
};

}  // namespace diffgen
