#include "training/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>

#include "core/error.hpp"

namespace diffgen {

std::string TrainerOptions::validate() const {
  if (auto err = optimizer.validate(); !err.empty()) return err;
  if (batch_size < 0) return fmt::format("batch_size = {} must be >= 0 (0 = full batch)", batch_size);
  // eps = 0 is Chen2025's t ~ U[0, T]; a model whose output divides by s(t)
  // then fails at t = 0 with a non-finite loss (NumericalError, exit 4).
  if (!(eps >= 0.0) || !std::isfinite(eps)) return fmt::format("eps = {} must be >= 0 and finite", eps);
  return {};
}

Trainer::Trainer(TrainableScoreModel& model, std::shared_ptr<const Sde> sde, Matrix training_set,
                 std::shared_ptr<const Target> target, TrainerOptions options, Rng rng)
    : model_(model),
      sde_(std::move(sde)),
      training_set_(std::move(training_set)),
      target_(std::move(target)),
      options_(std::move(options)),
      rng_(rng) {
  if (auto err = options_.validate(); !err.empty()) throw ConfigError(err);
  if (!sde_) throw ConfigError("the trainer needs an SDE (got none)");
  if (!(options_.eps < sde_->T())) throw ConfigError(fmt::format("eps = {} must be < T = {}", options_.eps, sde_->T()));
  if (training_set_.rows() < 1) throw ConfigError("the training set is empty (n = 0 must be >= 1)");
  if (training_set_.cols() != model_.dim())
    throw ConfigError(fmt::format("the training set has dimension {} but the model has dimension {}",
                                  training_set_.cols(), model_.dim()));
  population_ = options_.loss == LossKind::Population;
  if (population_ && !target_) throw ConfigError("loss = population needs a target to draw from (got none)");
  if (target_ && target_->dim() != model_.dim())
    throw ConfigError(
        fmt::format("the target has dimension {} but the model has dimension {}", target_->dim(), model_.dim()));
  batch_size_ = options_.batch_size == 0 ? n() : std::min(options_.batch_size, n());
  optimizer_ = make_optimizer(options_.optimizer);
  order_.resize(static_cast<std::size_t>(n()));
}

void Trainer::set_optimizer(const OptimizerOptions& options) {
  optimizer_ = make_optimizer(options);
  options_.optimizer = options;
}

TrainerState Trainer::state() const {
  return {epoch_, steps_, rng_.state(), optimizer_->state()};
}

void Trainer::set_state(const TrainerState& state) {
  if (state.epoch < 0 || state.steps < 0)
    throw DataError(fmt::format("trainer state: epoch = {} and steps = {} must be >= 0", state.epoch, state.steps));
  optimizer_->set_state(state.optimizer);
  epoch_ = state.epoch;
  steps_ = state.steps;
  rng_.set_state(state.rng);
}

void Trainer::fill_batch(Index begin, Index size) {
  if (population_) {
    // Population loss: fresh points from the target at every step.
    batch_.x0 = target_->sample(size, rng_);
    return;
  }
  batch_.x0.resize(size, training_set_.cols());
  for (Index r = 0; r < size; ++r) batch_.x0.row(r) = training_set_.row(order_[static_cast<std::size_t>(begin + r)]);
}

void Trainer::diverged(Index step_in_epoch, double loss, const std::string& what) const {
  throw NumericalError(fmt::format(
      "training diverged at epoch {}, step {}: loss = {}{} ({} lr = {} may be too large); the parameters are those "
      "before this step",
      epoch_ + 1, step_in_epoch + 1, loss, what, optimizer_->name(), optimizer_->options().lr));
}

double Trainer::run_epoch() {
  const Index total = n();
  if (!population_) {
    // A fresh uniform permutation each epoch (Fisher–Yates), as PyTorch's
    // RandomSampler draws one; starting from the identity keeps the state small.
    std::iota(order_.begin(), order_.end(), Index{0});
    for (Index i = total - 1; i > 0; --i) {
      const auto j = static_cast<Index>(rng_.below(static_cast<std::uint64_t>(i + 1)));
      std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
    }
  }
  double weighted_sum = 0.0;
  const Index steps = steps_per_epoch();
  for (Index k = 0; k < steps; ++k) {
    // The last batch is short when batch_size does not divide n (drop_last = False).
    const Index begin = k * batch_size_;
    const Index size = std::min(batch_size_, total - begin);
    fill_batch(begin, size);
    // One (t, z) draw per sample, then the loss and its gradient at x_t.
    draw_dsm_noise(*sde_, options_.eps, rng_, batch_);
    const double loss = model_.loss_and_gradient(batch_.x_t, batch_.t, make_dsm_head(batch_), grad_);
    // Stop before a non-finite gradient reaches the parameters or the optimizer's state.
    if (!std::isfinite(loss)) diverged(k, loss, "");
    if (!grad_.allFinite()) diverged(k, loss, ", gradient not finite");
    previous_ = model_.parameters();
    optimizer_->step(model_.parameters(), grad_);
    if (!model_.parameters().allFinite()) {
      model_.parameters() = previous_;
      diverged(k, loss, ", parameters not finite after the update");
    }
    ++steps_;
    weighted_sum += loss * static_cast<double>(size);
  }
  ++epoch_;
  return weighted_sum / static_cast<double>(total);
}

}  // namespace diffgen
