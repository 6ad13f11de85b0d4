#include "training/optimizers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace diffgen {
namespace {

// Two fixed gradients, applied in turn from p0 = (1, −2).
const Vector kP0{{1.0, -2.0}};
const Vector kG1{{0.5, 0.25}};
const Vector kG2{{-1.0, 2.0}};

void expect_close(const Vector& actual, const Vector& expected, double tol = 1e-15) {
  ASSERT_EQ(actual.size(), expected.size());
  for (Index k = 0; k < actual.size(); ++k)
    EXPECT_NEAR(actual[k], expected[k], tol * std::max(1.0, std::abs(expected[k]))) << "entry " << k;
}

OptimizerOptions sgd(double lr) {
  OptimizerOptions o;
  o.kind = OptimizerKind::Sgd;
  o.lr = lr;
  return o;
}

TEST(Sgd, PlainStep) {
  // p ← p − lr g = (1 − 0.05, −2 − 0.025).
  auto opt = make_optimizer(sgd(0.1));
  Vector p = kP0;
  opt->step(p, kG1);
  expect_close(p, Vector{{0.95, -2.025}});
  EXPECT_EQ(opt->name(), "sgd");
  EXPECT_EQ(opt->steps(), 1);
}

TEST(Sgd, MomentumDampeningWeightDecay) {
  // lr 0.1, μ 0.9, dampening 0.5, weight decay 0.1.
  // Step 1: g = g1 + 0.1 p0 = (0.6, 0.05); the buffer starts as g (no dampening
  //   at the first step); p1 = p0 − 0.1 b = (0.94, −2.005).
  // Step 2: g = g2 + 0.1 p1 = (−0.906, 1.7995); b = 0.9 (0.6, 0.05) + 0.5 g =
  //   (0.087, 0.94475); p2 = p1 − 0.1 b = (0.9313, −2.099475).
  OptimizerOptions o = sgd(0.1);
  o.momentum = 0.9;
  o.dampening = 0.5;
  o.weight_decay = 0.1;
  auto opt = make_optimizer(o);
  Vector p = kP0;
  opt->step(p, kG1);
  expect_close(p, Vector{{0.94, -2.005}});
  opt->step(p, kG2);
  expect_close(p, Vector{{0.9313, -2.099475}});
}

TEST(Sgd, Nesterov) {
  // lr 0.1, μ 0.9. Step 1: b = g1; step g1 + 0.9 b = (0.95, 0.475); p1 = (0.905, −2.0475).
  // Step 2: b = 0.9 g1 + g2 = (−0.55, 2.225); step g2 + 0.9 b = (−1.495, 4.0025);
  // p2 = (1.0545, −2.44775).
  OptimizerOptions o = sgd(0.1);
  o.momentum = 0.9;
  o.nesterov = true;
  auto opt = make_optimizer(o);
  Vector p = kP0;
  opt->step(p, kG1);
  expect_close(p, Vector{{0.905, -2.0475}});
  opt->step(p, kG2);
  expect_close(p, Vector{{1.0545, -2.44775}});
}

TEST(Adam, TwoStepsByHand) {
  // lr 0.01, β = (0.9, 0.999), eps 1e-8.
  // Step 1: m = 0.1 g, v = 0.001 g², bc1 = 0.1, bc2 = 0.001, so
  //   p1 = p0 − 0.01 g / (|g| + 1e-8) = (0.9900000002, −2.0099999996).
  // Step 2: m = 0.09 g1 + 0.1 g2 = (−0.055, 0.2225),
  //   v = 0.000999 g1² + 0.001 g2² = (0.00124975, 0.0040624375), bc1 = 0.19,
  //   bc2 = 0.001999: p2 = p1 − (0.01 / 0.19) m / (√v / √0.001999 + 1e-8)
  //   = (0.9936610354240566, −2.0182146571257107).
  OptimizerOptions o;
  o.kind = OptimizerKind::Adam;
  o.lr = 0.01;
  auto opt = make_optimizer(o);
  Vector p = kP0;
  opt->step(p, kG1);
  expect_close(p, Vector{{0.9900000002, -2.0099999996}});
  opt->step(p, kG2);
  expect_close(p, Vector{{0.9936610354240566, -2.0182146571257107}}, 1e-14);
  EXPECT_EQ(opt->name(), "adam");
  EXPECT_EQ(opt->steps(), 2);
}

TEST(Adam, WeightDecayIsAddedToTheGradient) {
  // g = g1 + 0.5 p0 = (1, −0.75): one step moves each entry by lr·g/(|g| + eps).
  OptimizerOptions o;
  o.kind = OptimizerKind::Adam;
  o.lr = 0.01;
  o.weight_decay = 0.5;
  auto opt = make_optimizer(o);
  Vector p = kP0;
  opt->step(p, kG1);
  expect_close(p, Vector{{1.0 - 0.01 * 1.0 / (1.0 + 1e-8), -2.0 + 0.01 * 0.75 / (0.75 + 1e-8)}});
}

TEST(Optimizers, StateRoundTripContinuesBitIdentically) {
  for (const OptimizerKind name : {OptimizerKind::Sgd, OptimizerKind::Adam}) {
    OptimizerOptions o;
    o.kind = name;
    o.lr = 0.05;
    o.momentum = 0.9;
    auto a = make_optimizer(o);
    Vector p = kP0;
    a->step(p, kG1);
    a->step(p, kG2);
    const OptimizerState saved = a->state();
    EXPECT_EQ(saved.step, 2);
    EXPECT_EQ(saved.values.size(), std::string(enum_name(name)) == "adam" ? 4 : 2);
    Vector q = p;
    a->step(p, kG1);
    auto b = make_optimizer(o);
    b->set_state(saved);
    b->step(q, kG1);
    EXPECT_EQ(p, q) << name;
  }
}

TEST(Optimizers, ResetForgetsTheState) {
  OptimizerOptions o;
  o.kind = OptimizerKind::Adam;
  auto a = make_optimizer(o);
  Vector p = kP0, q = kP0;
  a->step(p, kG2);
  a->reset();
  EXPECT_EQ(a->steps(), 0);
  EXPECT_EQ(a->state().values.size(), 0);
  p = kP0;
  a->step(p, kG1);
  make_optimizer(o)->step(q, kG1);
  EXPECT_EQ(p, q);
}

TEST(Optimizers, BadStateIsRejected) {
  OptimizerOptions o;
  o.kind = OptimizerKind::Adam;
  auto a = make_optimizer(o);
  EXPECT_THROW(a->set_state({3, Vector::Zero(3)}), DataError);
  EXPECT_THROW(a->set_state({-1, Vector()}), DataError);
  auto s = make_optimizer(sgd(0.1));
  EXPECT_THROW(s->set_state({1, Vector::Zero(2)}), DataError);  // no momentum, no buffer
  Vector p = kP0;
  EXPECT_THROW(s->step(p, Vector::Zero(3)), std::invalid_argument);
}

TEST(OptimizerOptions, ValidationNamesKeyValueAndRule) {
  OptimizerOptions o;
  o.lr = -1;
  EXPECT_EQ(o.validate(), "lr = -1 must be > 0 and finite");
  EXPECT_EQ(parse_enum<OptimizerKind>("train.optimizer", "adam"), OptimizerKind::Adam);
  EXPECT_THROW(parse_enum<OptimizerKind>("train.optimizer", "rmsprop"), ConfigError);
  o = {};
  o.nesterov = true;
  EXPECT_NE(o.validate().find("nesterov"), std::string::npos);
  o = {};
  o.kind = OptimizerKind::Adam;
  o.beta2 = 1.0;
  EXPECT_EQ(o.validate(), "beta2 = 1 must be in [0, 1)");
  EXPECT_TRUE(OptimizerOptions{}.validate().empty());
  o.beta2 = 0.999;
  o.eps = -1e-8;
  EXPECT_THROW(make_optimizer(o), ConfigError);
}

}  // namespace
}  // namespace diffgen
