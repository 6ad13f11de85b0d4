#include "experiments/training_study.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "data/points_file.hpp"
#include "likelihood/score_integration.hpp"
#include "models/oracles.hpp"
#include "sampling/samplers.hpp"
#include "sampling/time_grid.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Stream ids (after kStreamEval, k) of the fresh target samples of the
// memorization baseline; generated samples use (kStreamEval, k, epoch), and
// epochs never reach this value.
constexpr std::uint64_t kFreshSamples = ~std::uint64_t{0};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// "0,100,2000" -> {0, 100, 2000}; the message names the key.
std::vector<Index> parse_epoch_list(const std::string& key, const std::string& text) {
  std::vector<Index> epochs;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0)
      throw ConfigError(key + " = '" + text + "': '" + item + "' is not an epoch (a whole number >= 0)");
    epochs.push_back(static_cast<Index>(v));
  }
  std::sort(epochs.begin(), epochs.end());
  epochs.erase(std::unique(epochs.begin(), epochs.end()), epochs.end());
  return epochs;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

std::unique_ptr<TrainableScoreModel> make_model(const TrainingStudySettings& s, std::shared_ptr<const Sde> sde,
                                                Rng& rng) {
  if (s.model == "random-features") return std::make_unique<RandomFeatureModel>(s.dim(), s.random_features, rng);
  return std::make_unique<ReferenceMlp>(s.dim(), s.mlp, std::move(sde), rng);
}

// Which evaluations are due after `epoch` epochs: KL (a) every kl_every, KL (b)
// every kl_ode_every, both at the last epoch. The parameters are kept exactly there.
bool kl_a_due(const TrainingStudySettings& s, Index epoch) {
  return s.has_target() && (epoch % s.kl_every == 0 || epoch == s.epochs);
}
bool kl_b_due(const TrainingStudySettings& s, Index epoch) {
  return s.has_target() && s.kl_ode_every > 0 && (epoch % s.kl_ode_every == 0 || epoch == s.epochs);
}
bool memorization_due(const TrainingStudySettings& s, Index epoch) {
  return s.memorization_every > 0 && (epoch % s.memorization_every == 0 || epoch == s.epochs);
}
// The memorization sampler's time grid, from T down to the training's eps.
Vector memorization_grid(const TrainingStudySettings& s, const Sde& sde) {
  return s.memorization_time_grid == "uniform" ? uniform_time_grid(sde.T(), s.trainer.eps, s.memorization_steps)
                                               : geometric_time_grid(sde.T(), s.trainer.eps, s.memorization_steps);
}

bool evaluation_due(const TrainingStudySettings& s, Index epoch) {
  return kl_a_due(s, epoch) || kl_b_due(s, epoch) || memorization_due(s, epoch);
}

// A KL that cannot be computed from a trained model (a non-finite score) means
// training has run away even if the loss still looked finite.
template <class F>
auto diverged_if_fails(Index epoch, const char* what, F&& f) {
  try {
    return f();
  } catch (const NumericalError& e) {
    throw NumericalError("the model diverged by epoch " + std::to_string(epoch) + ": " + what + " failed: " + e.what());
  }
}

}  // namespace

