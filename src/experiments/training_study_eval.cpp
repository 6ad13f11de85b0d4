// Tested by training_study_test.cpp.
#include "experiments/training_study_eval.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "likelihood/score_integration.hpp"
#include "models/oracles.hpp"

namespace diffgen {
namespace {

// Stream ids (after kStreamEval, k) of the fresh target samples of the
// memorization baseline; generated samples use (kStreamEval, k, epoch), and
// epochs never reach this value.
constexpr std::uint64_t kFreshSamples = ~std::uint64_t{0};

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

// The evaluations of one kept epoch and what they found.
struct Snapshot {
  StudyRow row;
  const KeptParameters* kept = nullptr;
  bool kl_a = false, kl_b = false, memorization = false;
  KlSummary a, b;
  double quadrature_error_a_small = 0.0;
  MemorizationSummary m;
  std::optional<std::string> failure;
};

class SeedEvaluation {
 public:
  SeedEvaluation(const TrainedSeed& seed, SeedResult& result)
      : seed_(seed), s_(seed.settings), result_(result), sde_(*seed.sde) {}

  bool run(const std::function<void(Index)>& tick) {
    plan_snapshots();
    prepare_references();
    add_floor_tasks();
    floor_tasks_ = tasks_.size();
    add_model_tasks();
    if (!run_tasks(tick)) return false;
    for (auto& f : floor_failures_)
      if (f) result_.floors.failures.push_back(std::move(*f));
    assemble();
    attribute_times();
    return true;
  }

 private:
  std::unique_ptr<TrainableScoreModel> model_at(const KeptParameters& kept) const {
    auto copy = seed_.model.clone();
    copy->parameters() = kept.parameters;
    return copy;
  }

  bool snapshot_epoch(Index epoch) const {
    return std::find(s_.snapshot_epochs.begin(), s_.snapshot_epochs.end(), epoch) != s_.snapshot_epochs.end();
  }

  void plan_snapshots() {
    snaps_.reserve(seed_.state.rows.size());
    auto next_kept = seed_.state.kept.begin();
    for (const auto& r : seed_.state.rows) {
      Snapshot snap;
      snap.row.epoch = r.epoch;
      snap.row.steps = r.steps;
      snap.row.train_loss = r.train_loss;
      snap.kl_a = kl_a_due(s_, r.epoch);
      snap.kl_b = kl_b_due(s_, r.epoch);
      snap.memorization = memorization_due(s_, r.epoch);
      if (snap.kl_a || snap.kl_b || snap.memorization) snap.kept = &*next_kept++;
      snaps_.push_back(std::move(snap));
    }
  }

  // The empirical oracle's density p_emp,t0 at the nodes of definition (a)
  // (at t0 and t0_small), the reference of the KL-to-the-empirical-density
  // measure; and fresh target samples for the memorization baseline. Both
  // depend on the data only, so they are computed once per seed.
  void prepare_references() {
    const auto& data = seed_.data;
    if (seed_.target) {
      const Grid nodes_a = s_.kl.evaluation_grid();
      log_emp_a_ = empirical_mixture_log_density(data.col(0), sde_.a(s_.kl.t0), sde_.s(s_.kl.t0), nodes_a.nodes());
      if (s_.has_kl_small())
        log_emp_small_ = empirical_mixture_log_density(data.col(0), sde_.a(s_.kl_small.t0), sde_.s(s_.kl_small.t0),
                                                       s_.kl_small.grid.nodes());
    }
    with_baseline_ = seed_.target && s_.memorization_every > 0;
    if (with_baseline_) {
      const auto k = static_cast<std::uint64_t>(seed_.k);
      Rng ref_rng = Rng::stream(s_.seed, {kStreamEval, k, kFreshSamples, 0});
      Rng sample_rng = Rng::stream(s_.seed, {kStreamEval, k, kFreshSamples, 1});
      fresh_reference_ = seed_.target->sample(data.rows(), ref_rng);
      fresh_samples_ = seed_.target->sample(s_.memorization_samples, sample_rng);
    }
    population_ = seed_.target ? make_population_oracle(seed_.target, seed_.sde) : nullptr;
    empirical_ = make_empirical_oracle(data, seed_.sde);
  }

