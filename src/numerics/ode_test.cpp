#include "numerics/ode.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace diffgen {
namespace {

constexpr double kTol = 1e-10;

DormandPrinceOptions tight(LastStep last_step) {
  DormandPrinceOptions o;
  o.rtol = o.atol = kTol;
  o.last_step = last_step;
  return o;
}

// dX/du = −λ_i X row by row, dq/du = X[:, 0]: X(u) = X0 e^{−λ(u − u0)},
// q(u) = X0[:, 0] (1 − e^{−λ(u − u0)}) / λ.
struct Decay {
  Vector lambda = (Vector(3) << 0.5, 1.0, 3.0).finished();
  Matrix x0 = (Matrix(3, 2) << 1.0, -2.0, 0.5, 4.0, -1.5, 2.5).finished();
  OdeFunction f() const {
    return [this](double, const Matrix& x, Matrix& dx, Vector& dq) {
      dx = -(lambda.asDiagonal() * x);
      dq = x.col(0);
    };
  }
  Matrix x_at(double du) const { return (-lambda.array() * du).exp().matrix().asDiagonal() * x0; }
  Vector q_at(double du) const {
    return (x0.col(0).array() * (1.0 - (-lambda.array() * du).exp()) / lambda.array()).matrix();
  }
};

TEST(DormandPrince, SolvesALinearBatchWithItsRunningIntegral) {
  const Decay p;
  for (LastStep last : {LastStep::kClamp, LastStep::kShortenKeepingStepSize}) {
    DormandPrince rk(tight(last));
    Matrix x = p.x0;
    Vector q = Vector::Zero(3);
    rk.advance(p.f(), x, q, 0.5, 2.5);
    EXPECT_LT((x - p.x_at(2.0)).cwiseAbs().maxCoeff(), 100 * kTol);
    EXPECT_LT((q - p.q_at(2.0)).cwiseAbs().maxCoeff(), 100 * kTol);
    EXPECT_GT(rk.steps(), 5);
    // One evaluation at the start, one for the first step's heuristic, six per attempted step.
    EXPECT_EQ(rk.evaluations(), 2 + 6 * (rk.steps() + rk.rejected_steps()));
  }
}

TEST(DormandPrince, ErrorFollowsTheTolerance) {
  const Decay p;
  double previous = 0.0;
  for (double tol : {1e-4, 1e-7, 1e-10}) {
    DormandPrinceOptions o;
    o.rtol = o.atol = tol;
    DormandPrince rk(o);
    Matrix x = p.x0;
    Vector q = Vector::Zero(3);
    rk.advance(p.f(), x, q, 0.0, 3.0);
    const double err = (x - p.x_at(3.0)).cwiseAbs().maxCoeff();
    EXPECT_LT(err, 100 * tol) << tol;
    if (previous > 0.0) {
      EXPECT_LT(err, previous / 50.0) << tol;
    }
    previous = err;
  }
}

TEST(DormandPrince, IntegratesBackwardAndAcrossSeveralIntervals) {
  // Rotation dx/du = (x2, −x1) per row, from u = 2π down to 0 in four
  // intervals with the step size carried over: every row returns to its start.
  const OdeFunction rotate = [](double, const Matrix& x, Matrix& dx, Vector&) {
    dx.resize(x.rows(), 2);
    dx.col(0) = x.col(1);
    dx.col(1) = -x.col(0);
  };
  for (LastStep last : {LastStep::kClamp, LastStep::kShortenKeepingStepSize}) {
    DormandPrince rk(tight(last));
    const Matrix start = (Matrix(2, 2) << 1.0, 0.0, 0.3, -2.0).finished();
    Matrix x = start;
    Vector none;
    const double two_pi = 2.0 * std::numbers::pi;
    for (int k = 4; k > 0; --k) rk.advance(rotate, x, none, two_pi * k / 4.0, two_pi * (k - 1) / 4.0);
    EXPECT_LT((x - start).cwiseAbs().maxCoeff(), 1e3 * kTol);
    EXPECT_EQ(rk.evaluations(), 4 + 1 + 6 * (rk.steps() + rk.rejected_steps()));
  }
}

TEST(DormandPrince, ExactOnAConstantSlopeWithZeroErrorEstimates) {
  const OdeFunction one = [](double, const Matrix& x, Matrix& dx, Vector&) { dx = Matrix::Ones(x.rows(), x.cols()); };
  DormandPrince rk(DormandPrinceOptions{});
  Matrix x = Matrix::Zero(2, 3);
  Vector none;
  rk.advance(one, x, none, 0.0, 10.0);
  EXPECT_LT((x.array() - 10.0).abs().maxCoeff(), 1e-12);
  EXPECT_EQ(rk.rejected_steps(), 0);
}

TEST(DormandPrince, MaxStepsNamesTheReportedTime) {
  const Decay p;
  DormandPrinceOptions o = tight(LastStep::kClamp);
  o.max_steps = 3;
  o.what = "test ODE";
  o.max_steps_note = " (ode.max_steps)";
  o.time_name = "t";
  o.reported_time = [](double u) { return std::exp(u); };
  DormandPrince rk(o);
  Matrix x = p.x0;
  Vector q = Vector::Zero(3);
  try {
    rk.advance(p.f(), x, q, 0.0, 5.0);
    FAIL() << "no error";
  } catch (const NumericalError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("test ODE: more than 3 steps (ode.max_steps) at t = ", 0), 0u) << msg;
    // u > 0 when it stops, so the reported time e^u is above 1.
    EXPECT_GT(std::stod(msg.substr(msg.find("t = ") + 4)), 1.0) << msg;
  }
}

TEST(DormandPrince, FailsOnABlowUp) {
  // dx/du = x², x(0) = 1: x = 1/(1 − u) is infinite at u = 1.
  const OdeFunction square = [](double, const Matrix& x, Matrix& dx, Vector&) { dx = x.array().square().matrix(); };
  DormandPrince rk(DormandPrinceOptions{});
  Matrix x = Matrix::Ones(1, 1);
  Vector none;
  EXPECT_THROW(rk.advance(square, x, none, 0.0, 2.0), NumericalError);
}

TEST(DormandPrince, RefusesInvalidOptions) {
  DormandPrinceOptions o;
  o.atol = 0.0;
  EXPECT_NE(o.validate(), "");
  EXPECT_THROW(DormandPrince{o}, ConfigError);
  o = {};
  o.max_steps = 0;
  EXPECT_THROW(DormandPrince{o}, ConfigError);
  o = {};
  o.rtol = NAN;
  EXPECT_NE(o.validate(), "");
  EXPECT_EQ(DormandPrinceOptions{}.validate(), "");
}

}  // namespace
}  // namespace diffgen
