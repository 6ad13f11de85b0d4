// `diffgen run rates`: Li2023 Theorem 1's rates measured — the best KL over
// training of the random-feature model trained by its exact gradient flow,
// against the training-set size n (empirical loss, fixed width) and against
// the width m (population loss), with the stopping time against n. The plan
// is rates.cpp; the outputs rates_report.cpp and rates_plots.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "experiments/experiment.hpp"
#include "experiments/flow_study.hpp"
#include "numerics/power_fit.hpp"
#include "report/run_writer.hpp"

namespace diffgen {

// Li2023 Theorem 1's exponents; the stopping-time exponents of THEORY.md §6.
inline constexpr double kTheoryN = -0.4;
inline constexpr double kTheoryM = -0.8;
// Li2023's bound balances a 1/τ optimization term (gradient flow on a convex
// loss) against its generalization term; reaching KL ~ n^{-2/5} then needs
// τ* ∝ n^{2/5}. The paper's formula (16) is lost from our copy of its text, so
// this exponent is our reconstruction; Bonnaire et al. (2025): τ_mem ∝ n.
inline constexpr double kStopLi = 0.4;
inline constexpr double kStopBonnaire = 1.0;

// One seed's flows.
struct RatesSeed {
  std::vector<FlowCurve> n_curves;  // empirical flows, one per n, width m_n
  std::vector<FlowCurve> m_curves;  // population flows, one per m
  FlowCurve reference;              // the population flow at width m_n
  std::vector<char> n_done, m_done;
  bool reference_done = false;
  std::optional<std::string> failure;
};

struct RatesResults {
  std::vector<RatesSeed> seeds;
  double infimum = 0.0;          // of the population DSM loss
  double smoothing_floor = 0.0;  // KL (a) of the true score
};

// One fitted quantity: its per-seed values against x and the fit.
struct RatesQuantity {
  std::string key, label, against;  // against: "n" or "m"
  double theory = 0.0;
  std::string theory_text;
  std::vector<std::vector<double>> per_seed;
  bool geometric = false;  // a time: averaged on a log scale, and fitted per seed on the n where it exists
  SeedSlopes fit;
};

// The quantities of the report, fitted.
std::vector<RatesQuantity> rates_quantities(const FlowStudySettings& s, const RatesResults& r);
const RatesQuantity& find_quantity(const std::vector<RatesQuantity>& quantities, const std::string& key);
// "slope ± ci", "slope", or "-".
std::string rates_slope_text(const SeedSlopes& f);

void write_rates_report(const FlowStudySettings& s, const RatesResults& r, RunWriter& out);
void add_rates_plots(const FlowStudySettings& s, const RatesResults& r, const std::vector<RatesQuantity>& quantities,
                     RunWriter& out);

}  // namespace diffgen
