// One seed of a training study (Li2023 §4.1): draw a training set from a 1-D
// two-mode mixture, train a score model on the denoising loss, and measure
// KL(p_target ‖ p_learned) along training with both definitions of the
// learned density (THEORY.md §5), next to the two oracle floors, together
// with the memorization measures of THEORY.md §8 that tell a generalizing
// model from a memorizing one: KL (a) at a smaller t0, where the memorized
// model's KL is far above a perfect learner's; KL from the empirical
// oracle's density to the learned one; and the nearest-neighbour ratio and
// distances of generated samples, each beside its value for fresh target
// samples. It is the task of early-stopping, mode-shift, optimizers and
// capacity (experiments/study_grid.hpp), which differ only in settings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/options.hpp"
#include "metrics/kl.hpp"
#include "metrics/memorization.hpp"
#include "models/registry.hpp"
#include "sampling/registry.hpp"
#include "sde/sde.hpp"
#include "training/checkpoint.hpp"
#include "training/train_options.hpp"

namespace diffgen {

struct TrainingStudySettings {
  std::uint64_t seed = 0;  // base seed; seed k draws from streams of (seed, k)
  Index n = 1000;          // training-set size
  // Training data from a user file instead of the target (any dimension).
  // Without a target there is no exact density, so no KL: the run reports the
  // training loss and the memorization of generated samples.
  std::string data_file;
  std::shared_ptr<const Matrix> data;  // the file's points, loaded by training_study_settings
  // With data.file: the file's points are samples of the target below (e.g. a
  // run's train-seed-K.npy), so KL and the oracle floors are measured against
  // the target, on the file's training set.
  bool data_from_target = false;
  double target_mu = 3.0;              // modes at ±mu: ½N(-mu, var) + ½N(mu, var)
  double target_var = 1.0;
  SdeOptions sde;
  ModelOptions model;
  TrainOptions train = li2023_training();
  Index kl_every = 10;  // KL (a) every this many epochs (and at the last)
  KlOptions kl;
  // KL (a) again at the smaller kl_small.t0 (0: off), at every KL (a)
  // evaluation. At t0 = 0.065 the memorized model's KL is only a few times the
  // perfect learner's; at 0.01 about a thousand times (see kl.t0_small).
  // Always the fine method, on kl's interval with the nodes raised where
  // needed so that s(t0) spans kMinNodesPerBandwidth steps (grid_resolving).
  KlOptions kl_small{0.01};
  // Training sets per seed, drawn besides the seed's own, on which the exact
  // KL(p_0 ‖ p_emp,t0) of a model that memorized them is computed at kl.t0
  // and kl.t0_small: the memorizer-to-perfect-learner ratio with an interval.
  Index memorizer_sets = 40;
  Index kl_ode_every = 100;  // KL (b) every this many epochs (and at the last); 0: never
  KlPfOdeOptions kl_ode;
  std::vector<Index> plot_epochs{0, 100, 200, 500, 1000, 2000};  // learned densities kept for plots
  std::vector<Index> snapshot_epochs;  // the plot epochs that are KL (a) epochs of this run
  Index checkpoint_every = 100;        // save a checkpoint every this many epochs (and at the last); 0: never
  // Memorization of generated samples (THEORY.md §8), every this many epochs
  // (and at the last); 0: never. With a target, also the baseline: the same
  // measures for fresh target samples.
  Index memorization_every = 500;
  Index memorization_samples = 500;
  // Also sample the empirical oracle (the memorized training set) with the
  // same sampler: the memorizer's end of each sample-based measure. Costs
  // O(n) per score evaluation (seconds per seed at n = 1000), so it is opt-in.
  bool memorization_memorizer = false;
  MemorizationOptions memorization;
  SamplerOptions sampler;  // the sampler of the memorization measures

  bool has_target() const { return data == nullptr || data_from_target; }
  Index dim() const { return data ? data->cols() : 1; }
  bool has_kl_small() const { return has_target() && kl_small.t0 > 0.0; }

