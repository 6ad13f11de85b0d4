#include "training/train_options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.hpp"

namespace diffgen {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TrainOptions, SwitchOptimizerCopiesTheOtherSettings) {
  TrainOptions o;
  o.trainer.optimizer.kind = OptimizerKind::Sgd;
  o.trainer.optimizer.lr = 0.5;
  o.trainer.optimizer.weight_decay = 0.01;
  o.trainer.optimizer.momentum = 0.9;
  o.trainer.optimizer.dampening = 0.1;
  o.trainer.optimizer.beta1 = 0.8;
  o.trainer.optimizer.beta2 = 0.99;
  o.trainer.optimizer.eps = 1e-6;
  o.switch_kind = OptimizerKind::Adam;
  o.switch_lr = 1e-4;
  const OptimizerOptions s = o.switch_optimizer();
  EXPECT_EQ(s.kind, OptimizerKind::Adam);
  EXPECT_EQ(s.lr, 1e-4);
  EXPECT_EQ(s.weight_decay, 0.01);
  EXPECT_EQ(s.momentum, 0.9);
  EXPECT_EQ(s.dampening, 0.1);
  EXPECT_FALSE(s.nesterov);
  EXPECT_EQ(s.beta1, 0.8);
  EXPECT_EQ(s.beta2, 0.99);
  EXPECT_EQ(s.eps, 1e-6);
  // The first optimizer is left as it was.
  EXPECT_EQ(o.trainer.optimizer.kind, OptimizerKind::Sgd);
  EXPECT_EQ(o.trainer.optimizer.lr, 0.5);
}

TEST(TrainOptions, ValidateNamesTheSwitchEpoch) {
  TrainOptions o;
  o.epochs = 100;
  EXPECT_EQ(o.validate(), "");  // no switch
  o.switch_epoch = 99;
  EXPECT_EQ(o.validate(), "");
  o.switch_epoch = 100;
  EXPECT_EQ(o.validate(), "train.switch.epoch = 100 must be below train.epochs = 100 (0: no switch)");
  o.switch_epoch = 250;
  EXPECT_EQ(o.validate(), "train.switch.epoch = 250 must be below train.epochs = 100 (0: no switch)");
  // The trainer's own errors come first.
  o.trainer.batch_size = -1;
  EXPECT_THAT(o.validate(), HasSubstr("batch_size = -1"));
  // The switched-to optimizer is checked only when there is a switch.
  o = TrainOptions{};
  o.switch_lr = 0.0;
  EXPECT_EQ(o.validate(), "");
  o.switch_epoch = 10;
  EXPECT_THAT(o.validate(), HasSubstr("lr = 0"));
}

TEST(TrainOptionsKeys, DeclaredWithTheStructsDefaults) {
  EXPECT_THAT(train_options().keys(),
              ElementsAre("train.optimizer", "train.lr", "train.momentum", "train.weight_decay", "train.adam.beta1",
                          "train.adam.beta2", "train.adam.eps", "train.batch", "train.loss", "train.epochs",
                          "train.switch.epoch", "train.switch.optimizer", "train.switch.lr"));
  Schema s;
  train_options().declare(s);
  EXPECT_EQ(s.find("train.optimizer")->default_value, Value(std::string("sgd")));
  EXPECT_THAT(s.find("train.optimizer")->choices, ElementsAre("sgd", "adam"));
  EXPECT_EQ(s.find("train.lr")->default_value, Value(1e-3));
  EXPECT_EQ(s.find("train.batch")->default_value, Value(std::int64_t{32}));
  EXPECT_EQ(s.find("train.loss")->default_value, Value(std::string("empirical")));
  EXPECT_THAT(s.find("train.loss")->choices, ElementsAre("empirical", "population"));
  EXPECT_EQ(s.find("train.epochs")->default_value, Value(std::int64_t{2000}));
  EXPECT_EQ(s.find("train.switch.epoch")->default_value, Value(std::int64_t{0}));
  EXPECT_EQ(s.find("train.switch.optimizer")->default_value, Value(std::string("adam")));
  EXPECT_EQ(s.find("train.switch.lr")->default_value, Value(1e-4));

  // An experiment's own defaults become the keys' defaults.
  TrainOptions mine;
  mine.epochs = 500;
  mine.trainer.optimizer.kind = OptimizerKind::Adam;
  Schema t;
  train_options().declare(t, mine, {"train.loss"});
  EXPECT_EQ(t.find("train.epochs")->default_value, Value(std::int64_t{500}));
  EXPECT_EQ(t.find("train.optimizer")->default_value, Value(std::string("adam")));
  EXPECT_EQ(t.find("train.loss"), nullptr);
}

TEST(TrainOptionsKeys, EveryKeyReadsBack) {
  Schema s;
  train_options().declare(s);
  Config c(s);
  c.set("train.optimizer", "adam");
  c.set("train.lr", "0.01");
  c.set("train.momentum", "0.5");
  c.set("train.weight_decay", "1e-4");
  c.set("train.adam.beta1", "0.85");
  c.set("train.adam.beta2", "0.95");
  c.set("train.adam.eps", "1e-7");
  c.set("train.batch", "0");
  c.set("train.loss", "population");
  c.set("train.epochs", "300");
  c.set("train.switch.epoch", "100");
  c.set("train.switch.optimizer", "sgd");
  c.set("train.switch.lr", "0.5");
  TrainOptions base;
  base.trainer.eps = 1e-5;  // not a train.* key: the caller's value stays
  base.trainer.optimizer.dampening = 0.25;
  const TrainOptions o = train_options().read(c, base);
  EXPECT_EQ(o.trainer.optimizer.kind, OptimizerKind::Adam);
  EXPECT_EQ(o.trainer.optimizer.lr, 0.01);
  EXPECT_EQ(o.trainer.optimizer.momentum, 0.5);
  EXPECT_EQ(o.trainer.optimizer.weight_decay, 1e-4);
  EXPECT_EQ(o.trainer.optimizer.beta1, 0.85);
  EXPECT_EQ(o.trainer.optimizer.beta2, 0.95);
  EXPECT_EQ(o.trainer.optimizer.eps, 1e-7);
  EXPECT_EQ(o.trainer.optimizer.dampening, 0.25);
  EXPECT_EQ(o.trainer.batch_size, 0);
  EXPECT_EQ(o.trainer.loss, LossKind::Population);
  EXPECT_EQ(o.trainer.eps, 1e-5);
  EXPECT_EQ(o.epochs, 300);
  EXPECT_EQ(o.switch_epoch, 100);
  EXPECT_EQ(o.switch_kind, OptimizerKind::Sgd);
  EXPECT_EQ(o.switch_lr, 0.5);
  EXPECT_EQ(o.validate(), "");
  const OptimizerOptions after = o.switch_optimizer();
  EXPECT_EQ(after.kind, OptimizerKind::Sgd);
  EXPECT_EQ(after.lr, 0.5);
  EXPECT_EQ(after.weight_decay, 1e-4);
}

TEST(TrainOptionsKeys, LimitsAreEnforced) {
  Schema s;
  train_options().declare(s);
  Config c(s);
  for (const char* bad : {"train.lr=0", "train.momentum=1", "train.adam.beta1=-0.1", "train.adam.beta2=1",
                          "train.adam.eps=0", "train.batch=-1", "train.epochs=-1", "train.switch.epoch=-1",
                          "train.switch.lr=0", "train.optimizer=rmsprop", "train.loss=mixed"})
    EXPECT_THROW(c.set_from_assignment(bad), ConfigError) << bad;
}

}  // namespace
}  // namespace diffgen
