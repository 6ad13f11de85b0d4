// One seed of a training study (Li2023 §4.1): draw a training set from a 1-D
// two-mode mixture, train a score model on the denoising loss, and measure
// KL(p_target ‖ p_learned) along training with both definitions of the
// learned density (THEORY.md §5), next to the two oracle floors. The
// early-stopping experiment runs this for K seeds; its variants (mode
// distance, optimizers, width) change only the settings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "experiments/checkpoint.hpp"
#include "metrics/kl.hpp"
#include "metrics/memorization.hpp"
#include "models/random_features.hpp"
#include "models/reference_mlp.hpp"
#include "sde/sde.hpp"
#include "training/trainer.hpp"

namespace diffgen {

struct TrainingStudySettings {
  std::uint64_t seed = 0;  // base seed; seed k draws from streams of (seed, k)
  Index n = 1000;          // training-set size
  double target_mu = 3.0;  // modes at ±mu: ½N(-mu, var) + ½N(mu, var)
  double target_var = 1.0;
  SdeOptions sde;
  std::string model = "mlp";  // mlp (the reference network) | random-features
  ReferenceMlpOptions mlp;
  RandomFeatureOptions random_features;
  TrainerOptions trainer;
  Index epochs = 2000;
  Index kl_every = 10;  // KL (a) every this many epochs (and at the last)
  KlOptions kl;
  Index kl_ode_every = 100;  // KL (b) every this many epochs (and at the last); 0: never
  KlPfOdeOptions kl_ode;
  std::vector<Index> snapshot_epochs;  // learned densities kept for plots
  Index checkpoint_every = 100;        // save a checkpoint every this many epochs (and at the last); 0: never
  // Training data from a user file instead of the target (any dimension).
  // Without a target there is no exact density, so no KL: the run reports the
  // training loss and the memorization of generated samples.
  std::string data_file;
  std::shared_ptr<const Matrix> data;  // the file's points, loaded by from_config
  // Memorization of generated samples (THEORY.md §8), every this many epochs
  // (and at the last); 0: never. Samples by reverse-SDE Euler–Maruyama.
  Index memorization_every = 0;
  Index memorization_samples = 500;
  Index memorization_steps = 500;
  MemorizationOptions memorization;

  bool has_target() const { return data == nullptr; }
  Index dim() const { return data ? data->cols() : 1; }

  // The settings of an experiment's config (keys of add_training_study_keys).
  static TrainingStudySettings from_config(const Config& config);
};

// Declares the keys read by TrainingStudySettings::from_config, with the
// authors' configuration (Li2023 §4.1.1, THEORY.md §4–§5) as defaults.
void add_training_study_keys(Schema& schema);

// One evaluation along training.
struct StudyRow {
  Index epoch = 0;
  Index steps = 0;
  double train_loss = 0.0;  // mean loss over the epoch; NaN at epoch 0 (no training yet)
  double kl_a = 0.0;        // NaN where not evaluated
  double kl_b = 0.0;        // NaN where not evaluated
  double memorized_fraction = std::numeric_limits<double>::quiet_NaN();  // NaN where not evaluated
  double nn_distance = std::numeric_limits<double>::quiet_NaN();         // mean distance of samples to the training set
};

struct DensitySnapshot {
  Index epoch = 0;
  Vector x;             // grid of definition (a)
  Vector log_p;         // the reference density of the KL
  Vector log_q_a;       // score-integrated density
  Vector x_b, log_q_b;  // PF-ODE density (empty where (b) was not evaluated at this epoch)
};

// Reference floors: the same KL with an exact score in place of the model.
struct OracleFloors {
  double population_a = 0.0;  // perfect learner, definition (a): the smoothing floor
  double empirical_a = 0.0;   // memorized training set, definition (a)
  double population_b = 0.0;  // perfect learner, definition (b), same prior as the model
  double empirical_b = 0.0;   // memorized training set at ε, exact density (see kl_empirical_floor)
};

struct StudyDiagnostics {
  double max_target_mass_outside = 0.0;
  double max_quadrature_error_a = 0.0;
  double max_quadrature_error_b = 0.0;
  Index ode_steps = 0;
  Index ode_rejected_steps = 0;
  double train_seconds = 0.0;
  double kl_a_seconds = 0.0;
  double kl_b_seconds = 0.0;
  double floors_seconds = 0.0;
  double memorization_seconds = 0.0;
};

struct SeedResult {
  Index seed_index = 0;
  std::vector<StudyRow> rows;
  std::vector<DensitySnapshot> snapshots;
  OracleFloors floors;
  StudyDiagnostics diagnostics;
  // Set when the seed stopped early (training diverged, a non-finite KL):
  // rows hold everything computed before.
  std::optional<std::string> failure;
  Index failed_epoch = -1;
  // Set when a stop was requested (interrupt_requested()) before the seed
  // finished: its state is in its checkpoint and rows/snapshots are empty.
  bool interrupted = false;
  Index resumed_from_epoch = -1;  // the checkpoint's epoch when resumed; -1: a fresh start
};

// Where seed k saves its progress and what it continues from.
struct StudyCheckpointing {
  std::filesystem::path file;  // empty: no checkpoints, not even on an interrupt
  std::string experiment;      // recorded in the checkpoint, with the settings below
  std::string config_toml;     // the run's Config::to_toml()
  Index seeds = 1;             // the run's seed count
  // Continue from here instead of from scratch; must have passed
  // check_checkpoint_matches and check_resumable.
  std::optional<StudyCheckpoint> resume;
};

// Work units of one seed, for progress: epochs trained plus KL evaluations.
Index training_study_work(const TrainingStudySettings& settings);

// Throws DataError naming `file` when a checkpoint that matches the settings
// (check_checkpoint_matches) still cannot be continued under them: trained
// past the last epoch, kept copies at other epochs, another parameter count or
// optimizer state size.
void check_resumable(const StudyCheckpoint& checkpoint, const TrainingStudySettings& settings,
                     const std::filesystem::path& file);

// Runs seed k: trains while keeping a copy of the parameters at every
// evaluation epoch, then evaluates all copies and the oracle floors as
// independent parallel tasks (bit-identical for any thread count).
// `progress(units)` is called as work completes (from any thread).
// Numerical failures are caught and recorded in the result, not thrown.
//
// With checkpointing.file set, the training state is saved every
// settings.checkpoint_every epochs and at the last; training continues from
// checkpointing.resume when given, bit-identically to an uninterrupted run.
// interrupt_requested() is polled at every epoch boundary and before each
// evaluation: the seed then saves its state (whatever checkpoint_every says)
// and returns with `interrupted` set. A seed asked to stop before it starts
// returns at once and leaves its checkpoint as it was.
SeedResult run_training_study(const TrainingStudySettings& settings, Index k,
                              const std::function<void(Index units)>& progress = {},
                              StudyCheckpointing checkpointing = {});

}  // namespace diffgen
