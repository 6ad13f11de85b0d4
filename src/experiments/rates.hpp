// `diffgen run rates`: Li2023 Theorem 1, KL = O(n^{-2/5} + m^{-4/5}) with
// early stopping, measured on the random-feature model trained by its exact
// gradient flow (THEORY.md §4, §6). The best KL over training against the
// training-set size n (m fixed) and against the width m (population loss),
// fitted log–log slopes with confidence intervals beside −2/5 and −4/5, and
// the optimal stopping time against n beside the two predictions of §6
// (a power of n from Li et al.; τ_mem ∝ n from Bonnaire et al. 2025).
#pragma once

#include "experiments/experiment.hpp"

namespace diffgen {

class RatesExperiment final : public Experiment {
 public:
  std::string name() const override { return "rates"; }
  std::string purpose() const override {
    return "Li et al. 2023 Thm. 1: best KL over training against n and m, fitted slopes beside -2/5 and -4/5, "
           "stopping time against n";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
};

}  // namespace diffgen