  // The measures of THEORY.md §8 for a reference sample set.
  void reference_measures(const Matrix& samples, MemorizationBaseline& b) const {
    const MemorizationSummary m = diffgen::memorization(samples, seed_.data, fresh_reference_, s_.memorization);
    b.memorized_fraction = m.memorized_fraction;
    b.memorized_fraction_se = m.memorized_fraction_se;
    b.nn_distance = m.mean_nn_distance_train;
    b.nn_distance_fresh = m.mean_nn_distance_reference;
    b.nn_distance_se = m.mean_nn_distance_train_se;
    b.nn_distance_fresh_se = m.mean_nn_distance_reference_se;
    b.closer_to_train = m.closer_to_training_fraction;
    b.closer_to_train_se = m.closer_to_training_fraction_se;
  }

  // Samples of `model` by the memorization sampler, from stream (kStreamEval, k, ids...).
  Matrix sample(const ScoreModel& model, Rng& rng) const {
    const Matrix x_T = sde_.sample_prior(s_.memorization_samples, seed_.data.cols(), rng);
    const Vector grid = make_time_grid(s_.sampler.time_grid, sde_.T(), s_.sde.eps, s_.sampler.steps);
    return make_sampler(s_.sampler.kind)(model, sde_, x_T, grid, rng, {});
  }

  using Field = double OracleFloors::*;

  // A floor task: when it fails numerically its fields become NaN (never a
  // half-computed or default value) and the failure is kept, so that every
  // per-epoch KL is still written and the run ends with exit code 4.
  void add_floor(std::string what, std::vector<Field> fields, std::function<void()> compute) {
    const std::size_t slot = floor_failures_.size();
    floor_failures_.emplace_back();
    tasks_.push_back([this, slot, what = std::move(what), fields = std::move(fields), compute = std::move(compute)] {
      try {
        compute();
      } catch (const NumericalError& e) {
        for (const Field f : fields) result_.floors.*f = OracleFloors::kNaN;
        floor_failures_[slot] = what + ": " + e.what();
      }
    });
  }

  void add_floor_tasks() {
    const auto& target = seed_.target;
    auto& floors = result_.floors;
    using F = OracleFloors;
    if (target) {
      add_floor("the perfect learner's KL (a)", {&F::population_a, &F::population_emp_a}, [&] {
        const KlSummary p = kl_score_integrated(*population_, *target, sde_, s_.kl);
        floors.population_a = p.kl;
        floors.population_emp_a = kl_against_learned(p, log_emp_a_).kl;
      });
      add_floor("the memorizer's KL (a)", {&F::empirical_a},
                [&] { floors.empirical_a = kl_score_integrated(*empirical_, *target, sde_, s_.kl).kl; });
    }
    if (s_.has_kl_small()) {
      add_floor("the perfect learner's KL (a) at kl.t0_small", {&F::population_a_small, &F::population_emp_a_small},
                [&] {
                  const KlSummary p = kl_score_integrated(*population_, *target, sde_, s_.kl_small);
                  floors.population_a_small = p.kl;
                  floors.population_emp_a_small = kl_against_learned(p, log_emp_small_).kl;
                });
      add_floor("the memorizer's KL (a) at kl.t0_small", {&F::empirical_a_small},
                [&] { floors.empirical_a_small = kl_score_integrated(*empirical_, *target, sde_, s_.kl_small).kl; });
    }
    if (with_baseline_) tasks_.push_back([&] { reference_measures(fresh_samples_, result_.memorization_baseline); });
    if (with_baseline_ && s_.memorization_memorizer)
      tasks_.push_back([&] {
        // The memorizer sampled like the model: same prior, time grid and sampler.
        Rng rng = Rng::stream(s_.seed, {kStreamEval, static_cast<std::uint64_t>(seed_.k), kFreshSamples, 2});
        reference_measures(sample(*empirical_, rng), result_.memorization_memorizer);
      });
    if (target && s_.kl_ode_every > 0) add_floor_b_tasks(*target, floors);
    if (target && s_.memorizer_sets > 0 && s_.kl.reference == KlReference::Clean) add_memorizer_tasks(*target, floors);
  }