double effective_output_scale(const std::string& output_scaling, double output_scale, Index hidden) {
  if (output_scaling == "fixed") return output_scale;
  // The reference's c = 1/16 belongs to its H = 16. The output sums H terms of
  // random sign, so c ∝ 1/√H keeps its size at initialization, and the change
  // one SGD step makes to it (∝ c²·H), independent of H (the NTK scaling);
  // c ∝ 1/H would also stop the divergence but slow training down H-fold.
  if (output_scaling == "width") return output_scale * std::sqrt(16.0 / static_cast<double>(hidden));
  throw ConfigError("output_scaling = '" + output_scaling + "' is not allowed (allowed: fixed, width)");
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

void add_training_study_keys(Schema& schema) {
  schema.add_int("seed", 0, "base seed; seed k of --seeds K uses streams derived from (seed, k)", 0);
  schema.add_int("n", 1000, "training-set size (samples drawn from the target)", 1, 10'000'000);
  schema.add_double("target.mu", 3.0, "modes at -mu and +mu: the target is ½N(-mu, var) + ½N(mu, var)", 0.0,
                    std::nullopt, true);
  schema.add_double("target.var", 1.0, "variance of each mode", 0.0, std::nullopt, true);
  schema.add_string("sde.kind", "ve", "forward process (THEORY.md §1)", {"ve", "vp", "ou"});
  schema.add_double("sde.sigma", 25.0, "VE: sigma of dx = sigma^t dw", 1.0, std::nullopt, true);
  schema.add_double("sde.beta_min", 0.1, "VP: beta(0)", 0.0, std::nullopt, true);
  schema.add_double("sde.beta_max", 20.0, "VP: beta(1)", 0.0, std::nullopt, true);
  schema.add_double("sde.T", 0.0, "VP/OU horizon T (0: the process's default, VP 1, OU 5; VE is fixed at 1)", 0.0);
  schema.add_double("eps", 1e-5, "smallest diffusion time: training draws t ~ U[eps, T]; the PF-ODE stops at eps", 0.0,
                    1.0, true, true);
  schema.add_string("model", "mlp", "score model: the reference network or the random-feature model (Li2023 eq. 12)",
                    {"mlp", "random-features"});
  schema.add_int("hidden", 16, "mlp: hidden units H", 1, 1'000'000);
  schema.add_double("output_scale", 1.0 / 16.0, "mlp: output multiplied by c / s(t); c = 1/16 in the reference", 0.0,
                    std::nullopt, true);
  schema.add_string("output_scaling", "fixed",
                    "mlp: fixed uses c = output_scale for every width, as the reference does; width uses c = "
                    "output_scale * sqrt(16 / hidden) (the same at H = 16), which keeps the initial output and the "
                    "effect of one SGD step on it independent of H, where the fixed c makes wide networks diverge "
                    "at lr 0.5",
                    {"fixed", "width"});
  schema.add_int("embed_dim", 4, "width E of the Fourier time embedding (even)", 2, 4096);
  schema.add_double("embed_scale", 30.0, "frequencies of the time embedding are N(0,1)·embed_scale", 0.0, std::nullopt,
                    true);
  schema.add_int("rf.width", 256, "random-features: number of features m", 1, 1'000'000);
  schema.add_string("optimizer", "sgd", "optimizer, with PyTorch's update rules", {"sgd", "adam"});
  schema.add_double("lr", 0.5, "learning rate", 0.0, std::nullopt, true);
  schema.add_double("momentum", 0.0, "sgd: momentum factor", 0.0, 1.0, false, true);
  schema.add_double("weight_decay", 0.0, "L2 penalty added to the gradient", 0.0);
  schema.add_double("adam.beta1", 0.9, "adam: first-moment decay", 0.0, 1.0, false, true);
  schema.add_double("adam.beta2", 0.999, "adam: second-moment decay", 0.0, 1.0, false, true);
  schema.add_double("adam.eps", 1e-8, "adam: added to the denominator", 0.0, std::nullopt, true);
  schema.add_int("batch", 32, "minibatch size (0: full batch, i.e. gradient descent)", 0);
  schema.add_string("loss", "empirical",
                    "empirical: the fixed training set; population: fresh samples from the target every step",
                    {"empirical", "population"});
  schema.add_int("epochs", 2000, "training epochs (passes over the training set)", 0, 100'000'000);
  schema.add_int("switch.epoch", 0,
                 "after this many epochs, continue with a fresh switch.optimizer at switch.lr (Li2023 Fig. 10: SGD "
                 "then Adam); 0: never",
                 0);
  schema.add_string("switch.optimizer", "adam", "the optimizer after switch.epoch (its other settings as above)",
                    {"sgd", "adam"});
  schema.add_double("switch.lr", 1e-4, "the learning rate after switch.epoch", 0.0, std::nullopt, true);
  schema.add_int("kl.every", 10, "KL (a), the score-integrated density, every this many epochs", 1);
  schema.add_double("kl.t0", 0.065, "KL (a): diffusion time whose score is integrated (Li2023's code: 0.065)", 0.0,
                    std::nullopt, true);
  schema.add_double(
      "kl.t0_small", 0.01,
      "KL (a) again at this smaller t0 (0: off; else in [eps, kl.t0)), with the KL from the empirical "
      "oracle's density. At 0.065 a model that memorized n = 1000 points scores KL 0.007-0.012 (5 seeds), "
      "only 4-9 times a perfect learner's 0.00145; at 0.01 (VE: s = 0.10, 10 nodes of the default grid) "
      "it scores 0.019-0.030, ~1000 times the perfect learner's 2.6e-5. Always the fine method; the "
      "grid's nodes are raised where s(t0_small) would span fewer than 6",
      0.0, 1.0, false, true);
  schema.add_string("kl.reference", "clean", "KL (a) against the clean target p_0 or the smoothed p_t0",
                    {"clean", "smoothed"});
  schema.add_string("kl.method", "fine",
                    "KL (a): converged quadrature on the grid, or Li2023's coarse 51-point grid (to compare only)",
                    {"fine", "paper-grid"});
  schema.add_double("kl.lo", -12.0, "KL grid: lower end");
  schema.add_double("kl.hi", 12.0, "KL grid: upper end");
  schema.add_int("kl.points", 2401, "KL (a) grid nodes (4k + 1)", 9);
  schema.add_int("kl_ode.every", 100, "KL (b), the PF-ODE density, every this many epochs (0: never)", 0);
  schema.add_string("kl_ode.reference", "clean", "KL (b) against the clean target p_0 or the smoothed p_eps",
                    {"clean", "smoothed"});
  schema.add_string("kl_ode.prior", "gaussian", "KL (b): the sampler's prior N(0, s(T)^2) or the target's exact p_T",
                    {"gaussian", "exact"});
  schema.add_int("kl_ode.points", 241, "KL (b) grid nodes (4k + 1) on [kl.lo, kl.hi]", 9);
  schema.add_double("kl_ode.rtol", 1e-6, "KL (b): relative tolerance of the RK45 solver", 0.0, 1.0, true);
  schema.add_double("kl_ode.atol", 1e-6, "KL (b): absolute tolerance of the RK45 solver", 0.0, 1.0, true);
  schema.add_string("plot.epochs", "0,100,200,500,1000,2000",
                    "epochs whose learned densities are plotted (multiples of kl.every; others are skipped)");
  schema.add_int("checkpoint.every", 100,
                 "save each seed's training state to checkpoints/seed-K.bin every this many epochs and at the last, "
                 "for --resume after a kill (0: only when interrupted by Ctrl-C or SIGTERM)",
                 0);
  schema.add_string("data.file", "",
                    "train on the points of this .csv or .npy file (any dimension) instead of n samples of the "
                    "target; without a target density no KL is computed, the memorization of samples is");
  schema.add_int("memorization.every", 500,
                 "memorization of generated samples (THEORY.md §8) every this many epochs (0: never): the fraction "
                 "whose nearest-neighbour ratio is under the threshold, the mean distances to the training set and "
                 "to a fresh target sample of its size, and the fraction nearer to the former; each beside its value "
                 "for fresh target samples (the baseline: in 1-D a ratio fraction equal to the threshold, 1/3, and ½ "
                 "nearer). 30 to 60 ms per evaluation at the defaults",
                 0);
  schema.add_int("memorization.samples", 500, "memorization: samples generated from the model", 1, 1'000'000);
  schema.add_int("memorization.steps", 200,
                 "memorization: Euler–Maruyama steps of the reverse SDE (on the geometric grid 100 to 500 steps give "
                 "the memorizer about the same fraction, 0.39-0.51 at n = 1000)",
                 1, 1'000'000);
  schema.add_string(
      "memorization.time_grid", "geometric",
      "memorization: the sampler's times from T to eps, equal ratios (geometric) or equal steps "
      "(uniform). Copies are made in the last steps: on a uniform grid of 500 steps the last one starts at "
      "s = 0.045, which blurs a memorizer's samples over many training points (n = 1000: its "
      "nearest-neighbour fraction 0.31 against fresh samples' 0.30, one seed; geometric, 200 steps: 0.45-0.51 "
      "against 0.30-0.35, 5 seeds)",
      {"geometric", "uniform"});
  schema.add_bool("memorization.memorizer", false,
                  "memorization: also sample the empirical oracle (the model that memorized the training set) with "
                  "the same sampler, once per seed, for the memorizer's end of the sample measures; its score costs "
                  "O(n) per point: seconds per seed at n = 1000 (5 to 10 s on one core)");
  schema.add_double("memorization.threshold", 1.0 / 3.0,
                    "memorization: a sample is a copy when its nearest training point is this many times closer than "
                    "the second nearest",
                    0.0, 1.0, true, false);
}

TrainingStudySettings TrainingStudySettings::from_config(const Config& c) {
  TrainingStudySettings s;
  s.seed = static_cast<std::uint64_t>(c.get_int("seed"));
  s.n = c.get_int("n");
  s.target_mu = c.get_double("target.mu");
  s.target_var = c.get_double("target.var");
  s.sde.kind = c.get_string("sde.kind");
  s.sde.sigma = c.get_double("sde.sigma");
  s.sde.beta_min = c.get_double("sde.beta_min");
  s.sde.beta_max = c.get_double("sde.beta_max");
  s.sde.T = c.get_double("sde.T");
  require(s.sde.kind != "vp" || s.sde.beta_max >= s.sde.beta_min,
          "sde.beta_max = " + format_value(c.get("sde.beta_max")) +
              " must be >= sde.beta_min = " + format_value(c.get("sde.beta_min")));
  const double eps = c.get_double("eps");
  const double T = make_sde(s.sde)->T();
  require(eps < T, "eps = " + format_value(c.get("eps")) + " must be below the horizon T = " + format_value(T));

  s.model = c.get_string("model");
  s.mlp.hidden = c.get_int("hidden");
  s.output_scaling = c.get_string("output_scaling");
  s.mlp.output_scale = effective_output_scale(s.output_scaling, c.get_double("output_scale"), s.mlp.hidden);
  s.mlp.embed_dim = c.get_int("embed_dim");
  s.mlp.embed_scale = c.get_double("embed_scale");
  require(s.mlp.embed_dim % 2 == 0, "embed_dim = " + format_value(c.get("embed_dim")) + " must be even");
  s.random_features.width = c.get_int("rf.width");
  s.random_features.embed_dim = s.mlp.embed_dim;
  s.random_features.embed_scale = s.mlp.embed_scale;

  auto& opt = s.trainer.optimizer;
  opt.name = c.get_string("optimizer");
  opt.lr = c.get_double("lr");
  opt.momentum = c.get_double("momentum");
  opt.weight_decay = c.get_double("weight_decay");
  opt.beta1 = c.get_double("adam.beta1");
  opt.beta2 = c.get_double("adam.beta2");
  opt.eps = c.get_double("adam.eps");
  s.trainer.batch_size = c.get_int("batch");
  s.trainer.eps = eps;
  s.trainer.loss = c.get_string("loss");
  s.epochs = c.get_int("epochs");
  s.switch_epoch = c.get_int("switch.epoch");
  s.switch_optimizer = opt;
  s.switch_optimizer.name = c.get_string("switch.optimizer");
  s.switch_optimizer.lr = c.get_double("switch.lr");
  require(s.switch_epoch < s.epochs || s.switch_epoch == 0,
          "switch.epoch = " + format_value(c.get("switch.epoch")) +
              " must be below epochs = " + format_value(c.get("epochs")) + " (0: no switch)");

  s.kl_every = c.get_int("kl.every");
  s.kl.t0 = c.get_double("kl.t0");
  s.kl.reference = c.get_string("kl.reference");
  s.kl.method = c.get_string("kl.method");
  s.kl.grid = Grid{c.get_double("kl.lo"), c.get_double("kl.hi"), c.get_int("kl.points")};
  require(s.kl.t0 >= eps && s.kl.t0 <= T, "kl.t0 = " + format_value(c.get("kl.t0")) + " must lie in [eps, T] = [" +
                                              format_value(eps) + ", " + format_value(T) +
                                              "]: the score is trained only there");
  require(s.kl.grid.lo < s.kl.grid.hi,
          "kl.lo = " + format_value(c.get("kl.lo")) + " must be below kl.hi = " + format_value(c.get("kl.hi")));
  if (auto e = s.kl.grid.validate("kl"); !e.empty()) throw ConfigError(e);
  s.data_file = c.get_string("data.file");
  if (!s.data_file.empty()) {
    // Loaded here, so a bad file is refused (exit 3) before any output is written.
    s.data = std::make_shared<const Matrix>(load_points(s.data_file));
    require(c.get_string("loss") == "empirical", "loss = " + c.get_string("loss") +
                                                     " draws fresh samples from the target, which data.file = '" +
                                                     s.data_file + "' does not have: use loss = empirical");
  }
  // The grid must hold the target's mass: its ends at least 6 standard
  // deviations beyond the outer modes, where the mass outside is < 1e-9.
  const double reach = s.target_mu + 6.0 * std::sqrt(s.target_var);
  require(!s.has_target() || (s.kl.grid.lo <= -reach && s.kl.grid.hi >= reach),
          "kl.lo/kl.hi = [" + format_value(c.get("kl.lo")) + ", " + format_value(c.get("kl.hi")) +
              "] does not cover the target's mass: it needs at least [-" + format_value(reach) + ", " +
              format_value(reach) + "] (target.mu + 6 sqrt(target.var))");

  // KL (a) at the smaller t0: the empirical oracle's density there has bumps
  // of width s(t0_small) on the training points, which the grid must resolve.
  s.kl_small.t0 = c.get_double("kl.t0_small");
  s.kl_small.reference = s.kl.reference;
  s.kl_small.method = "fine";
  s.kl_small.grid = s.kl.grid;
  if (s.kl_small.t0 > 0.0) {
    require(s.kl_small.t0 >= eps && s.kl_small.t0 < s.kl.t0,
            "kl.t0_small = " + format_value(c.get("kl.t0_small")) + " must be 0 (off) or lie in [eps, kl.t0) = [" +
                format_value(eps) + ", " + format_value(c.get("kl.t0")) + ")");
    s.kl_small.grid = grid_resolving(s.kl.grid, make_sde(s.sde)->s(s.kl_small.t0), "kl.t0_small");
  }

  s.kl_ode_every = c.get_int("kl_ode.every");
  s.kl_ode.reference = c.get_string("kl_ode.reference");
  s.kl_ode.prior = c.get_string("kl_ode.prior");
  s.kl_ode.grid = Grid{s.kl.grid.lo, s.kl.grid.hi, c.get_int("kl_ode.points")};
  if (auto e = s.kl_ode.grid.validate("kl_ode"); !e.empty()) throw ConfigError(e);
  s.kl_ode.ode.eps = eps;
  s.kl_ode.ode.rtol = c.get_double("kl_ode.rtol");
  s.kl_ode.ode.atol = c.get_double("kl_ode.atol");

  for (Index e : parse_epoch_list("plot.epochs", c.get_string("plot.epochs")))
    if (e <= s.epochs && e % s.kl_every == 0) s.snapshot_epochs.push_back(e);
  s.checkpoint_every = c.get_int("checkpoint.every");
  s.memorization_every = c.get_int("memorization.every");
  s.memorization_samples = c.get_int("memorization.samples");
  s.memorization_steps = c.get_int("memorization.steps");
  s.memorization_memorizer = c.get_bool("memorization.memorizer");
  s.memorization_time_grid = c.get_string("memorization.time_grid");
  s.memorization.ratio_threshold = c.get_double("memorization.threshold");

  // Each component validates its own options; prefix messages with where they come from.
  for (const auto& err :
       {s.sde.validate(), s.mlp.validate(), s.random_features.validate(), s.trainer.validate(), s.kl.validate(),
        s.kl_ode.validate(), s.memorization.validate(), s.kl_small.t0 > 0.0 ? s.kl_small.validate() : std::string()})
    if (!err.empty()) throw ConfigError(err);
  return s;
}

Index training_study_work(const TrainingStudySettings& s) {
  Index evals = 0;
  for (Index e = 0; e <= s.epochs; ++e) {
    evals += (kl_a_due(s, e) ? 1 : 0) + (kl_b_due(s, e) ? 1 : 0) + (memorization_due(s, e) ? 1 : 0);
  }
  return s.epochs + evals;
}

void check_resumable(const StudyCheckpoint& c, const TrainingStudySettings& s, const std::filesystem::path& file) {
  const auto bad = [&](const std::string& what) {
    throw DataError(fmt::format("checkpoint '{}' cannot be continued: {}", file.string(), what));
  };
  if (c.trainer.epoch > s.epochs)
    bad(fmt::format("it is at epoch {}, past the run's last epoch {}", c.trainer.epoch, s.epochs));
  std::vector<Index> due;
  for (Index e = 0; e <= c.trainer.epoch; ++e)
    if (evaluation_due(s, e)) due.push_back(e);
  std::vector<Index> kept;
  for (const auto& k : c.kept) kept.push_back(k.epoch);
  if (kept != due) {
    const auto [d, k] = std::mismatch(due.begin(), due.end(), kept.begin(), kept.end());
    bad(fmt::format("it keeps parameters for evaluation at {} where the settings need {}",
                    k == kept.end() ? std::string("no further epoch") : "epoch " + std::to_string(*k),
                    d == due.end() ? std::string("none") : "epoch " + std::to_string(*d)));
  }
  // The parameter count does not depend on the random draws of initialization.
  Rng rng(0);
  const Index p = make_model(s, make_sde(s.sde), rng)->num_parameters();
  if (c.parameters.size() != p)
    bad(fmt::format("it has {} parameters; the model of these settings has {}", c.parameters.size(), p));
  // After the switch the trainer holds the second optimizer's state.
  const bool switched = s.switch_epoch > 0 && c.trainer.epoch > s.switch_epoch;
  const auto& opt = switched ? s.switch_optimizer : s.trainer.optimizer;
  const Index values = c.trainer.optimizer.values.size();
  const bool fits =
      opt.name == "adam" ? (values == 0 || values == 2 * p) : (values == 0 || (opt.momentum != 0.0 && values == p));
  if (!fits) bad(fmt::format("its {} optimizer state holds {} values for {} parameters", opt.name, values, p));
}

SeedResult run_training_study(const TrainingStudySettings& s, Index k, const std::function<void(Index)>& progress,
                              StudyCheckpointing checkpointing) {
  using Clock = std::chrono::steady_clock;
  auto tick = [&](Index units) {
    if (progress) progress(units);
  };
  SeedResult result;
  result.seed_index = k;
  // Asked to stop before this seed started: it has nothing new to save.
  if (interrupt_requested()) {
    result.interrupted = true;
    return result;
  }
  const auto sde = make_sde(s.sde);
  // With a data file there is no target: no exact density, no oracle floors.
  const auto target =
      s.has_target() ? std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(s.target_mu, s.target_var))
                     : nullptr;

  // Independent streams for data, initialization and training noise. A
  // resumed seed draws the same data and initialization again (the model's
  // fixed random parts, e.g. the time embedding, come from init_rng), then
  // takes its parameters and training stream from the checkpoint.
  Rng data_rng = Rng::stream(s.seed, {kStreamData, static_cast<std::uint64_t>(k)});
  Rng init_rng = Rng::stream(s.seed, {kStreamInit, static_cast<std::uint64_t>(k)});
  Rng train_rng = Rng::stream(s.seed, {kStreamTrain, static_cast<std::uint64_t>(k)});
  const Matrix data = s.has_target() ? target->sample(s.n, data_rng) : *s.data;
  auto model = make_model(s, sde, init_rng);
  Trainer trainer(*model, sde, data, target, s.trainer, train_rng);

  // Phase 1: train, keeping the parameters wherever a KL is due. `state` is
  // exactly what a checkpoint holds, so saving is one write.
  StudyCheckpoint state;
  Index saved_epoch = -1;  // the epoch of the checkpoint on disk, if written or read by this call
  if (checkpointing.resume) {
    state = std::move(*checkpointing.resume);
    model->parameters() = state.parameters;
    if (s.switch_epoch > 0 && state.trainer.epoch > s.switch_epoch) trainer.set_optimizer(s.switch_optimizer);
    trainer.set_state(state.trainer);
    result.resumed_from_epoch = saved_epoch = state.trainer.epoch;
    tick(state.trainer.epoch);
  } else {
    state.rows.push_back({0, 0, kNaN});
    if (evaluation_due(s, 0)) state.kept.push_back({0, model->parameters()});
  }
  state.experiment = checkpointing.experiment;
  state.config_toml = checkpointing.config_toml;
  state.config_fingerprint = config_fingerprint(state.config_toml);
  state.seeds = checkpointing.seeds;
  state.seed_index = k;
  auto save = [&] {
    if (checkpointing.file.empty() || saved_epoch == trainer.epoch()) return;
    state.trainer = trainer.state();
    state.parameters = model->parameters();
    save_checkpoint(checkpointing.file, state);
    saved_epoch = trainer.epoch();
  };

  auto& diag = result.diagnostics;
  const auto train_start = Clock::now();
  Index trained = trainer.epoch();
  try {
    for (Index epoch = trainer.epoch() + 1; epoch <= s.epochs; ++epoch) {
      // An epoch boundary: the whole state is in `state`, the model and the trainer.
      if (interrupt_requested()) {
        save();
        diag.train_seconds = seconds_since(train_start);
        result.interrupted = true;
        return result;
      }
      if (s.switch_epoch > 0 && epoch == s.switch_epoch + 1) trainer.set_optimizer(s.switch_optimizer);
      const double loss = trainer.run_epoch();
      state.rows.push_back({epoch, trainer.steps(), loss});
      if (evaluation_due(s, epoch)) state.kept.push_back({epoch, model->parameters()});
      trained = epoch;
      tick(1);
      if (s.checkpoint_every > 0 && (epoch % s.checkpoint_every == 0 || epoch == s.epochs)) save();
    }
  } catch (const NumericalError& e) {
    // Keep everything trained so far; it is evaluated below and written by the
    // caller. The trainer stopped inside an epoch, so no checkpoint is saved
    // from here on: a resume repeats the failure from the last one.
    result.failure = e.what();
    result.failed_epoch = trained + 1;
  }
  diag.train_seconds = seconds_since(train_start);

  // Phase 2: every KL and the four oracle floors are independent tasks. Each
  // evaluates a fresh copy of the model with the kept parameters, so only one
  // copy per running task is in memory.
  struct Snapshot {
    StudyRow row;
    const KeptParameters* kept = nullptr;
    bool kl_a = false, kl_b = false, memorization = false;
    KlSummary a, b;
    double kl_a_small = kNaN, kl_emp_a = kNaN, kl_emp_a_small = kNaN, weight_right = kNaN;
    double quadrature_error_a_small = 0.0;
    MemorizationSummary m;
    std::optional<std::string> failure;
  };
  std::vector<Snapshot> snaps;
  snaps.reserve(state.rows.size());
  auto next_kept = state.kept.begin();
  for (const auto& r : state.rows) {
    Snapshot snap;
    snap.row = StudyRow{r.epoch, r.steps, r.train_loss, kNaN, kNaN};
    snap.kl_a = kl_a_due(s, r.epoch);
    snap.kl_b = kl_b_due(s, r.epoch);
    snap.memorization = memorization_due(s, r.epoch);
    if (snap.kl_a || snap.kl_b || snap.memorization) snap.kept = &*next_kept++;
    snaps.push_back(std::move(snap));
  }
  auto model_at = [&](const KeptParameters& kept) {
    auto copy = model->clone();
    copy->parameters() = kept.parameters;
    return copy;
  };

  const auto population = target ? make_population_oracle(target, sde) : nullptr;
  const auto empirical = make_empirical_oracle(data, sde);

  // The empirical oracle's density p_emp,t0 at the nodes of definition (a),
  // at t0 and t0_small: the reference of the KL-to-the-empirical-density
  // measure. It depends on the data only, so it is computed once per seed.
  Vector log_emp_a, log_emp_small;
  if (target) {
    const Grid nodes_a = s.kl.method == "paper-grid" ? Grid{kPaperGridLo, kPaperGridHi, kPaperGridPoints} : s.kl.grid;
    log_emp_a = empirical_mixture_log_density(data.col(0), sde->a(s.kl.t0), sde->s(s.kl.t0), nodes_a.nodes());
    if (s.has_kl_small())
      log_emp_small = empirical_mixture_log_density(data.col(0), sde->a(s.kl_small.t0), sde->s(s.kl_small.t0),
                                                    s.kl_small.grid.nodes());
  }
  // Fresh target samples for the memorization baseline: a reference set of
  // the training set's size, and as many stand-ins for generated samples as
  // each evaluation generates.
  Matrix fresh_reference, fresh_samples;
  const bool with_baseline = target && s.memorization_every > 0;
  if (with_baseline) {
    Rng ref_rng = Rng::stream(s.seed, {kStreamEval, static_cast<std::uint64_t>(k), kFreshSamples, 0});
    Rng sample_rng = Rng::stream(s.seed, {kStreamEval, static_cast<std::uint64_t>(k), kFreshSamples, 1});
    fresh_reference = target->sample(data.rows(), ref_rng);
    fresh_samples = target->sample(s.memorization_samples, sample_rng);
  }

  std::vector<std::function<void()>> tasks;
  if (target) {
    tasks.push_back([&] {
      const KlSummary p = kl_score_integrated(*population, *target, *sde, s.kl);
      result.floors.population_a = p.kl;
      result.floors.population_emp_a = kl_against_learned(p, log_emp_a).kl;
    });
    tasks.push_back([&] { result.floors.empirical_a = kl_score_integrated(*empirical, *target, *sde, s.kl).kl; });
  }
  if (s.has_kl_small()) {
    tasks.push_back([&] {
      const KlSummary p = kl_score_integrated(*population, *target, *sde, s.kl_small);
      result.floors.population_a_small = p.kl;
      result.floors.population_emp_a_small = kl_against_learned(p, log_emp_small).kl;
    });
    tasks.push_back(
        [&] { result.floors.empirical_a_small = kl_score_integrated(*empirical, *target, *sde, s.kl_small).kl; });
  }
  const auto reference_measures = [&](const Matrix& samples, MemorizationBaseline& b) {
    const MemorizationSummary m = diffgen::memorization(samples, data, fresh_reference, s.memorization);
    b.memorized_fraction = m.memorized_fraction;
    b.memorized_fraction_se = m.memorized_fraction_se;
    b.nn_distance = m.mean_nn_distance_train;
    b.nn_distance_fresh = m.mean_nn_distance_reference;
    b.nn_distance_se = m.mean_nn_distance_train_se;
    b.nn_distance_fresh_se = m.mean_nn_distance_reference_se;
    b.closer_to_train = m.closer_to_training_fraction;
    b.closer_to_train_se = m.closer_to_training_fraction_se;
  };
  if (with_baseline) tasks.push_back([&] { reference_measures(fresh_samples, result.memorization_baseline); });
  if (with_baseline && s.memorization_memorizer)
    tasks.push_back([&] {
      // The memorizer sampled like the model: same prior, time grid and sampler.
      Rng rng = Rng::stream(s.seed, {kStreamEval, static_cast<std::uint64_t>(k), kFreshSamples, 2});
      const Matrix x_T = sde->sample_prior(s.memorization_samples, data.cols(), rng);
      const Vector grid = memorization_grid(s, *sde);
      reference_measures(sample_euler_maruyama(*empirical, *sde, x_T, grid, rng), result.memorization_memorizer);
    });
  if (target && s.kl_ode_every > 0) {
    tasks.push_back([&] { result.floors.population_b = kl_pf_ode(*population, *target, *sde, s.kl_ode).kl; });
    tasks.push_back([&] {
      const double eps = s.kl_ode.ode.eps;
      result.floors.empirical_b =
          kl_empirical_floor(*target, data.col(0), sde->a(eps), sde->s(eps), s.kl.grid.lo, s.kl.grid.hi).kl;
    });
  }
  const std::size_t floor_tasks = tasks.size();
  std::vector<double> task_seconds;
  // The expensive PF-ODE evaluations first, so both cores stay busy to the end.
  for (auto& snap : snaps)
    if (snap.kl_b)
      tasks.push_back([&, sp = &snap] {
        try {
          sp->b = diverged_if_fails(sp->row.epoch, "KL (b)",
                                    [&] { return kl_pf_ode(*model_at(*sp->kept), *target, *sde, s.kl_ode); });
        } catch (const NumericalError& e) {
          sp->failure = e.what();
        }
      });
  // Memorization: samples from the model by the reverse SDE, each epoch from
  // its own stream, compared with the training set.
  for (auto& snap : snaps)
    if (snap.memorization)
      tasks.push_back([&, sp = &snap] {
        try {
          Rng rng = Rng::stream(
              s.seed, {kStreamEval, static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(sp->row.epoch)});
          const Matrix x_T = sde->sample_prior(s.memorization_samples, data.cols(), rng);
          const Vector grid = memorization_grid(s, *sde);
          const Matrix samples = sample_euler_maruyama(*model_at(*sp->kept), *sde, x_T, grid, rng);
          if (!samples.allFinite())
            throw NumericalError("the model diverged by epoch " + std::to_string(sp->row.epoch) +
                                 ": its reverse-SDE samples are not finite");
          sp->m = with_baseline ? diffgen::memorization(samples, data, fresh_reference, s.memorization)
                                : diffgen::memorization(samples, data, s.memorization);
        } catch (const NumericalError& e) {
          sp->failure = e.what();
        }
      });
  for (auto& snap : snaps)
    if (snap.kl_a)
      tasks.push_back([&, sp = &snap] {
        try {
          const auto m = model_at(*sp->kept);
          sp->a = diverged_if_fails(sp->row.epoch, "KL (a)", [&] {
            KlSummary a = kl_score_integrated(*m, *target, *sde, s.kl);
            sp->kl_emp_a = kl_against_learned(a, log_emp_a).kl;
            return a;
          });
          sp->weight_right = mass_fraction_above(sp->a.x, sp->a.log_q, 0.0);
          if (s.has_kl_small()) {
            const KlSummary small = diverged_if_fails(sp->row.epoch, "KL (a) at kl.t0_small", [&] {
              return kl_score_integrated(*m, *target, *sde, s.kl_small);
            });
            sp->kl_a_small = small.kl;
            sp->quadrature_error_a_small = small.quadrature_error;
            sp->kl_emp_a_small = diverged_if_fails(sp->row.epoch, "KL from the empirical density at kl.t0_small",
                                                   [&] { return kl_against_learned(small, log_emp_small).kl; });
          }
          // Only the plotted epochs keep their densities (a few MB per seed otherwise).
          if (std::find(s.snapshot_epochs.begin(), s.snapshot_epochs.end(), sp->row.epoch) == s.snapshot_epochs.end())
            sp->a.x = sp->a.log_p = sp->a.log_q = sp->a.log_q_coarse = Vector();
        } catch (const NumericalError& e) {
          sp->failure = e.what();
        }
      });
  task_seconds.assign(tasks.size(), 0.0);
  // A stop request skips the evaluations not yet started; each takes well
  // under a second, so the wait is short.
  std::atomic<bool> skipped{false};
  parallel_tasks(static_cast<Index>(tasks.size()), [&](Index i) {
    if (interrupt_requested()) {
      skipped = true;
      return;
    }
    const auto t0 = Clock::now();
    tasks[i]();
    task_seconds[i] = seconds_since(t0);
    if (static_cast<std::size_t>(i) >= floor_tasks) tick(1);
  });
  if (skipped) {
    // Training is complete (or failed); only the evaluations are missing and
    // a resume redoes them from the final state.
    if (!result.failure) save();
    result.interrupted = true;
    return result;
  }
  for (std::size_t i = 0; i < floor_tasks; ++i) diag.floors_seconds += task_seconds[i];

  // Assemble the rows in epoch order, stopping at the first failed evaluation.
  for (auto& snap : snaps) {
    if (snap.failure) {
      if (!result.failure || snap.row.epoch < result.failed_epoch) {
        result.failure = snap.failure;
        result.failed_epoch = snap.row.epoch;
      }
      break;
    }
    if (snap.kl_a) {
      snap.row.kl_a = snap.a.kl;
      snap.row.kl_a_small = snap.kl_a_small;
      snap.row.kl_emp_a = snap.kl_emp_a;
      snap.row.kl_emp_a_small = snap.kl_emp_a_small;
      snap.row.weight_right = snap.weight_right;
      diag.max_quadrature_error_a_small = std::max(diag.max_quadrature_error_a_small, snap.quadrature_error_a_small);
      diag.max_target_mass_outside = std::max(diag.max_target_mass_outside, snap.a.target_mass_outside);
      diag.max_quadrature_error_a = std::max(diag.max_quadrature_error_a, snap.a.quadrature_error);
    }
    if (snap.kl_b) {
      snap.row.kl_b = snap.b.kl;
      diag.max_quadrature_error_b = std::max(diag.max_quadrature_error_b, snap.b.quadrature_error);
      diag.ode_steps += snap.b.ode_steps;
      diag.ode_rejected_steps += snap.b.ode_rejected_steps;
    }
    if (snap.memorization) {
      snap.row.memorized_fraction = snap.m.memorized_fraction;
      snap.row.nn_distance = snap.m.mean_nn_distance_train;
      if (with_baseline) {
        snap.row.nn_distance_fresh = snap.m.mean_nn_distance_reference;
        snap.row.memorized_baseline = result.memorization_baseline.memorized_fraction;
        snap.row.closer_to_train = snap.m.closer_to_training_fraction;
      }
    }
    result.rows.push_back(snap.row);
    if (std::find(s.snapshot_epochs.begin(), s.snapshot_epochs.end(), snap.row.epoch) != s.snapshot_epochs.end() &&
        snap.kl_a)
      result.snapshots.push_back({snap.row.epoch, snap.a.x, snap.a.log_p, snap.a.log_q, snap.b.x, snap.b.log_q});
  }
  // Attribute evaluation time by kind: the tasks are PF-ODE, memorization, then KL (a).
  Index nb = 0, nm = 0;
  for (const auto& snap : snaps) {
    nb += snap.kl_b ? 1 : 0;
    nm += snap.memorization ? 1 : 0;
  }
  for (std::size_t i = floor_tasks; i < tasks.size(); ++i) {
    const Index j = static_cast<Index>(i - floor_tasks);
    (j < nb ? diag.kl_b_seconds : j < nb + nm ? diag.memorization_seconds : diag.kl_a_seconds) += task_seconds[i];
  }
  return result;
}

}  // namespace diffgen
