// `diffgen run mode-shift`: Li2023 Theorem 2 and Figs. 4–5 — the same
// training study on ½N(-d/2, 1) + ½N(d/2, 1) for mode distances d = 2 … 12.
// Far modes generalize worse: the best KL over training grows with d, and the
// learned weight of one mode drifts from the true ½.
#pragma once

#include "experiments/experiment.hpp"

namespace diffgen {

class ModeShiftExperiment final : public Experiment {
 public:
  std::string name() const override { return "mode-shift"; }
  std::string purpose() const override {
    return "Li et al. 2023 Thm. 2, Figs. 4-5: distant modes hurt generalization (best KL and mode weights vs distance)";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
};

}  // namespace diffgen