  // Definition (b): the perfect learner under the run's prior, and the exact
  // parts that value is made of; the memorized set's exact density at ε and
  // its own prior mismatch.
  void add_floor_b_tasks(const Target& target, OracleFloors& floors) {
    using F = OracleFloors;
    add_floor("the perfect learner's KL (b)", {&F::population_b, &F::population_b_error}, [&] {
      const KlSummary p = kl_pf_ode(*population_, target, sde_, s_.kl_ode);
      floors.population_b = p.kl;
      floors.population_b_error = p.error();
    });
    add_floor("the smoothing floor and prior mismatch of KL (b)", {&F::smoothing_b, &F::prior_mismatch_b}, [&] {
      const double eps = s_.kl_ode.ode.eps;
      floors.smoothing_b = s_.kl_ode.reference == KlReference::Clean
                               ? kl_smoothing_floor(target, sde_.a(eps), sde_.s(eps), s_.kl.grid)
                               : 0.0;
      floors.prior_mismatch_b = kl_prior_mismatch(target, sde_, s_.target_mu + 12.0 * std::sqrt(s_.target_var)).kl;
    });
    add_floor("the memorizer's KL (b)", {&F::empirical_b, &F::prior_mismatch_emp_b}, [&] {
      const double eps = s_.kl_ode.ode.eps;
      floors.empirical_b =
          kl_empirical_floor(target, seed_.data.col(0), sde_.a(eps), sde_.s(eps), s_.kl.grid.lo, s_.kl.grid.hi).kl;
      floors.prior_mismatch_emp_b = kl_prior_mismatch(Vector(seed_.data.col(0)), sde_).kl;
    });
  }

  // The memorizer's exact KL (a), KL(p_0 ‖ p_emp,t0), on memorizer_sets
  // training sets drawn from streams of their own, and the perfect learner's
  // exact KL(p_0 ‖ p_t0), at kl.t0 and kl.t0_small.
  void add_memorizer_tasks(const Target& target, OracleFloors& floors) {
    const auto k = static_cast<std::uint64_t>(seed_.k);
    for (Index j = 0; j < s_.memorizer_sets; ++j) {
      Rng rng = Rng::stream(s_.seed, {kStreamData, k, static_cast<std::uint64_t>(j) + 1});
      memorizer_sets_.push_back(target.sample(s_.n, rng).col(0));
    }
    const auto at = [&](const KlOptions& kl, Field smoothing, std::vector<double>& sets) {
      add_floor(fmt::format("the memorizer-to-perfect-learner ratio at t0 = {}", format_double(kl.t0)), {smoothing},
                [&, smoothing, t0 = kl.t0, grid = kl.grid] {
                  const double a = sde_.a(t0), s = sde_.s(t0);
                  floors.*smoothing = kl_smoothing_floor(target, a, s, grid);
                  std::vector<double> kls;  // all sets or none
                  for (const auto& d : memorizer_sets_) {
                    throw_if_interrupted("the memorizer's training sets");
                    kls.push_back(kl_empirical_floor(target, d, a, s, grid.lo, grid.hi).kl);
                  }
                  sets = std::move(kls);
                });
    };
    at(s_.kl, &OracleFloors::smoothing_a, floors.memorizer_a_sets);
    if (s_.has_kl_small()) at(s_.kl_small, &OracleFloors::smoothing_a_small, floors.memorizer_a_small_sets);
  }