  // Li2023's training (§4.1.1): SGD, lr 0.5, batch 32, 2000 epochs.
  static TrainOptions li2023_training();
};

// Seed k's training set: the data file's points, or s.n draws of the target
// from stream (seed, kStreamData, k). Every run writes it as train-seed-K.npy.
Matrix training_set(const TrainingStudySettings& s, Index k);

// Every key of the training study: seed, data.*, target.*, sde.*, model.*,
// train.*, kl.*, kl.ode.*, memorization.*, sampler.*, plot.epochs,
// checkpoint.every; defaults from TrainingStudySettings (Li2023's setup).
const OptionTable<TrainingStudySettings>& training_study_options();

// Declares the keys with `defaults`' values, except `except` (the keys an
// experiment sets itself, e.g. target.mu for mode-shift).
void add_training_study_keys(Schema& schema, const TrainingStudySettings& defaults = {},
                             const std::vector<std::string>& except = {});

// The settings of a config with (some of) those keys, checked: ConfigError
// names the keys of contradictory settings; DataError a bad data.file (read here).
TrainingStudySettings training_study_settings(const Config& config, TrainingStudySettings defaults = {});
// The same checks and derived settings (grids, snapshot epochs, the data) for
// settings changed in code, e.g. one variant of mode-shift.
void complete_training_study_settings(TrainingStudySettings& settings);

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
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Index epoch = 0;
  Index steps = 0;
  double train_loss = 0.0;  // mean loss over the epoch; NaN at epoch 0 (no training yet)
  double kl_a = kNaN;       // NaN where not evaluated
  double kl_b = kNaN;
  // The error estimate of kl_b: Simpson's Richardson estimate plus the PF-ODE
  // solver's (KlSummary::error()).
  double kl_b_error = kNaN;
  double memorized_fraction = kNaN;
  double nn_distance = kNaN;  // mean distance of samples to the training set
  // Where KL (a) is evaluated (NaN elsewhere, and without a target):
  double kl_a_small = kNaN;  // KL (a) at kl.t0_small (NaN when off)
  // KL(p_emp,t0 ‖ q_t0): from the empirical oracle's density (1/n) Σ N(a(t0) x_i,
  // s(t0)²) to the learned density (a), at kl.t0 and at kl.t0_small. A memorizing
  // model drives it to 0; a generalizing one keeps it above its KL to the target.
  double kl_emp_a = kNaN;
  double kl_emp_a_small = kNaN;
  double weight_right = kNaN;  // learned (a) mass on x > 0 (the target's: ½)
  // Where memorization is evaluated, with a target (NaN elsewhere):
  double memorized_baseline = kNaN;  // the seed's MemorizationBaseline fraction
  double nn_distance_fresh = kNaN;   // mean distance of samples to fresh samples
  // Fraction of samples nearer to the training set than to the fresh set (½ for
  // samples independent of the training set; a memorizer's tends to 1).
  double closer_to_train = kNaN;
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
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double population_a = 0.0;  // perfect learner, definition (a): the smoothing floor
  double empirical_a = 0.0;   // memorized training set, definition (a)
  // Definition (b). The perfect learner's PF-ODE output under the run's
  // prior (kl.ode.prior), and that value's error estimate (quadrature and
  // solver). With the Gaussian prior it is the prior mismatch, not smoothing.
  double population_b = 0.0;
  double population_b_error = 0.0;
  // Its two parts, each exact by quadrature: the smoothing floor KL(p_0 ‖ p_ε)
  // (0 against the smoothed reference), the best any learner can do at ε; and
  // the prior mismatch KL(p_T ‖ N(0, prior_std²)), which the PF-ODE carries to
  // ε unchanged (metrics/kl.hpp, kl_prior_mismatch).
  double smoothing_b = kNaN;
  double prior_mismatch_b = kNaN;
  // The memorized training set at ε, its exact density (see kl_empirical_floor):
  // what its PF-ODE generates from its own law at T, whatever kl.ode.prior
  // says; from N(0, prior_std²) instead, the output is KL(p_emp,T ‖ N(0,
  // prior_std²)) = prior_mismatch_emp_b away from that density.
  double empirical_b = 0.0;
  double prior_mismatch_emp_b = kNaN;
  // Definition (a) at kl.t0_small (NaN when off): the perfect learner's
  // smoothing floor, and the memorized training set's KL, far above it.
  double population_a_small = kNaN;
  double empirical_a_small = kNaN;
  // KL(p_emp,t0 ‖ q) for the population oracle's q (= p_t0): what a perfect
  // learner scores on the KL-to-the-empirical-density measure (the empirical
  // oracle scores 0 on it), at kl.t0 and kl.t0_small.
  double population_emp_a = kNaN;
  double population_emp_a_small = kNaN;
  // Exact by quadrature, for the memorizer-to-perfect-learner ratio: the
  // smoothing floor KL(p_0 ‖ p_t0) at kl.t0 and kl.t0_small (NaN against the
  // smoothed reference, where it is 0), and KL(p_0 ‖ p_emp,t0) for each of
  // memorizer_sets further training sets (empty when off).
  double smoothing_a = kNaN;
  double smoothing_a_small = kNaN;
  std::vector<double> memorizer_a_sets;
  std::vector<double> memorizer_a_small_sets;
  // The floors that could not be computed (e.g. the PF-ODE past its step
  // limit), each "which: why"; their values are NaN, and the run reports
  // them with exit code 4 after writing everything else.
  std::vector<std::string> failures;
};

