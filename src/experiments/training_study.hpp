// One seed of a training study (Li2023 §4.1): draw a training set from a 1-D
// two-mode mixture, train a score model on the denoising loss, and measure
// KL(p_target ‖ p_learned) along training with both definitions of the
// learned density (THEORY.md §5), next to the two oracle floors, together
// with the memorization measures of THEORY.md §8 that tell a generalizing
// model from a memorizing one: KL (a) at a smaller t0, where the memorized
// model's KL is far above a perfect learner's; KL from the empirical
// oracle's density to the learned one; and the nearest-neighbour ratio and
// distances of generated samples, each beside its value for fresh target
// samples. The early-stopping experiment runs this for K seeds; its variants
// (mode distance, optimizers, width) change only the settings.
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
  // fixed: mlp.output_scale is the key output_scale (the authors' 1/16);
  // width: output_scale · √(16 / hidden) (equal at H = 16). from_config applies it.
  std::string output_scaling = "fixed";
  ReferenceMlpOptions mlp;
  RandomFeatureOptions random_features;
  TrainerOptions trainer;
  // After this many epochs, train on with a fresh switch_optimizer (Li2023
  // Fig. 10: SGD, then Adam); 0: never.
  Index switch_epoch = 0;
  OptimizerOptions switch_optimizer;
  Index epochs = 2000;
  Index kl_every = 10;  // KL (a) every this many epochs (and at the last)
  KlOptions kl;
  // KL (a) again at the smaller kl_small.t0 (0: off), at every KL (a)
  // evaluation. At t0 = 0.065 the memorized model's KL is only a few times the
  // perfect learner's; at 0.01 about a thousand times (see kl.t0_small).
  // Always the fine method, on kl's interval with the nodes raised where
  // needed so that s(t0) spans kMinNodesPerBandwidth steps (grid_resolving).
  KlOptions kl_small{0.01};
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
  // (and at the last); 0: never. Samples by reverse-SDE Euler–Maruyama. With
  // a target, also the baseline: the same measures for fresh target samples.
  Index memorization_every = 500;
  Index memorization_samples = 500;
  Index memorization_steps = 200;
  // The sampler's time grid: "geometric" (equal ratios, as many steps in every
  // decade of t down to eps) or "uniform". Copies are made in the last steps:
  // the uniform grid's last step denoises from s(T/steps) ≈ 0.045, blurring a
  // memorizer's samples over ~20 training points at n = 1000.
  std::string memorization_time_grid = "geometric";
  // Also sample the empirical oracle (the memorized training set) with the
  // same sampler: the memorizer's end of each sample-based measure. Costs
  // O(n) per score evaluation (seconds per seed at n = 1000), so it is opt-in.
  bool memorization_memorizer = false;
  MemorizationOptions memorization;

  bool has_target() const { return data == nullptr; }
  Index dim() const { return data ? data->cols() : 1; }
  bool has_kl_small() const { return has_target() && kl_small.t0 > 0.0; }

  // The settings of an experiment's config (keys of add_training_study_keys).
  static TrainingStudySettings from_config(const Config& config);
};

// Declares the keys read by TrainingStudySettings::from_config, with the
// authors' configuration (Li2023 §4.1.1, THEORY.md §4–§5) as defaults.
void add_training_study_keys(Schema& schema);

// The mlp's output constant c for `output_scaling` ("fixed" | "width"):
// output_scale, or output_scale · √(16 / hidden). Throws ConfigError otherwise.
double effective_output_scale(const std::string& output_scaling, double output_scale, Index hidden);

// The fewest grid nodes per s(t0) for which definition (a) resolves the
// empirical oracle's density (1/n) Σ N(a x_i, s²): on the two-mode target
// with n = 1000 the Richardson error of its KL is ~1e-8 at 10 nodes per s,
// ~1e-6 at 7, and ~1e-4 (under-estimated 5-fold) at 4.5.
inline constexpr double kMinNodesPerBandwidth = 6.0;
// The most nodes grid_resolving gives before refusing.
inline constexpr Index kMaxResolvingNodes = 400'001;

// `grid` itself when its step is at most bandwidth / kMinNodesPerBandwidth,
// else the same interval with the fewest 4k + 1 nodes that are that fine.
// Throws ConfigError naming `key` when that takes over kMaxResolvingNodes.
Grid grid_resolving(const Grid& grid, double bandwidth, const std::string& key);