  // The expensive PF-ODE evaluations first, so both cores stay busy to the end.
  void add_model_tasks() {
    for (auto& snap : snaps_)
      if (snap.kl_b) tasks_.push_back([this, sp = &snap] { guarded(*sp, [&] { kl_b(*sp); }); });
    for (auto& snap : snaps_)
      if (snap.memorization) tasks_.push_back([this, sp = &snap] { guarded(*sp, [&] { memorize(*sp); }); });
    for (auto& snap : snaps_)
      if (snap.kl_a) tasks_.push_back([this, sp = &snap] { guarded(*sp, [&] { kl_a(*sp); }); });
  }

  template <class F>
  static void guarded(Snapshot& snap, F&& f) {
    try {
      f();
    } catch (const NumericalError& e) {
      snap.failure = e.what();
    }
  }

  void kl_b(Snapshot& sp) const {
    sp.b = diverged_if_fails(sp.row.epoch, "KL (b)",
                             [&] { return kl_pf_ode(*model_at(*sp.kept), *seed_.target, sde_, s_.kl_ode); });
  }

  // Samples from the model, each epoch from its own stream, against the training set.
  void memorize(Snapshot& sp) const {
    Rng rng = Rng::stream(s_.seed, {kStreamEval, static_cast<std::uint64_t>(seed_.k),
                                    static_cast<std::uint64_t>(sp.row.epoch)});
    const Matrix samples = sample(*model_at(*sp.kept), rng);
    if (!samples.allFinite())
      throw NumericalError("the model diverged by epoch " + std::to_string(sp.row.epoch) +
                           ": its reverse-SDE samples are not finite");
    sp.m = with_baseline_ ? diffgen::memorization(samples, seed_.data, fresh_reference_, s_.memorization)
                          : diffgen::memorization(samples, seed_.data, s_.memorization);
  }

  void kl_a(Snapshot& sp) const {
    const auto m = model_at(*sp.kept);
    const auto& target = *seed_.target;
    sp.a = diverged_if_fails(sp.row.epoch, "KL (a)", [&] {
      KlSummary a = kl_score_integrated(*m, target, sde_, s_.kl);
      sp.row.kl_emp_a = kl_against_learned(a, log_emp_a_).kl;
      return a;
    });
    sp.row.weight_right = mass_fraction_above(sp.a.x, sp.a.log_q, 0.0);
    if (s_.has_kl_small()) {
      const KlSummary small = diverged_if_fails(sp.row.epoch, "KL (a) at kl.t0_small",
                                                [&] { return kl_score_integrated(*m, target, sde_, s_.kl_small); });
      sp.row.kl_a_small = small.kl;
      sp.quadrature_error_a_small = small.quadrature_error;
      sp.row.kl_emp_a_small = diverged_if_fails(sp.row.epoch, "KL from the empirical density at kl.t0_small",
                                                [&] { return kl_against_learned(small, log_emp_small_).kl; });
    }
    // Only the plotted epochs keep their densities (a few MB per seed otherwise).
    if (!snapshot_epoch(sp.row.epoch)) sp.a.x = sp.a.log_p = sp.a.log_q = sp.a.log_q_coarse = Vector();
  }

  // A stop request skips the evaluations not yet started; each takes well
  // under a second, so the wait is short.
  bool run_tasks(const std::function<void(Index)>& tick) {
    task_seconds_.assign(tasks_.size(), 0.0);
    std::atomic<bool> skipped{false};
    parallel_tasks(static_cast<Index>(tasks_.size()), [&](Index i) {
      if (interrupt_requested()) {
        skipped = true;
        return;
      }
      const auto t0 = std::chrono::steady_clock::now();
      tasks_[static_cast<std::size_t>(i)]();
      task_seconds_[static_cast<std::size_t>(i)] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (static_cast<std::size_t>(i) >= floor_tasks_) tick(1);
    });
    return !skipped;
  }

