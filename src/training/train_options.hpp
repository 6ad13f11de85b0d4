// How a score model is trained, as configuration: the optimizer and its
// settings, the minibatch, the loss, the number of epochs and an optional
// switch to a second optimizer (Li2023 Fig. 10: SGD, then Adam). Declared
// once as the keys train.* (train_options()), shared by every experiment
// that trains a network.
#pragma once

#include <string>

#include "core/options.hpp"
#include "training/trainer.hpp"

namespace diffgen {

struct TrainOptions {
  // Optimizer, batch and loss; trainer.eps is the SDE's eps (sde.eps), set by the caller.
  TrainerOptions trainer;
  Index epochs = 2000;
  // After this many epochs, continue with a fresh optimizer of switch_kind at
  // switch_lr, its other settings as the first's; 0: never.
  Index switch_epoch = 0;
  OptimizerKind switch_kind = OptimizerKind::Adam;
  double switch_lr = 1e-4;

  // The optimizer after the switch.
  OptimizerOptions switch_optimizer() const;
  // Empty when valid, else what is wrong (naming the keys).
  std::string validate() const;
};

// The keys train.optimizer, train.lr, train.momentum, train.weight_decay,
// train.adam.{beta1,beta2,eps}, train.batch, train.loss, train.epochs and
// train.switch.{epoch,optimizer,lr}.
const OptionTable<TrainOptions>& train_options();

}  // namespace diffgen