// The memorization measures of a reference sample set in place of generated
// samples: as many points as memorization.samples, against the training set
// and against a fresh target sample of the training set's size
// (nearest-neighbour distances shrink with the set's size, so only equal sizes
// compare). For fresh target samples it is what a model that samples the
// target exactly scores; in 1-D their fraction tends to the ratio threshold
// itself (metrics/memorization.hpp), e.g. 1/3.
struct MemorizationBaseline {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double memorized_fraction = kNaN;
  double memorized_fraction_se = kNaN;
  double nn_distance = kNaN;        // mean, to the training set
  double nn_distance_fresh = kNaN;  // mean, to the fresh reference set
  double nn_distance_se = kNaN;     // standard errors of the two means
  double nn_distance_fresh_se = kNaN;
  double closer_to_train = kNaN;  // nearer to the training set than to the fresh set
  double closer_to_train_se = kNaN;
};

struct StudyDiagnostics {
  double max_target_mass_outside = 0.0;
  double max_quadrature_error_a = 0.0;
  double max_quadrature_error_b = 0.0;
  double max_solver_error_b = 0.0;  // KlSummary::solver_error of KL (b)
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
  Index resumed_from_epoch = -1;  // the checkpoint's epoch when resumed; -1: a fresh start
};

// Where a seed saves its progress: its checkpoint file (empty: none, not even
// on a stop) and the run it belongs to, recorded in the checkpoint so that a
// resume under other settings is refused naming what differs.
struct StudyCheckpointing {
  std::filesystem::path file;
  std::string experiment;
  const Config* config = nullptr;  // the run's resolved configuration
  Index seeds = 1;                 // the run's seed count
};

// Work units of one seed, for progress: epochs trained plus evaluations.
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
// Numerical failures are recorded in the result, not thrown.
//
// With checkpointing.file set, the training state is saved every
// settings.checkpoint_every epochs and at the last; when the file exists at
// the start, training continues from it (after checking it belongs to this
// run), bit-identically to an uninterrupted run. interrupt_requested() is
// polled at every epoch boundary and before each evaluation: the seed then
// saves its state (whatever checkpoint_every says) and throws Interrupted.
SeedResult run_training_study(const TrainingStudySettings& settings, Index k,
                              const std::function<void(Index units)>& progress = {},
                              const StudyCheckpointing& checkpointing = {});

// A seed's result as JSON and back, every double exactly (NaN and ±inf too,
// in the binary forms the engine stores).
nlohmann::json seed_result_to_json(const SeedResult& result);
SeedResult seed_result_from_json(const nlohmann::json& json);

}  // namespace diffgen
