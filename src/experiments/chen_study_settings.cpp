// The keys of the Chen2025 toy studies (experiments/chen_study.hpp), the
// authors-toy preset, and the checks across keys. Tested by chen_study_test.cpp.
#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <numbers>

#include "core/error.hpp"
#include "data/points_file.hpp"
#include "experiments/chen_study.hpp"

namespace diffgen {
namespace {

using S = ChenSettings;

void add_model_and_training(OptionTable<S>& t) {
  t.add("model.deep_mlp.hidden", [](S& s) -> auto& { return s.model.hidden; },
        "hidden widths of the deep MLP (swish after each; the authors' toy: 3 × 128)",
        {.min = 1, .max = 4096, .unique = false});
  t.add("model.deep_mlp.time_feature", [](S& s) -> auto& { return s.model.time_feature; },
        "time input: raw t (the authors' toy) or a Gaussian Fourier embedding");
  t.add("model.deep_mlp.output", [](S& s) -> auto& { return s.model.output; },
        "what the network outputs: the score, s(t)·score, or g(t)·score (the authors')");
  t.add("sde.beta_min", [](S& s) -> auto& { return s.beta_min; }, "VP: β at t = 0", {.min = 0.0, .min_exclusive = true});
  t.add("sde.beta_max", [](S& s) -> auto& { return s.beta_max; }, "VP: β(1); β is linear in t",
        {.min = 0.0, .min_exclusive = true});
  t.add("train.steps", [](S& s) -> auto& { return s.steps; }, "full-batch Adam steps (the authors': 10 000)",
        {.min = 1, .max = 1e7});
  t.add("train.lr", [](S& s) -> auto& { return s.lr; }, "Adam's learning rate", {.min = 0.0, .min_exclusive = true});
  t.add("train.t_min", [](S& s) -> auto& { return s.t_min; },
        "training draws t ~ U[t_min, T]. The authors use 0 (their t_epsilon = 1e-3 is stored but unused); the "
        "consistent default trains where the PF-ODE likelihood is evaluated (test.ode.eps)",
        {.min = 0.0});
}

void add_bound(OptionTable<S>& t) {
  t.add("bound.preset", [](S& s) -> auto& { return s.preset; },
        "consistent (THEORY.md §7) or authors-toy: every choice of the authors' toy code for the bound keys not set "
        "(term1 with σ_T as the variance and a Monte Carlo log p, term2 mean √KL, left-Riemann ∫β, L along the "
        "unreversed path from the training points, sm_loss the last step's loss, train.t_min = 0)");
  t.add("bound.R", [](S& s) -> auto& { return s.R; }, "the sub-Gaussian constant R (the authors' toy: 5)",
        {.min = 0.0});
  t.add("bound.term1.variance", [](S& s) -> auto& { return s.term1_variance; },
        "covariance of the encoder E_T(x) in term1: v_T (variance) or σ_T used as the variance (the toy code)");
  t.add("bound.term1.entropy", [](S& s) -> auto& { return s.term1_entropy; },
        "term1's log p: the exact Gaussian entropy, or its paired Monte Carlo average (the toy code)");
  t.add("bound.term1.draws", [](S& s) -> auto& { return s.term1_draws; },
        "Monte Carlo draws per training point in term1 (the toy code: 1000)", {.min = 2, .max = 1e6});
  t.add("bound.term2.variance", [](S& s) -> auto& { return s.term2_variance; },
        "covariance of the encoder in term2 (the toy code: v_T; its m-sweep: σ_T)");
  t.add("bound.term2.form", [](S& s) -> auto& { return s.term2; },
        "term2 as the mean of √KL_i (the toy code; √2R·√KL is the sub-Gaussian bound's form) or of KL_i (the "
        "image code)");
  t.add("bound.beta_integral", [](S& s) -> auto& { return s.beta_integral; },
        "∫_0^T β: closed form, the toy code's left Riemann sum (1000 steps) or the image code's inclusive sum");
  t.add("bound.L.rule", [](S& s) -> auto& { return s.L.rule; },
        "how L, the score-norm constant of term3, is estimated (bounds/network_terms.hpp)");
  t.add("bound.L.steps", [](S& s) -> auto& { return s.L.steps; }, "Euler–Maruyama steps of the path rules",
        {.min = 1, .max = 1e6});
  t.add("bound.L.draws", [](S& s) -> auto& { return s.L.draws; }, "clean-random-t: batches of random times",
        {.min = 1, .max = 1e6});
  t.add("bound.sm_loss.rule", [](S& s) -> auto& { return s.sm_loss; },
        "sm_loss: a fresh Monte Carlo estimate over the training set, or the last step's loss (the toy code)");
  t.add("bound.sm_loss.draws", [](S& s) -> auto& { return s.sm_loss_draws; },
        "fresh: (t, z) draws per training point", {.min = 1, .max = 1e6});
}

void add_test(OptionTable<S>& t) {
  t.add("test.points", [](S& s) -> auto& { return s.test_points; },
        "test points, and generated points for the KDE-KL and energy distance (the authors': 1000)",
        {.min = 2, .max = 1e6});
  t.add("test.sampler_steps", [](S& s) -> auto& { return s.sampler_steps; },
        "Euler–Maruyama steps of the generator, from N(0, I) at T (the authors': 1000)", {.min = 1, .max = 1e6});
  t.add("test.kde_bandwidth", [](S& s) -> auto& { return s.kde_bandwidth; }, "the KDE-KL's bandwidth (the authors': 0.1)",
        {.min = 0.0, .min_exclusive = true});
  t.add("test.exact_density", [](S& s) -> auto& { return s.exact_density; },
        "mixture targets: the exact KL(p_0 ‖ p_θ) and test NLL by the PF-ODE likelihood (exact divergence)");
  t.add("test.ode.eps", [](S& s) -> auto& { return s.ode_eps; }, "the PF-ODE likelihood's data end ε",
        {.min = 0.0, .min_exclusive = true});
  t.add("test.ode.tolerance", [](S& s) -> auto& { return s.ode_tolerance; },
        "the PF-ODE likelihood's relative and absolute tolerance", {.min = 1e-12, .max = 1e-1});
  t.add("test.prior_mismatch_draws", [](S& s) -> auto& { return s.prior_mismatch_draws; },
        "mixture targets: Monte Carlo draws of KL(p_T ‖ N(0, I))", {.min = 2, .max = 1e8});
}

OptionTable<S> make_table() {
  OptionTable<S> t;
  t.add("seed", [](S& s) -> auto& { return s.seed; }, "base seed; seed k of --seeds K uses streams derived from (seed, k)",
        {.min = 0});
  t.add("targets", [](S& s) -> auto& { return s.targets; },
        "the targets: the authors' Swiss roll (samples only), a Gaussian mixture laid along it (exact density), or "
        "file (the points of data.file)");
  t.add("data.file", [](S& s) -> auto& { return s.data_file; },
        "a .csv or .npy of points (any dimension) for the target file: each seed shuffles them, trains on the "
        "first m and tests on the last test.points after the largest m (no exact density, no KDE-KL floor)");
  t.add("target.mixture_components", [](S& s) -> auto& { return s.mixture_components; },
        "components of the Swiss-roll-shaped mixture", {.min = 1, .max = 10000});
  t.add("T_values", [](S& s) -> auto& { return s.T_values; }, "diffusion horizons T of the VP SDE",
        {.min = 0.0, .max = 10.0, .min_exclusive = true});
  t.add("m_values", [](S& s) -> auto& { return s.m_values; }, "training-set sizes m", {.min = 1, .max = 100000});
  add_model_and_training(t);
  add_bound(t);
  add_test(t);
  return t;
}

OptionTable<S> make_regularized_table() {
  OptionTable<S> t;
  t.add("regularized.arms", [](S& s) -> auto& { return s.regularized.arms; },
        "how the network is trained: plain (denoising loss), penalty (+ λ·L·√(B(T)/2m), the bound's θ part, at each "
        "T of T_values) and joint (the penalty with T learned, from regularized.T_start)");
  t.add("regularized.lambda", [](S& s) -> auto& { return s.regularized.lambda; },
        "the penalty's weight λ; 0: √2R, which makes the objective the bound (up to L's batch-mean surrogate)",
        {.min = 0.0});
  t.add("regularized.baseline_T", [](S& s) -> auto& { return s.regularized.baseline_T; },
        "every arm is compared with plain training at this T (one of T_values)", {.min = 0.0, .min_exclusive = true});
  t.add("regularized.T_start", [](S& s) -> auto& { return s.regularized.T_start; }, "joint: the initial T",
        {.min = 0.0, .min_exclusive = true});
  t.add("regularized.T_lr", [](S& s) -> auto& { return s.regularized.T_lr; }, "joint: Adam's learning rate on T",
        {.min = 0.0, .min_exclusive = true});
  t.add("regularized.T_range", [](S& s) -> auto& { return s.regularized.T_range; },
        "joint: [lo, hi], the range T is kept in", {.min = 0.0, .max = 10.0, .min_exclusive = true});
  t.add("regularized.curve_nodes", [](S& s) -> auto& { return s.regularized.curve_nodes; },
        "joint: T values at which the data-only terms are tabulated for their slope", {.min = 3, .max = 10000});
  t.add("regularized.curve_draws", [](S& s) -> auto& { return s.regularized.curve_draws; },
        "joint: term1's Monte Carlo draws per training point in that table (the same draws at every T)",
        {.min = 2, .max = 1e6});
  return t;
}

// The toy code's choice for each bound key, applied where the user set none.
void apply_authors_toy(const Config& config, S& s) {
  const std::vector<std::pair<const char*, std::function<void(S&)>>> choices{
      {"bound.term1.variance", [](S& x) { x.term1_variance = EncoderVariance::StdAsVariance; }},
      {"bound.term1.entropy", [](S& x) { x.term1_entropy = EntropyRule::MonteCarlo; }},
      {"bound.term2.variance", [](S& x) { x.term2_variance = EncoderVariance::Variance; }},
      {"bound.term2.form", [](S& x) { x.term2 = EncoderTermForm::MeanRootKl; }},
      {"bound.beta_integral", [](S& x) { x.beta_integral = BetaIntegral::LeftRiemann; }},
      {"bound.L.rule", [](S& x) { x.L.rule = ScoreNormRule::TrajectoryUnreversed; }},
      {"bound.sm_loss.rule", [](S& x) { x.sm_loss = SmLossRule::LastStep; }},
      {"bound.R", [](S& x) { x.R = 5.0; }},
      {"train.t_min", [](S& x) { x.t_min = 0.0; }},
  };
  for (const auto& [key, apply] : choices)
    if (!config.is_user_set(key)) apply(s);
}

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

// Loads data.file (a bad file is refused, exit 3, before anything is
// written) and ties it to the target file.
void check_data_file(const Config& config, S& s) {
  const bool file_target = std::find(s.targets.begin(), s.targets.end(), ChenTarget::File) != s.targets.end();
  if (s.data_file.empty()) {
    require(!file_target, "targets has file but data.file is not set: name the .csv or .npy of points");
    return;
  }
  if (!config.is_user_set("targets")) s.targets = {ChenTarget::File};
  require(std::find(s.targets.begin(), s.targets.end(), ChenTarget::File) != s.targets.end(),
          "data.file = '" + s.data_file + "' is set but targets does not have file: add it, or leave targets unset");
  if (!s.file_points) s.file_points = std::make_shared<const Matrix>(load_points(s.data_file));
  const Index rows = s.file_points->rows(), largest = s.m_values.back();
  require(rows >= largest + 2, fmt::format("data.file = '{}' has {} points: the largest m = {} leaves fewer than 2 to "
                                           "test on",
                                           s.data_file, rows, largest));
}

}  // namespace

const OptionTable<ChenSettings>& chen_options() {
  static const OptionTable<S> table = make_table();
  return table;
}

const OptionTable<ChenSettings>& chen_regularized_options() {
  static const OptionTable<S> table = make_regularized_table();
  return table;
}

void check_regularization(ChenSettings& s) {
  auto& r = s.regularized;
  // 0 stands for √2R, so that a preset file written by `describe --toml` keeps following bound.R.
  if (r.lambda == 0.0) r.lambda = std::numbers::sqrt2 * s.R;
  require(!r.arms.empty(), "regularized.arms is empty: name at least one of plain, penalty, joint");
  require(r.T_range.size() == 2 && r.T_range[0] < r.T_range[1],
          fmt::format("regularized.T_range = [{}] must be two values [lo, hi] with lo < hi", fmt::join(r.T_range, ", ")));
  require(s.t_min < r.T_range[0],
          fmt::format("train.t_min = {} must be below regularized.T_range's lo = {}", s.t_min, r.T_range[0]));
  require(s.ode_eps < r.T_range[0],
          fmt::format("test.ode.eps = {} must be below regularized.T_range's lo = {}", s.ode_eps, r.T_range[0]));
  require(r.T_start >= r.T_range[0] && r.T_start <= r.T_range[1],
          fmt::format("regularized.T_start = {} must lie in regularized.T_range [{}, {}]", r.T_start, r.T_range[0],
                      r.T_range[1]));
  const bool plain = std::find(r.arms.begin(), r.arms.end(), ChenArm::Plain) != r.arms.end();
  const bool baseline_planned = std::find(s.T_values.begin(), s.T_values.end(), r.baseline_T) != s.T_values.end();
  require(plain && baseline_planned,
          fmt::format("regularized.baseline_T = {} needs the plain arm at that T: put plain in regularized.arms and "
                      "{} in T_values",
                      r.baseline_T, r.baseline_T));
  require(s.m_values.size() == 1, fmt::format("chen-regularized trains at one m; m_values has {}", s.m_values.size()));
}

ChenSettings chen_settings(const Config& config, ChenSettings defaults) {
  S s = chen_options().read(config, std::move(defaults));
  if (s.preset == BoundPreset::AuthorsToy) apply_authors_toy(config, s);
  if (auto e = s.model.validate(); !e.empty()) throw ConfigError(e);
  require(s.beta_min < s.beta_max,
          fmt::format("sde.beta_min = {} must be below sde.beta_max = {}", s.beta_min, s.beta_max));
  std::sort(s.T_values.begin(), s.T_values.end());
  std::sort(s.m_values.begin(), s.m_values.end());
  const double T_min = s.T_values.front();
  require(s.t_min < T_min, fmt::format("train.t_min = {} must be below the smallest T = {}", s.t_min, T_min));
  require(s.ode_eps < T_min, fmt::format("test.ode.eps = {} must be below the smallest T = {}", s.ode_eps, T_min));
  require(s.t_min > 0.0 || s.model.output != OutputParametrization::ScoreTimesStd,
          "train.t_min = 0 needs model.deep_mlp.output = score or g-times-score: s(t)·score is divided by s(0) = 0");
  if (auto e = s.L.validate(); !e.empty()) throw ConfigError(e);
  check_data_file(config, s);
  return s;
}

}  // namespace diffgen
