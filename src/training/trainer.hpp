// Minibatch training of a score model on the denoising loss (THEORY.md §3),
// the reference code's loop: each epoch walks a fresh permutation of the
// training set in minibatches (PyTorch's DataLoader with shuffle = True,
// drop_last = False), draws one (t, z) per sample per step, and takes one
// optimizer step per batch. The population loss takes the same number of
// steps per epoch with x0 drawn fresh from the target at every step; the two
// differ exactly by the generalization gap Li2023 studies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"
#include "models/score_model.hpp"
#include "sde/sde.hpp"
#include "targets/target.hpp"
#include "training/dsm_loss.hpp"
#include "training/optimizers.hpp"

namespace diffgen {

// Empirical: the denoising loss on the fixed training set; population:
// fresh x0 from the target at every step (Li2023's two losses, THEORY.md §3).
enum class LossKind { Empirical, Population };

template <>
struct EnumNames<LossKind> {
  static constexpr std::array table{std::pair{LossKind::Empirical, std::string_view("empirical")},
                                    std::pair{LossKind::Population, std::string_view("population")}};
};

struct TrainerOptions {
  OptimizerOptions optimizer;
  Index batch_size = 32;           // minibatch size; 0 or >= n: full batch (gradient descent)
  double eps = 1e-5;               // t ~ U[eps, T]; 0 allowed (Chen2025's U[0, T])
  LossKind loss = LossKind::Empirical;
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// Where training stands, for checkpoints; the model's parameters are saved
// separately. A fresh permutation is drawn every epoch, so nothing else is needed.
struct TrainerState {
  Index epoch = 0;
  Index steps = 0;
  Rng::State rng{};
  OptimizerState optimizer;
};

class Trainer {
 public:
  // model is trained in place and must outlive the trainer. target may be
  // null unless options.loss is Population. Every random draw (order,
  // times, noise, population samples) comes from rng. Throws ConfigError on
  // invalid options or mismatched shapes.
  Trainer(TrainableScoreModel& model, std::shared_ptr<const Sde> sde, Matrix training_set,
          std::shared_ptr<const Target> target, TrainerOptions options, Rng rng);

  // One epoch of ceil(n / batch) steps. Returns the epoch's mean loss (the
  // batch losses weighted by batch size, i.e. the mean over the epoch's
  // samples, as the reference code reports it). Throws NumericalError when
  // the loss, the gradient or the updated parameters are not finite, naming
  // the epoch and the step (both counted from 1); the parameters are then
  // those from before the failing step.
  double run_epoch();

  // Completed epochs and optimizer steps.
  Index epoch() const { return epoch_; }
  Index steps() const { return steps_; }
  // The effective batch size (n for full batch) and steps per epoch.
  Index batch_size() const { return batch_size_; }
  Index steps_per_epoch() const { return (n() + batch_size_ - 1) / batch_size_; }
  Index n() const { return training_set_.rows(); }

  // Switches to a fresh optimizer (no carried-over state), e.g. SGD → Adam mid-run.
  void set_optimizer(const OptimizerOptions& options);
  const Optimizer& optimizer() const { return *optimizer_; }
  const TrainerOptions& options() const { return options_; }
  const Matrix& training_set() const { return training_set_; }

  TrainerState state() const;
  void set_state(const TrainerState& state);

 private:
  // Fills batch_.x0 with the batch of `size` points starting at `begin` in this epoch's order.
  void fill_batch(Index begin, Index size);
  [[noreturn]] void diverged(Index step_in_epoch, double loss, const std::string& what) const;

  TrainableScoreModel& model_;
  std::shared_ptr<const Sde> sde_;
  Matrix training_set_;
  std::shared_ptr<const Target> target_;
  TrainerOptions options_;
  Rng rng_;
  std::unique_ptr<Optimizer> optimizer_;
  Index batch_size_;
  bool population_;
  Index epoch_ = 0;
  Index steps_ = 0;
  // Workspace reused by every step.
  std::vector<Index> order_;
  DsmBatch batch_;
  Vector grad_;
  Vector previous_;
};

}  // namespace diffgen
