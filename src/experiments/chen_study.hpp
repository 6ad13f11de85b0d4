// Chen, Zhu & Shkurti (ICLR 2025) on 2-D toys (THEORY.md §7): one point of
// the study is a target, a horizon T, a training-set size m and a seed. It
// trains the deep MLP on m points under the VP SDE with horizon T, computes
// every term of the bound, and measures the learned model's test error
// several ways: the authors' KDE-KL (with its perfect-generator floor), the
// energy distance, and for mixture targets the exact KL(p_0 ‖ p_θ) and test
// NLL by the PF-ODE likelihood, plus the prior mismatch KL(p_T ‖ N(0, I)).
// The experiments chen-t-sweep, chen-m-sweep and chen-regularized plan such
// points; chen-regularized also trains on the bound (training/bound_trainer.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bounds/information_bound.hpp"
#include "bounds/network_terms.hpp"
#include "core/config.hpp"
#include "core/options.hpp"
#include "engine/task.hpp"
#include "models/deep_mlp.hpp"
#include "report/run_writer.hpp"

namespace diffgen {

// file: the points of data.file, split per seed into training and test points.
enum class ChenTarget { SwissRoll, SwissRollMixture, File };

template <>
struct EnumNames<ChenTarget> {
  static constexpr std::array table{std::pair{ChenTarget::SwissRoll, std::string_view("swiss-roll")},
                                    std::pair{ChenTarget::SwissRollMixture, std::string_view("swiss-roll-mixture")},
                                    std::pair{ChenTarget::File, std::string_view("file")}};
};

// How chen-regularized trains (THEORY.md §7's two readings of "the bound in
// the optimization"): plain denoising, with the score-norm penalty at a
// fixed T, or with the penalty and T learned jointly.
enum class ChenArm { Plain, Penalty, Joint };

template <>
struct EnumNames<ChenArm> {
  static constexpr std::array table{std::pair{ChenArm::Plain, std::string_view("plain")},
                                    std::pair{ChenArm::Penalty, std::string_view("penalty")},
                                    std::pair{ChenArm::Joint, std::string_view("joint")}};
};

// chen-regularized's own keys (regularized.*).
struct ChenRegularization {
  std::vector<ChenArm> arms{ChenArm::Plain, ChenArm::Penalty, ChenArm::Joint};
  double lambda = 0.0;              // the penalty's weight; 0: √2R
  double baseline_T = 1.0;          // the plain arm every other is compared with
  double T_start = 1.0;             // joint: the initial T
  double T_lr = 1e-2;               // joint: Adam's learning rate on T
  std::vector<double> T_range{0.2, 2.0};  // joint: T stays in [lo, hi]
  Index curve_nodes = 37;           // joint: the data terms tabulated on this many T
  Index curve_draws = 200;          // joint: term1's draws per point in that table
};

// consistent: THEORY.md §7's reading; authors-toy: every choice of the toy
// code (bound_estimation.py) for the keys the user did not set.
enum class BoundPreset { Consistent, AuthorsToy };

template <>
struct EnumNames<BoundPreset> {
  static constexpr std::array table{std::pair{BoundPreset::Consistent, std::string_view("consistent")},
                                    std::pair{BoundPreset::AuthorsToy, std::string_view("authors-toy")}};
};

// How term1's log p part is taken (MixtureTermOptions::exact_entropy).
enum class EntropyRule { Exact, MonteCarlo };

template <>
struct EnumNames<EntropyRule> {
  static constexpr std::array table{std::pair{EntropyRule::Exact, std::string_view("exact")},
                                    std::pair{EntropyRule::MonteCarlo, std::string_view("monte-carlo")}};
};

struct ChenSettings {
  std::uint64_t seed = 0;
  std::vector<ChenTarget> targets{ChenTarget::SwissRoll, ChenTarget::SwissRollMixture};
  std::string data_file;                     // target file: the points
  std::shared_ptr<const Matrix> file_points;  // loaded by chen_settings
  std::vector<double> T_values{0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8};
  std::vector<Index> m_values{200};
  Index mixture_components = 20;
  double beta_min = 0.1, beta_max = 20.0;
  DeepMlpOptions model;
  Index steps = 10000;  // full-batch Adam steps
  double lr = 1e-3;
  double t_min = 1e-3;  // training draws t ~ U[t_min, T]; 0 is the authors'
  // The bound.
  BoundPreset preset = BoundPreset::Consistent;
  double R = 5.0;
  EncoderVariance term1_variance = EncoderVariance::Variance;
  EntropyRule term1_entropy = EntropyRule::Exact;
  Index term1_draws = 1000;
  EncoderVariance term2_variance = EncoderVariance::Variance;
  EncoderTermForm term2 = EncoderTermForm::MeanRootKl;
  BetaIntegral beta_integral = BetaIntegral::ClosedForm;
  ScoreNormOptions L;
  SmLossRule sm_loss = SmLossRule::Fresh;
  Index sm_loss_draws = 20;
  // The test errors.
  Index test_points = 1000;
  Index sampler_steps = 1000;
  double kde_bandwidth = 0.1;
  bool exact_density = true;  // mixture targets: exact KL and NLL by the PF-ODE
  double ode_eps = 1e-3;
  double ode_tolerance = 1e-5;
  Index prior_mismatch_draws = 20000;
  ChenRegularization regularized;
};

// Every key above but regularized.*; `except` as in OptionTable::declare.
const OptionTable<ChenSettings>& chen_options();
// The keys regularized.* (chen-regularized only).
const OptionTable<ChenSettings>& chen_regularized_options();
// Reads and checks the settings, applying bound.preset to the keys the user
// did not set. ConfigError naming the keys.
ChenSettings chen_settings(const Config& config, ChenSettings defaults = {});
// chen-regularized's checks of regularized.* (after chen_settings and a read
// of chen_regularized_options()); sets λ = √2R where it is 0.
void check_regularization(ChenSettings& s);

// One point's numbers. NaN where a metric does not apply (no exact density
// for the Swiss roll) or where the point failed (failure says why).
struct ChenPoint {
  double term1 = 0, term1_se = 0, term2 = 0, beta_integral = 0, L = 0, term3 = 0, sm_loss = 0, sm_loss_se = 0;
  double bound = 0, bound_se = 0, final_train_loss = 0;
  double kde_kl = 0, kde_kl_floor = 0, energy = 0;
  double exact_kl = 0, exact_kl_se = 0, nll = 0, nll_se = 0, prior_mismatch = 0, prior_mismatch_se = 0;
  double T_final = 0;           // the horizon evaluated: T, or where a learned T ended
  std::vector<double> T_path;   // joint arm: T every kPathEvery steps, from the start
  std::string failure;
  static constexpr Index kPathEvery = 100;
};

// The metric columns of a point, in output order, with a reader each.
struct ChenColumn {
  const char* name;
  double ChenPoint::*field;
};
const std::vector<ChenColumn>& chen_columns();

Json chen_point_to_json(const ChenPoint& p);
ChenPoint chen_point_from_json(const Json& j);

// Trains and measures one point; seed k draws from streams of (settings.seed,
// k, target, m) so every T and arm of a seed sees the same training set and
// initialization. Without an arm the network is trained by the Trainer on
// the denoising loss (chen-t-sweep, chen-m-sweep); with one, by the
// BoundTrainer (T is then the fixed horizon, or the joint arm's start). A
// numerical failure (training diverged, an ODE that did not converge) is
// returned in `failure`, not thrown.
ChenPoint run_chen_point(const ChenSettings& s, ChenTarget target, double T, Index m, Index seed,
                         const TaskContext& context, std::optional<ChenArm> arm = std::nullopt);

// One (target, m)'s points, per T (rows, in settings.T_values order) and per
// seed (columns; null or failed where missing).
using ChenGrid = std::vector<std::vector<const ChenPoint*>>;

// The plots of one (target, m): the terms stacked against T, and the bound
// beside the test errors (mean and 95% band over seeds).
void add_chen_plots(const ChenSettings& s, const ChenGrid& grid, ChenTarget target, Index m, RunWriter& out);

}  // namespace diffgen
