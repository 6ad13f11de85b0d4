#include <stdexcept>

#include "experiments/capacity.hpp"
#include "experiments/early_stopping.hpp"
#include "experiments/experiment.hpp"
#include "experiments/gradient_flow_study.hpp"
#include "experiments/mode_shift.hpp"
#include "experiments/optimizers.hpp"
#include "experiments/rates.hpp"
#include "experiments/sampler_kl.hpp"

namespace diffgen {

SeedTable Experiment::run_seed(const Config& /*config*/, Index /*seed_index*/) const {
  throw std::logic_error("experiment '" + name() + "' does not implement run_seed (sweepable() is false)");
}

const std::vector<std::unique_ptr<Experiment>>& experiments() {
  static const std::vector<std::unique_ptr<Experiment>> all = [] {
    std::vector<std::unique_ptr<Experiment>> v;
    v.push_back(std::make_unique<EarlyStoppingExperiment>());
    v.push_back(std::make_unique<ModeShiftExperiment>());
    v.push_back(std::make_unique<OptimizersExperiment>());
    v.push_back(std::make_unique<CapacityExperiment>());
    v.push_back(std::make_unique<GradientFlowExperiment>());
    v.push_back(std::make_unique<RatesExperiment>());
    v.push_back(std::make_unique<SamplerKlExperiment>());
    return v;
  }();
  return all;
}

const Experiment* find_experiment(std::string_view name) {
  for (const auto& e : experiments())
    if (e->name() == name) return e.get();
  return nullptr;
}

}  // namespace diffgen
