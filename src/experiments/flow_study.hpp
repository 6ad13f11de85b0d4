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
#include "core/options.hpp"
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

// A curve as JSON and back, every double exactly (±inf too, in the engine's
// binary form).
nlohmann::json flow_curve_to_json(const FlowCurve& curve);
FlowCurve flow_curve_from_json(const nlohmann::json& json);

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

// How the loss's expectations are taken: exact (over t by Gauss–Legendre,
// over z and x0 in closed form) or by a fixed draw set.
enum class Expectation { Exact, Draws };

template <>
struct EnumNames<Expectation> {
  static constexpr std::array table{std::pair{Expectation::Exact, std::string_view("exact")},
                                    std::pair{Expectation::Draws, std::string_view("draws")}};
};

struct FlowStudySettings {
  std::uint64_t seed = 0;  // base seed; seed k draws from streams of (seed, k)
  double target_mu = 3.0;  // ½N(−mu, var) + ½N(mu, var)
  double target_var = 1.0;
  SdeOptions sde;
  // Embedding and init; features.width is gradient-flow's m and rates' n-sweep
  // width (each model's width is set per use).
  RandomFeatureOptions features = default_features();
  Expectation expectation = Expectation::Exact;
  Index t_nodes = 64;               // exact: Gauss–Legendre nodes over t
  Index draws_per_point = 10;       // draws: (t, z) draws per training point (empirical loss)
  Index draws_population = 100000;  // draws: fresh target samples, one (t, z) each (population loss)
  double tau_min = 1e-2, tau_max = 1e14;
  Index tau_per_decade = 10;
  Index refine_steps = 12;
  std::vector<double> tau;  // the τ grid, from tau_min, tau_max and tau_per_decade
  KlOptions kl;
  Index n = 300;                     // gradient-flow: the training-set size
  std::vector<Index> n_values, m_values;  // rates: the sweeps

  ExpectedLossOptions expected() const { return {sde.eps, t_nodes}; }
  GaussianMixture target() const { return GaussianMixture::symmetric_two_mode(target_mu, target_var); }
  // 512 features; embedding scale 0.5, not the reference network's 30: with
  // 30 the features oscillate dozens of times over t in [0, 1] and even the
  // population flow's best KL (a) is 0.71 (0.0035 at 0.5; gradient-flow, 3 seeds).
  static RandomFeatureOptions default_features();
};

// Every key of the flow studies (seed, target, SDE, random features, the
// loss's expectation, the τ grid, KL (a), data.n, n_values, m_values); each
// experiment declares the ones it reads.
const OptionTable<FlowStudySettings>& flow_study_options();

// The settings of a config, checked (ConfigError naming the keys of
// contradictory settings) and with the τ grid built.
FlowStudySettings flow_study_settings(const Config& config, FlowStudySettings defaults);

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

// log10 of each value, NaN where not finite or not positive (spreads of times on a log scale).
std::vector<double> log10_of(const std::vector<double>& values);

}  // namespace diffgen
