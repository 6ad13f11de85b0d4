// `diffgen run sampler-kl`: Reeves & Pfister 2025 (THEORY.md §9) — how many
// steps a discrete-time sampler needs. For a two-mode mixture in d = 1 and
// d = 8, the exact path KL Δ_n between the comparison process and the
// sampler, its upper bounds and (in d = 1) the exact KL between the final
// marginals, against the number of steps, for the mean-only and the
// covariance-matched step, uniform and geometric grids, and estimators of
// E[X | Y_t] with a known error (exact, exact plus a fixed perturbation, a
// trained score network).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/experiment.hpp"
#include "sampling/discrete_time.hpp"

namespace diffgen {

struct SamplerKlSettings {
  std::uint64_t seed = 0;
  double target_mu = 3.0, target_var = 1.0;  // ½N(-μu, var I) + ½N(μu, var I), u = (1, ..., 1)/√d
  std::vector<Index> dimensions{1, 8};
  std::vector<Index> steps{8, 16, 32, 64, 128, 256, 512, 1024};
  std::vector<StepRule> rules{StepRule::MeanOnly, StepRule::CovarianceMatched};
  std::vector<std::string> grids{"uniform", "geometric"};
  double t_max = 100.0;  // t_n: the output Ŷ_n / t_n estimates X + N(0, I / t_n)
  double t_min = 1e-3;   // geometric grids: t_min ρ^k with the first point moved to 0
  Vector user_grid;      // empty: none
  std::vector<std::string> estimators{"exact", "perturbed", "trained"};
  double perturbation = 0.01;  // ε of f = E[X | y] + ε u
  // The trained estimator (d = 1): the foundation's reference network on the VE SDE.
  Index trained_n = 1000, trained_epochs = 200, trained_batch = 32, trained_hidden = 16;
  std::string trained_optimizer = "sgd";
  std::vector<std::string> trained_grids{"geometric"};  // grids the trained estimator runs on
  double trained_lr = 0.5, trained_sigma = 25.0, trained_eps = 1e-5;
  Index mc_samples = 1000;        // d > 1
  Index quadrature_points = 401;  // d = 1
  double density_spacing = 0.8;   // d = 1 exact output density
  Index fit_min_steps = 64;       // slopes are fitted over steps >= this
  double threshold = 0.01;        // "how many steps for KL <= threshold"

  static SamplerKlSettings from_config(const Config& config);
};

class SamplerKlExperiment final : public Experiment {
 public:
  std::string name() const override { return "sampler-kl"; }
  std::string purpose() const override {
    return "Reeves & Pfister 2025: exact KL of discrete-time samplers against the number of steps (mean-only vs "
           "covariance-matched)";
  }
  Schema schema() const override;
  void validate(const Config& config) const override;
  void run(const Config& config, const RunOptions& options) const override;
};

}  // namespace diffgen
