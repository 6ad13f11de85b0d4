// One seed of a training study: phase 1 trains and keeps the parameters at
// every evaluation epoch (with checkpoints); phase 2 (training_study_eval.cpp)
// evaluates the kept copies and the oracle floors.
#include "experiments/training_study.hpp"

#include <fmt/format.h>

#include <chrono>
#include <limits>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "experiments/training_study_eval.hpp"
#include "targets/gaussian_mixture.hpp"
#include "training/trainer.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Phase 1 of one seed: the trainer, the state a checkpoint holds, and where
// that state was last saved.
class TrainingPhase {
 public:
  TrainingPhase(const TrainingStudySettings& s, Index k, TrainableScoreModel& model, Trainer& trainer,
                const StudyCheckpointing& checkpointing)
      : s_(s), k_(k), model_(model), trainer_(trainer), checkpointing_(checkpointing) {}

  // Continues from the checkpoint on disk, if there is one; returns its epoch or -1.
  Index start() {
    state_.experiment = checkpointing_.experiment;
    state_.config_toml = checkpointing_.config ? checkpointing_.config->to_toml() : std::string();
    state_.config_fingerprint = config_fingerprint(state_.config_toml);
    state_.seeds = checkpointing_.seeds;
    state_.seed_index = k_;
    std::error_code ec;
    if (checkpointing_.file.empty() || !std::filesystem::exists(checkpointing_.file, ec)) {
      state_.rows.push_back({0, 0, kNaN});
      if (evaluation_due(s_, 0)) state_.kept.push_back({0, model_.parameters()});
      return -1;
    }
    StudyCheckpoint c = load_checkpoint(checkpointing_.file);
    if (checkpointing_.config)
      check_checkpoint_matches(c, checkpointing_.file, checkpointing_.experiment, *checkpointing_.config,
                               checkpointing_.seeds, k_);
    check_resumable(c, s_, checkpointing_.file);
    c.experiment = state_.experiment;
    state_ = std::move(c);
    model_.parameters() = state_.parameters;
    if (s_.train.switch_epoch > 0 && state_.trainer.epoch > s_.train.switch_epoch)
      trainer_.set_optimizer(s_.train.switch_optimizer());
    trainer_.set_state(state_.trainer);
    return saved_epoch_ = state_.trainer.epoch;
  }

  // Trains to the last epoch. A NumericalError ends training early and is
  // recorded in `result`; a stop request saves the state and throws Interrupted.
  void train(SeedResult& result, const std::function<void(Index)>& tick) {
    Index trained = trainer_.epoch();
    try {
      for (Index epoch = trainer_.epoch() + 1; epoch <= s_.train.epochs; ++epoch) {
        // An epoch boundary: the whole state is in state_, the model and the trainer.
        if (interrupt_requested()) {
          save();
          throw Interrupted(fmt::format("seed {} stopped at epoch {}", k_, epoch - 1));
        }
        if (s_.train.switch_epoch > 0 && epoch == s_.train.switch_epoch + 1)
          trainer_.set_optimizer(s_.train.switch_optimizer());
        const double loss = trainer_.run_epoch();
        state_.rows.push_back({epoch, trainer_.steps(), loss});
        if (evaluation_due(s_, epoch)) state_.kept.push_back({epoch, model_.parameters()});
        trained = epoch;
        tick(1);
        if (s_.checkpoint_every > 0 && (epoch % s_.checkpoint_every == 0 || epoch == s_.train.epochs)) save();
      }
    } catch (const NumericalError& e) {
      // Keep everything trained so far; it is evaluated and written. The
      // trainer stopped inside an epoch, so no checkpoint is saved from here
      // on: a resume repeats the failure from the last one.
      result.failure = e.what();
      result.failed_epoch = trained + 1;
    }
  }

  // Saves the state unless the file already holds this epoch.
  void save() {
    if (checkpointing_.file.empty() || saved_epoch_ == trainer_.epoch()) return;
    state_.trainer = trainer_.state();
    state_.parameters = model_.parameters();
    save_checkpoint(checkpointing_.file, state_);
    saved_epoch_ = trainer_.epoch();
  }

  const StudyCheckpoint& state() const { return state_; }

 private:
  const TrainingStudySettings& s_;
  Index k_;
  TrainableScoreModel& model_;
  Trainer& trainer_;
  const StudyCheckpointing& checkpointing_;
  StudyCheckpoint state_;
  Index saved_epoch_ = -1;  // the epoch of the checkpoint on disk, if written or read here
};

}  // namespace