// One evaluation along training.
struct StudyRow {
  Index epoch = 0;
  Index steps = 0;
  double train_loss = 0.0;  // mean loss over the epoch; NaN at epoch 0 (no training yet)
  double kl_a = 0.0;        // NaN where not evaluated
  double kl_b = 0.0;        // NaN where not evaluated
  double memorized_fraction = std::numeric_limits<double>::quiet_NaN();  // NaN where not evaluated
  double nn_distance = std::numeric_limits<double>::quiet_NaN();         // mean distance of samples to the training set
  // Where KL (a) is evaluated (NaN elsewhere, and without a target):
  double kl_a_small = std::numeric_limits<double>::quiet_NaN();  // KL (a) at kl.t0_small (NaN when off)
  // KL(p_emp,t0 ‖ q_t0): from the empirical oracle's density (1/n) Σ N(a(t0) x_i,
  // s(t0)²) to the learned density (a), at kl.t0 and at kl.t0_small. A memorizing
  // model drives it to 0; a generalizing one keeps it above its KL to the target.
  double kl_emp_a = std::numeric_limits<double>::quiet_NaN();
  double kl_emp_a_small = std::numeric_limits<double>::quiet_NaN();
  double weight_right = std::numeric_limits<double>::quiet_NaN();  // learned (a) mass on x > 0 (the target's: ½)
  // Where memorization is evaluated, with a target (NaN elsewhere):
  double nn_distance_fresh = std::numeric_limits<double>::quiet_NaN();   // mean distance of samples to fresh samples
  double memorized_baseline = std::numeric_limits<double>::quiet_NaN();  // the seed's MemorizationBaseline fraction
  // Fraction of samples nearer to the training set than to the fresh set (½ for
  // samples independent of the training set; a memorizer's tends to 1).
  double closer_to_train = std::numeric_limits<double>::quiet_NaN();
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
  // Definition (a) at kl.t0_small (NaN when off): the perfect learner's
  // smoothing floor, and the memorized training set's KL, far above it.
  double population_a_small = std::numeric_limits<double>::quiet_NaN();
  double empirical_a_small = std::numeric_limits<double>::quiet_NaN();
  // KL(p_emp,t0 ‖ q) for the population oracle's q (= p_t0): what a perfect
  // learner scores on the KL-to-the-empirical-density measure (the empirical
  // oracle scores 0 on it), at kl.t0 and kl.t0_small.
  double population_emp_a = std::numeric_limits<double>::quiet_NaN();
  double population_emp_a_small = std::numeric_limits<double>::quiet_NaN();
};

// The memorization measures of a reference sample set in place of generated
// samples: as many points as memorization.samples, against the training set
// and against a fresh target sample of the training set's size
// (nearest-neighbour distances shrink with the set's size, so only equal sizes
// compare). For fresh target samples it is what a model that samples the
// target exactly scores; in 1-D their fraction tends to the ratio threshold
// itself (metrics/memorization.hpp), e.g. 1/3.
struct MemorizationBaseline {
  double memorized_fraction = std::numeric_limits<double>::quiet_NaN();
  double memorized_fraction_se = std::numeric_limits<double>::quiet_NaN();
  double nn_distance = std::numeric_limits<double>::quiet_NaN();        // mean, to the training set
  double nn_distance_fresh = std::numeric_limits<double>::quiet_NaN();  // mean, to the fresh reference set
  double nn_distance_se = std::numeric_limits<double>::quiet_NaN();     // standard errors of the two means
  double nn_distance_fresh_se = std::numeric_limits<double>::quiet_NaN();
  double closer_to_train =
      std::numeric_limits<double>::quiet_NaN();  // nearer to the training set than to the fresh set
  double closer_to_train_se = std::numeric_limits<double>::quiet_NaN();
};

struct StudyDiagnostics {
  double max_target_mass_outside = 0.0;
  double max_quadrature_error_a = 0.0;
  double max_quadrature_error_b = 0.0;
  double max_quadrature_error_a_small = 0.0;  // KL (a) at kl.t0_small
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
  MemorizationBaseline memorization_baseline;  // fresh target samples; NaN without a target or without memorization
  // The empirical oracle's samples (same sampler); NaN unless memorization_memorizer.
  MemorizationBaseline memorization_memorizer;
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
