#include "training/train_options.hpp"

#include <fmt/format.h>

namespace diffgen {

OptimizerOptions TrainOptions::switch_optimizer() const {
  OptimizerOptions o = trainer.optimizer;
  o.kind = switch_kind;
  o.lr = switch_lr;
  return o;
}

std::string TrainOptions::validate() const {
  if (auto err = trainer.validate(); !err.empty()) return err;
  if (switch_epoch > 0 && switch_epoch >= epochs)
    return fmt::format("train.switch.epoch = {} must be below train.epochs = {} (0: no switch)", switch_epoch,
                       epochs);
  return switch_epoch > 0 ? switch_optimizer().validate() : std::string();
}

const OptionTable<TrainOptions>& train_options() {
  using O = TrainOptions;
  static const auto table = [] {
    OptionTable<O> t;
    t.add("train.optimizer", [](O& o) -> auto& { return o.trainer.optimizer.kind; },
          "optimizer, with PyTorch's update rules");
    t.add("train.lr", [](O& o) -> auto& { return o.trainer.optimizer.lr; }, "learning rate",
          {.min = 0.0, .min_exclusive = true});
    t.add("train.momentum", [](O& o) -> auto& { return o.trainer.optimizer.momentum; }, "sgd: momentum factor",
          {.min = 0.0, .max = 1.0, .max_exclusive = true});
    t.add("train.weight_decay", [](O& o) -> auto& { return o.trainer.optimizer.weight_decay; },
          "L2 penalty added to the gradient", {.min = 0.0});
    t.add("train.adam.beta1", [](O& o) -> auto& { return o.trainer.optimizer.beta1; }, "adam: first-moment decay",
          {.min = 0.0, .max = 1.0, .max_exclusive = true});
    t.add("train.adam.beta2", [](O& o) -> auto& { return o.trainer.optimizer.beta2; }, "adam: second-moment decay",
          {.min = 0.0, .max = 1.0, .max_exclusive = true});
    t.add("train.adam.eps", [](O& o) -> auto& { return o.trainer.optimizer.eps; }, "adam: added to the denominator",
          {.min = 0.0, .min_exclusive = true});
    t.add("train.batch", [](O& o) -> auto& { return o.trainer.batch_size; },
          "minibatch size (0: full batch, i.e. gradient descent)", {.min = 0.0});
    t.add("train.loss", [](O& o) -> auto& { return o.trainer.loss; },
          "empirical: the fixed training set; population: fresh samples from the target every step");
    t.add("train.epochs", [](O& o) -> auto& { return o.epochs; }, "training epochs (passes over the training set)",
          {.min = 0.0, .max = 1e8});
    t.add("train.switch.epoch", [](O& o) -> auto& { return o.switch_epoch; },
          "after this many epochs, continue with a fresh train.switch.optimizer at train.switch.lr (Li2023 Fig. "
          "10: SGD then Adam); 0: never",
          {.min = 0.0});
    t.add("train.switch.optimizer", [](O& o) -> auto& { return o.switch_kind; },
          "the optimizer after train.switch.epoch (its other settings as above)");
    t.add("train.switch.lr", [](O& o) -> auto& { return o.switch_lr; }, "the learning rate after train.switch.epoch",
          {.min = 0.0, .min_exclusive = true});
    return t;
  }();
  return table;
}

}  // namespace diffgen