bool kl_a_due(const TrainingStudySettings& s, Index epoch) {
  return s.has_target() && (epoch % s.kl_every == 0 || epoch == s.train.epochs);
}
bool kl_b_due(const TrainingStudySettings& s, Index epoch) {
  return s.has_target() && s.kl_ode_every > 0 && (epoch % s.kl_ode_every == 0 || epoch == s.train.epochs);
}
bool memorization_due(const TrainingStudySettings& s, Index epoch) {
  return s.memorization_every > 0 && (epoch % s.memorization_every == 0 || epoch == s.train.epochs);
}
bool evaluation_due(const TrainingStudySettings& s, Index epoch) {
  return kl_a_due(s, epoch) || kl_b_due(s, epoch) || memorization_due(s, epoch);
}

Index training_study_work(const TrainingStudySettings& s) {
  Index evals = 0;
  for (Index e = 0; e <= s.train.epochs; ++e)
    evals += (kl_a_due(s, e) ? 1 : 0) + (kl_b_due(s, e) ? 1 : 0) + (memorization_due(s, e) ? 1 : 0);
  return s.train.epochs + evals;
}

void check_resumable(const StudyCheckpoint& c, const TrainingStudySettings& s, const std::filesystem::path& file) {
  const auto bad = [&](const std::string& what) {
    throw DataError(fmt::format("checkpoint '{}' cannot be continued: {}", file.string(), what));
  };
  if (c.trainer.epoch > s.train.epochs)
    bad(fmt::format("it is at epoch {}, past the run's last epoch {}", c.trainer.epoch, s.train.epochs));
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
  const Index p = make_score_model(s.model, s.dim(), make_sde(s.sde), rng)->num_parameters();
  if (c.parameters.size() != p)
    bad(fmt::format("it has {} parameters; the model of these settings has {}", c.parameters.size(), p));
  // After the switch the trainer holds the second optimizer's state.
  const bool switched = s.train.switch_epoch > 0 && c.trainer.epoch > s.train.switch_epoch;
  const OptimizerOptions opt = switched ? s.train.switch_optimizer() : s.train.trainer.optimizer;
  const Index values = c.trainer.optimizer.values.size();
  const bool fits = opt.kind == OptimizerKind::Adam ? (values == 0 || values == 2 * p)
                                                    : (values == 0 || (opt.momentum != 0.0 && values == p));
  if (!fits)
    bad(fmt::format("its {} optimizer state holds {} values for {} parameters", enum_name(opt.kind), values, p));
}

Matrix training_set(const TrainingStudySettings& s, Index k) {
  if (s.data) return *s.data;
  Rng rng = Rng::stream(s.seed, {kStreamData, static_cast<std::uint64_t>(k)});
  return GaussianMixture::symmetric_two_mode(s.target_mu, s.target_var).sample(s.n, rng);
}

SeedResult run_training_study(const TrainingStudySettings& s, Index k, const std::function<void(Index)>& progress,
                              const StudyCheckpointing& checkpointing) {
  const auto tick = [&](Index units) {
    if (progress) progress(units);
  };
  SeedResult result;
  result.seed_index = k;
  const auto sde = make_sde(s.sde);
  // A data file without data.from_target has no target: no exact density, no oracle floors.
  const auto target =
      s.has_target() ? std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(s.target_mu, s.target_var))
                     : nullptr;
  // Independent streams for data, initialization and training noise. A
  // resumed seed draws the same data and initialization again (the model's
  // fixed random parts, e.g. the time embedding, come from init_rng), then
  // takes its parameters and training stream from the checkpoint.
  const auto kk = static_cast<std::uint64_t>(k);
  Rng init_rng = Rng::stream(s.seed, {kStreamInit, kk});
  Rng train_rng = Rng::stream(s.seed, {kStreamTrain, kk});
  const Matrix data = training_set(s, k);
  auto model = make_score_model(s.model, s.dim(), sde, init_rng);
  Trainer trainer(*model, sde, data, target, s.train.trainer, train_rng);

  TrainingPhase phase(s, k, *model, trainer, checkpointing);
  result.resumed_from_epoch = phase.start();
  if (result.resumed_from_epoch > 0) tick(result.resumed_from_epoch);
  const auto train_start = std::chrono::steady_clock::now();
  phase.train(result, tick);
  result.diagnostics.train_seconds = seconds_since(train_start);

  const TrainedSeed trained{s, k, sde, target, data, *model, phase.state()};
  if (!evaluate_seed(trained, result, tick)) {
    // Training is complete (or failed); only the evaluations are missing and
    // a resume redoes them from the final state.
    if (!result.failure) phase.save();
    throw Interrupted(fmt::format("seed {} stopped during its evaluations", k));
  }
  return result;
}

}  // namespace diffgen