  // The rows in epoch order, stopping at the first failed evaluation.
  void assemble() {
    auto& diag = result_.diagnostics;
    for (auto& snap : snaps_) {
      if (snap.failure) {
        if (!result_.failure || snap.row.epoch < result_.failed_epoch) {
          result_.failure = snap.failure;
          result_.failed_epoch = snap.row.epoch;
        }
        break;
      }
      if (snap.kl_a) {
        snap.row.kl_a = snap.a.kl;
        diag.max_quadrature_error_a_small = std::max(diag.max_quadrature_error_a_small, snap.quadrature_error_a_small);
        diag.max_target_mass_outside = std::max(diag.max_target_mass_outside, snap.a.target_mass_outside);
        diag.max_quadrature_error_a = std::max(diag.max_quadrature_error_a, snap.a.quadrature_error);
      }
      if (snap.kl_b) {
        snap.row.kl_b = snap.b.kl;
        snap.row.kl_b_error = snap.b.error();
        diag.max_quadrature_error_b = std::max(diag.max_quadrature_error_b, snap.b.quadrature_error);
        diag.max_solver_error_b = std::max(diag.max_solver_error_b, snap.b.solver_error);
        diag.ode_steps += snap.b.ode_steps;
        diag.ode_rejected_steps += snap.b.ode_rejected_steps;
      }
      if (snap.memorization) add_memorization(snap);
      result_.rows.push_back(snap.row);
      if (snapshot_epoch(snap.row.epoch) && snap.kl_a)
        result_.snapshots.push_back({snap.row.epoch, snap.a.x, snap.a.log_p, snap.a.log_q, snap.b.x, snap.b.log_q});
    }
  }

  void add_memorization(Snapshot& snap) const {
    snap.row.memorized_fraction = snap.m.memorized_fraction;
    snap.row.nn_distance = snap.m.mean_nn_distance_train;
    if (with_baseline_) {
      snap.row.nn_distance_fresh = snap.m.mean_nn_distance_reference;
      snap.row.memorized_baseline = result_.memorization_baseline.memorized_fraction;
      snap.row.closer_to_train = snap.m.closer_to_training_fraction;
    }
  }

  // Evaluation time by kind: the tasks are the floors, then PF-ODE, memorization and KL (a).
  void attribute_times() {
    auto& diag = result_.diagnostics;
    for (std::size_t i = 0; i < floor_tasks_; ++i) diag.floors_seconds += task_seconds_[i];
    Index nb = 0, nm = 0;
    for (const auto& snap : snaps_) {
      nb += snap.kl_b ? 1 : 0;
      nm += snap.memorization ? 1 : 0;
    }
    for (std::size_t i = floor_tasks_; i < tasks_.size(); ++i) {
      const Index j = static_cast<Index>(i - floor_tasks_);
      (j < nb ? diag.kl_b_seconds : j < nb + nm ? diag.memorization_seconds : diag.kl_a_seconds) += task_seconds_[i];
    }
  }

  const TrainedSeed& seed_;
  const TrainingStudySettings& s_;
  SeedResult& result_;
  const Sde& sde_;
  std::vector<Snapshot> snaps_;
  Vector log_emp_a_, log_emp_small_;
  std::vector<Vector> memorizer_sets_;  // the training sets of add_memorizer_tasks
  Matrix fresh_reference_, fresh_samples_;
  bool with_baseline_ = false;
  std::unique_ptr<ScoreModel> population_, empirical_;
  std::vector<std::function<void()>> tasks_;
  std::size_t floor_tasks_ = 0;
  std::vector<std::optional<std::string>> floor_failures_;  // one slot per floor task
  std::vector<double> task_seconds_;
};

}  // namespace

bool evaluate_seed(const TrainedSeed& seed, SeedResult& result, const std::function<void(Index)>& tick) {
  return SeedEvaluation(seed, result).run(tick);
}

}  // namespace diffgen
