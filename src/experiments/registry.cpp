#include "experiments/early_stopping.hpp"
#include "experiments/experiment.hpp"

namespace diffgen {

const std::vector<std::unique_ptr<Experiment>>& experiments() {
  static const std::vector<std::unique_ptr<Experiment>> all = [] {
    std::vector<std::unique_ptr<Experiment>> v;
    v.push_back(std::make_unique<EarlyStoppingExperiment>());
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
