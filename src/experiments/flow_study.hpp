// The random-feature model trained by its exact gradient flow (THEORY.md §4),
// the machinery shared by the `gradient-flow` and `rates` experiments: their
// settings, the losses a flow trains on (exact expectations,
// training/expected_loss.hpp, or a draw set), the τ grid, and KL (a) along
// the flow (training/gradient_flow.hpp gives A(τ) in closed form).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/types.hpp"
#include "metrics/kl.hpp"
#include "models/random_features.hpp"
#include "numerics/statistics.hpp"
#include "sde/sde.hpp"
#include "targets/gaussian_mixture.hpp"
#include "training/expected_loss.hpp"
#include "training/gradient_flow.hpp"

namespace diffgen {

// τ = 10^(k / per_decade) from lo to hi inclusive (lo, hi > 0, per_decade ≥ 1).
std::vector<double> log_tau_grid(double lo, double hi, Index per_decade);

// One flow evaluated along training time.
struct FlowPoint {
  double tau = 0.0;         // +inf for the limit A*
  double kl_a = 0.0;        // KL (a) of the model with A(τ)
  double train_loss = 0.0;  // the flow's own loss at A(τ)
  double test_loss = 0.0;   // the reference (population) loss at A(τ); NaN without one
};

struct FlowCurve {
  std::vector<FlowPoint> grid;  // on the τ grid
  // The minimum of KL (a) over training: over the grid, refined inside the
  // grid minimum's bracket, and the limit; tau = +inf when the limit is lowest.
  FlowPoint best;
  // The minimum of the reference loss over training (early stopping by the
  // test loss), found the same way; NaN numbers without a reference.
  FlowPoint best_test;
  FlowPoint limit;  // τ = ∞: the minimizer A* (tau = +inf)
  Index kl_evaluations = 0;
};

// The early-stopping time read from a curve: best_tau where stopping there
// lowers the measure (KL (a), or the score error — never the raw loss, whose
// infimum would swamp the difference) below its value at the limit by more
// than `relative` of that value, else +inf: training to the end is as good.
// A flat tail's minimum at τ = 1e13 is no stopping time.
double stopping_time(double best_tau, double best_value, double limit_value, double relative = 1e-3);

struct FlowCurveOptions {
  KlOptions kl;
  std::vector<double> tau;  // ascending, > 0
  // Golden-section steps on log τ inside the bracket of the grid minimum (0: the grid minimum).
  Index refine_steps = 12;
};

// Evaluates the flow from A0 on the τ grid: KL (a) of `model` (its width must
// match the loss; its coefficients are overwritten), the flow's own loss and,
// when `reference` is given, that loss too. Calls progress(1) after each KL
// evaluation on the grid when given. A non-finite KL throws NumericalError
// naming τ.
FlowCurve evaluate_flow(const ExactGradientFlow& flow, const QuadraticDsmLoss& loss, const QuadraticDsmLoss* reference,
                        RandomFeatureModel& model, const Target& target, const Sde& sde,
                        const FlowCurveOptions& options, const std::function<void(Index)>& progress = {});

// ---------------------------------------------------------------------------
// Settings and building blocks shared by the `gradient-flow` and `rates`
// experiments.

struct FlowStudySettings {
  std::uint64_t seed = 0;  // base seed; seed k draws from streams of (seed, k)
  double target_mu = 3.0;  // ½N(−mu, var) + ½N(mu, var)
  double target_var = 1.0;
  SdeOptions sde;
  double eps = 1e-5;
  RandomFeatureOptions features;      // embedding and init; the width is set per use
  std::string loss_method = "exact";  // the key `expectation`: exact | draws
  Index t_nodes = 64;                 // exact: Gauss–Legendre nodes over t
  Index draws_per_point = 10;         // draws: (t, z) draws per training point (empirical loss)
  Index draws_population = 100000;    // draws: fresh target samples, one (t, z) each (population loss)
  std::vector<double> tau;            // the τ grid
  Index refine_steps = 12;
  KlOptions kl;

  // The settings of the keys declared by add_flow_study_keys. Throws
  // ConfigError naming the keys of contradictory settings.
  static FlowStudySettings from_config(const Config& config);
  ExpectedLossOptions expected() const { return {eps, t_nodes}; }
  GaussianMixture target() const { return GaussianMixture::symmetric_two_mode(target_mu, target_var); }
};

// Declares the keys both experiments share (seed, target, SDE, embedding, the
// loss's method, the τ grid, KL (a)), with the key names of the training study;
// `tau_per_decade` is the default density of the τ grid.
void add_flow_study_keys(Schema& schema, Index tau_per_decade = 10);

// Seed k's random-feature model of width m. Its features come from the stream
// (seed, kStreamInit, k), so a narrower model is made of the wider one's first
// features (leading_features).
RandomFeatureModel flow_model(const FlowStudySettings& settings, Index k, Index m);

// Seed k's n training points from the stream (seed, kStreamData, k): the first
// n of a larger draw, so smaller training sets are nested in larger ones.
Vector flow_data(const FlowStudySettings& settings, Index k, Index n);

// The loss a flow trains on. Empirical: the points `data` (exact: t and z
// integrated; draws: draws_per_point (t, z) per point from (seed,
// kStreamTrain, k), point by point, so nested sets share their draws).
// Population: the target (exact; or draws_population fresh samples from
// (seed, kStreamPopulation, k)).
QuadraticDsmLoss empirical_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                const Vector& data, Index k);
QuadraticDsmLoss population_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                 Index k);

// Report helpers of the two experiments.
// {count, mean, sd, ci95, min, max}, or {count: 0, mean: null}.
nlohmann::json flow_spread_json(const Spread& s);
// "0.0123 ± 0.0011" (mean ± 95% half-width over seeds), "0.0123" for one seed, "-" for none.
std::string flow_pm(const Spread& s, int digits = 3);
// log10 of each value, NaN where not finite or not positive (spreads of times on a log scale).
std::vector<double> log10_of(const std::vector<double>& values);

}  // namespace diffgen
