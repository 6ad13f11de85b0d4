// The settings of a training study: its keys (each concept's own table, plus
// the study's schedule of evaluations) and the checks across keys.
// Tested by training_study_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/limits.hpp"
#include "core/rng.hpp"
#include "data/points_file.hpp"
#include "experiments/training_study.hpp"
#include "experiments/training_study_eval.hpp"
#include "models/registry.hpp"

namespace diffgen {
namespace {

using S = TrainingStudySettings;

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

OptionTable<S> make_table() {
  OptionTable<S> t;
  t.add("seed", [](S& s) -> auto& { return s.seed; },
        "base seed; seed k of --seeds K uses streams derived from (seed, k)", {.min = 0});
  t.add("data.n", [](S& s) -> auto& { return s.n; }, "training-set size (samples drawn from the target)",
        {.min = 1, .max = 1e7});
  t.add("data.file", [](S& s) -> auto& { return s.data_file; },
        "train on the points of this .csv or .npy file (any dimension) instead of data.n samples of the target; "
        "without a target density no KL is computed, the memorization of samples is");
  t.add("data.from_target", [](S& s) -> auto& { return s.data_from_target; },
        "with data.file: its points are samples of the target (target.mu, target.var), e.g. a run's "
        "train-seed-K.npy; KL and the oracle floors are then measured against the target on the file's training "
        "set (1-D files only)");
  t.add("target.mu", [](S& s) -> auto& { return s.target_mu; },
        "modes at -mu and +mu: the target is ½N(-mu, var) + ½N(mu, var)", {.min = 0.0, .min_exclusive = true});
  t.add("target.var", [](S& s) -> auto& { return s.target_var; }, "variance of each mode",
        {.min = 0.0, .min_exclusive = true});
  t.include(sde_options(), [](S& s) -> auto& { return s.sde; });
  t.include(model_options(), [](S& s) -> auto& { return s.model; });
  t.include(train_options(), [](S& s) -> auto& { return s.train; });
  t.add("kl.every", [](S& s) -> auto& { return s.kl_every; },
        "KL (a), the score-integrated density, every this many epochs", {.min = 1});
  t.include(kl_options(), [](S& s) -> auto& { return s.kl; });
  t.add("kl.t0_small", [](S& s) -> auto& { return s.kl_small.t0; },
        "KL (a) again at this smaller t0 (0: off; else in [sde.eps, kl.t0)), with the KL from the empirical "
        "oracle's density. At 0.065 a model that memorized n = 1000 points scores 5.4 times a perfect learner's "
        "KL of 0.00145 on average (200 training sets); at 0.01 (VE: s = 0.10, 10 nodes of the default grid) 1370 "
        "times its 2.6e-5. Always the fine method; the grid's nodes are raised where s(t0_small) would span fewer "
        "than 6",
        {.min = 0.0, .max = 1.0, .max_exclusive = true});
  t.add("kl.memorizer_sets", [](S& s) -> auto& { return s.memorizer_sets; },
        "training sets per seed, besides the seed's own, on which the exact KL (a) of a model that memorized them "
        "is computed (KL(p_0 || p_emp,t0) by quadrature, ~3 ms each) at kl.t0 and kl.t0_small: the "
        "memorizer-to-perfect-learner ratio with a 95% interval over all of them (0: off)",
        {.min = 0, .max = 1e5});
  t.add("kl.ode.every", [](S& s) -> auto& { return s.kl_ode_every; },
        "KL (b), the PF-ODE density, every this many epochs (0: never)", {.min = 0});
  t.include(kl_ode_options(), [](S& s) -> auto& { return s.kl_ode; });
  t.add("plot.epochs", [](S& s) -> auto& { return s.plot_epochs; },
        "epochs whose learned densities are plotted (multiples of kl.every; others are skipped)",
        {.min = 0, .min_items = 0});
  t.add("checkpoint.every", [](S& s) -> auto& { return s.checkpoint_every; },
        "save each seed's training state to checkpoints/ every this many epochs and at the last, for --resume "
        "after a kill (0: only when interrupted by Ctrl-C or SIGTERM)",
        {.min = 0});
  t.add("memorization.every", [](S& s) -> auto& { return s.memorization_every; },
        "memorization of generated samples (THEORY.md §8) every this many epochs (0: never): the fraction whose "
        "nearest-neighbour ratio is under the threshold, the mean distances to the training set and to a fresh "
        "target sample of its size, and the fraction nearer to the former; each beside its value for fresh "
        "target samples (the baseline: in 1-D a ratio fraction equal to the threshold, 1/3, and ½ nearer). 30 to "
        "60 ms per evaluation at the defaults",
        {.min = 0});
  t.add("memorization.samples", [](S& s) -> auto& { return s.memorization_samples; },
        "memorization: samples generated from the model", {.min = 1, .max = 1e6});
  t.add("memorization.memorizer", [](S& s) -> auto& { return s.memorization_memorizer; },
        "memorization: also sample the empirical oracle (the model that memorized the training set) with the "
        "same sampler, once per seed, for the memorizer's end of the sample measures; its score costs O(n) per "
        "point: seconds per seed at n = 1000 (5 to 10 s on one core)");
  t.include(memorization_options(), [](S& s) -> auto& { return s.memorization; });
  t.include(sampler_options(), [](S& s) -> auto& { return s.sampler; });
  return t;
}

// The KL grids and their coverage of the target's mass.
void check_kl(S& s, double T) {
  const double eps = s.sde.eps;
  require(s.kl.t0 >= eps && s.kl.t0 <= T,
          fmt::format("kl.t0 = {} must lie in [sde.eps, T] = [{}, {}]: the score is trained only there", s.kl.t0,
                      eps, T));
  require(s.kl.grid.lo < s.kl.grid.hi,
          fmt::format("kl.lo = {} must be below kl.hi = {}", s.kl.grid.lo, s.kl.grid.hi));
  if (auto e = s.kl.grid.validate("kl"); !e.empty()) throw ConfigError(e);
  // The grid must hold the target's mass: its ends at least 6 standard
  // deviations beyond the outer modes, where the mass outside is < 1e-9.
  if (s.has_target()) {
    if (auto e = kl_coverage_error(s.kl, s.target_mu + 6.0 * std::sqrt(s.target_var)); !e.empty())
      throw ConfigError(e);
  }
  // KL (a) at the smaller t0: the empirical oracle's density there has bumps
  // of width s(t0_small) on the training points, which the grid must resolve.
  s.kl_small.reference = s.kl.reference;
  s.kl_small.method = KlMethod::Fine;
  s.kl_small.grid = s.kl.grid;
  if (s.kl_small.t0 > 0.0) {
    require(s.kl_small.t0 >= eps && s.kl_small.t0 < s.kl.t0,
            fmt::format("kl.t0_small = {} must be 0 (off) or lie in [sde.eps, kl.t0) = [{}, {})", s.kl_small.t0,
                        eps, s.kl.t0));
    s.kl_small.grid = grid_resolving(s.kl.grid, make_sde(s.sde)->s(s.kl_small.t0), "kl.t0_small");
  }
  // The empirical floor (b) is computed after training on a grid of step
  // min(s(ε)/8, 0.01) over [kl.lo, kl.hi] (kl_empirical_floor): a tiny ε
  // would make it overflow or exhaust memory then, so refuse it now. About
  // eight doubles per node (nodes, weights, densities and their logarithms).
  if (s.has_target() && s.kl_ode_every > 0) {
    const double step = std::min(make_sde(s.sde)->s(eps) / 8.0, 0.01);
    checked_setting_size((s.kl.grid.hi - s.kl.grid.lo) / step, 8.0 * sizeof(double),
                         fmt::format("sde.eps = {} (with kl.lo = {}, kl.hi = {})", format_double(eps),
                                     format_double(s.kl.grid.lo), format_double(s.kl.grid.hi)),
                         "the empirical floor's grid (step s(sde.eps)/8)");
  }
  s.kl_ode.grid = Grid{s.kl.grid.lo, s.kl.grid.hi, s.kl_ode.grid.points};
  if (auto e = s.kl_ode.grid.validate("kl.ode"); !e.empty()) throw ConfigError(e);
  s.kl_ode.ode.eps = eps;
}

}  // namespace

TrainOptions TrainingStudySettings::li2023_training() {
  TrainOptions t;
  t.trainer.optimizer.kind = OptimizerKind::Sgd;
  t.trainer.optimizer.lr = 0.5;
  t.trainer.batch_size = 32;
  t.epochs = 2000;
  return t;
}

const OptionTable<TrainingStudySettings>& training_study_options() {
  static const OptionTable<S> table = make_table();
  return table;
}

void add_training_study_keys(Schema& schema, const TrainingStudySettings& defaults,
                             const std::vector<std::string>& except) {
  training_study_options().declare(schema, defaults, except);
}

namespace {

// At most 1 GiB of kept parameter copies: far above any preset (capacity's
// widest network keeps 23 MB) and small enough to checkpoint every
// checkpoint.every epochs.
constexpr std::uint64_t kMaxKeptParameterBytes = std::uint64_t{1} << 30;

// Training keeps a copy of the parameters at every evaluation epoch (the
// evaluations then run side by side, bit-identical for any thread count), and
// every checkpoint holds all copies so far: their total is bounded up front
// instead of growing with train.epochs / kl.every (2.5 GB at hidden = 5000
// over 90,000 epochs).
void check_kept_copies(const S& s) {
  Index copies = 0;
  for (Index e = 0; e <= s.train.epochs; ++e) copies += evaluation_due(s, e) ? 1 : 0;
  Rng rng;
  const Index dim = s.data ? s.data->cols() : 1;
  const auto parameters = make_score_model(s.model, dim, make_sde(s.sde), rng)->parameters().size();
  const double bytes = static_cast<double>(copies) * static_cast<double>(parameters) * sizeof(double);
  if (bytes > static_cast<double>(kMaxKeptParameterBytes))
    throw ConfigError(fmt::format(
        "train.epochs = {} with kl.every = {}, kl.ode.every = {}, memorization.every = {}: keeping the {} "
        "parameters at each of the {} evaluation epochs needs {} in memory and in every checkpoint; at most {}: "
        "evaluate less often or train fewer epochs",
        s.train.epochs, s.kl_every, s.kl_ode_every, s.memorization_every, parameters, copies, format_bytes(bytes),
        format_bytes(static_cast<double>(kMaxKeptParameterBytes))));
}

}  // namespace

TrainingStudySettings training_study_settings(const Config& config, TrainingStudySettings defaults) {
  S s = training_study_options().read(config, std::move(defaults));
  complete_training_study_settings(s);
  return s;
}

void complete_training_study_settings(TrainingStudySettings& s) {
  if (auto e = s.sde.validate(); !e.empty()) throw ConfigError(e);
  const double T = make_sde(s.sde)->T();
  if (auto e = s.model.validate(); !e.empty()) throw ConfigError(e);
  s.train.trainer.eps = s.sde.eps;
  if (auto e = s.train.validate(); !e.empty()) throw ConfigError(e);
  if (!s.data_file.empty() && !s.data) {
    // Loaded here, so a bad file is refused (exit 3) before any output is written.
    s.data = std::make_shared<const Matrix>(load_points(s.data_file));
    require(s.train.trainer.loss == LossKind::Empirical,
            "train.loss = population draws fresh samples from the target, which data.file = '" + s.data_file +
                "' does not have: use train.loss = empirical");
    if (s.data_from_target) {
      require(s.data->cols() == 1, "data.from_target = true: the target is 1-D, but data.file = '" + s.data_file +
                                       "' has " + std::to_string(s.data->cols()) + " columns");
      s.n = s.data->rows();
    }
  }
  require(!s.data_from_target || !s.data_file.empty(),
          "data.from_target = true needs data.file (the points drawn from the target)");
  // Memorization compares each sample's nearest and second-nearest training
  // points: a one-point training set would fail only after training.
  const Index training_points = s.data ? s.data->rows() : s.n;
  require(s.memorization_every == 0 || training_points >= 2,
          fmt::format("data.n = {} with memorization.every = {}: memorization needs at least 2 training points "
                      "(it compares each sample's nearest and second-nearest); use data.n >= 2 or "
                      "memorization.every = 0",
                      training_points, s.memorization_every));
  check_kl(s, T);
  check_kept_copies(s);
  std::sort(s.plot_epochs.begin(), s.plot_epochs.end());
  s.snapshot_epochs.clear();
  for (Index e : s.plot_epochs)
    if (e <= s.train.epochs && e % s.kl_every == 0) s.snapshot_epochs.push_back(e);
  // Each component validates its own options; prefix messages with where they come from.
  for (const auto& err : {s.kl.validate(), s.kl_ode.validate(), s.memorization.validate(),
                          s.kl_small.t0 > 0.0 ? s.kl_small.validate() : std::string()})
    if (!err.empty()) throw ConfigError(err);
  make_sampler(s.sampler.kind);  // an unknown sampler is refused now, not after training
}

Grid grid_resolving(const Grid& grid, double bandwidth, const std::string& key) {
  const double h_max = bandwidth / kMinNodesPerBandwidth;
  if (grid.step() <= h_max) return grid;
  // The fewest 4k + 1 nodes with step <= h_max.
  const double intervals = std::ceil((grid.hi - grid.lo) / h_max / 4.0) * 4.0;
  if (!(intervals + 1.0 <= static_cast<double>(kMaxResolvingNodes)))
    throw ConfigError(fmt::format(
        "{}: s(t) = {} at that time needs a KL grid step of at most {} on [{}, {}] ({} nodes per s), i.e. over {} "
        "nodes: choose a larger {} or a narrower interval",
        key, format_double(bandwidth), format_double(h_max), format_double(grid.lo), format_double(grid.hi),
        kMinNodesPerBandwidth, kMaxResolvingNodes, key));
  return Grid{grid.lo, grid.hi, static_cast<Index>(intervals) + 1};
}

}  // namespace diffgen
