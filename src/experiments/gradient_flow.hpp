// `diffgen run gradient-flow`: the random-feature model of Li2023's theorems
// trained by its exact gradient flow (THEORY.md §4) on the empirical loss of
// n points and on the population loss, measured along τ by KL (a) and by the
// score error, with the memorization floor. The plan is gradient_flow.cpp;
// the outputs gradient_flow_report.cpp.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "experiments/experiment.hpp"
#include "experiments/flow_study.hpp"
#include "report/run_writer.hpp"

namespace diffgen {

// What one seed contributes: both flows along τ, and its memorization floor.
struct FlowSeed {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  FlowCurve empirical, population;
  bool empirical_done = false, population_done = false;
  double empirical_oracle_kl = kNaN;            // KL (a) of the memorized training set (the empirical oracle)
  double lambda_max = kNaN, lambda_min = kNaN;  // G's spectrum (empirical loss), nonzero part
  Index rank = 0;
  std::optional<std::string> failure;
};

// Learned densities of seed 0 at a training time, under both flows.
struct FlowSnapshot {
  std::string label;
  double tau = 0.0;
  Vector x, log_p, log_q_emp, log_q_pop;
};

// What gradient-flow's report reads.
struct GradientFlowResults {
  std::vector<FlowSeed> seeds;
  std::vector<FlowSnapshot> snapshots;  // empty when seed 0 failed
  double smoothing_floor = FlowSeed::kNaN;
  double infimum = FlowSeed::kNaN;  // of the population DSM loss
};

void write_gradient_flow_report(const FlowStudySettings& s, const GradientFlowResults& r, RunWriter& out);

}  // namespace diffgen
