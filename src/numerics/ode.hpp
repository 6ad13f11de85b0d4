// Adaptive Dormand–Prince 5(4) (Dormand & Prince 1980, the coefficients of
// scipy's RK45) for a batch of points that share one step size:
//   dX/du = F(u, X),   dq/du = G(u, X),
// X an m×d matrix (rows are points) and q an optional vector integrated
// alongside that does not feed back into F or G (a running integral such as
// ∫∇·v dt; empty when not needed). Each step takes the 5th-order solution,
// with the difference to the embedded 4th-order one as its error estimate
// (the seventh stage is F at the new point and the next step's first: FSAL).
// A step is accepted when
//   err = RMS over all components of (y5 − y4) / (atol + rtol max(|y|, |y_new|)) < 1,
// and the next step size is h · clamp(0.9 err^(−1/5), 0.2, 10) (Hairer,
// Nørsett & Wanner I §II.4, scipy's constants; no growth right after a
// rejection). The first step is the usual heuristic from |y|, |f| and a
// second-derivative estimate (scipy's select_initial_step).
#pragma once

#include <array>
#include <functional>
#include <string>

#include "core/types.hpp"

namespace diffgen {

// F and G at (u, X): writes F into dx (X-shaped) and G into dq (q-shaped;
// leave it alone when q is empty).
using OdeFunction = std::function<void(double u, const Matrix& x, Matrix& dx, Vector& dq)>;

// How a step that would pass the end of an interval is cut.
enum class LastStep {
  // u_new = min(u + h, u1); the step is u_new − u and the next step grows
  // from it (the PF-ODE likelihood's behaviour).
  kClamp,
  // The step is shortened to |u1 − u| when h ≥ |u1 − u|; the next step grows
  // from the longer of h and the shortened step's successor, so landing on a
  // report time does not shrink the steps after it (the PF-ODE sampler's).
  kShortenKeepingStepSize,
};

struct DormandPrinceOptions {
  double rtol = 1e-6;       // relative tolerance per component
  double atol = 1e-6;       // absolute tolerance per component (> 0)
  Index max_steps = 20000;  // attempted (accepted + rejected) steps over the stepper's life
  LastStep last_step = LastStep::kClamp;
  // What the NumericalError messages say: "<what>: more than N steps<max_steps_note>
  // at <time_name> = <reported_time(u)>", "<what>: step size underflow at ...",
  // "<what>: non-finite state at ...". reported_time maps the integration
  // variable to the time to name (the identity when empty).
  std::string what = "Dormand–Prince";
  std::string max_steps_note;
  std::string time_name = "t";
  std::function<double(double)> reported_time;
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// One batch's integrator. It keeps its step size and step count from one
// advance() to the next, so a path reported at several times is integrated as
// one (the step size carries over).
class DormandPrince {
 public:
  // ConfigError on invalid options.
  explicit DormandPrince(DormandPrinceOptions options);

  // Integrates (X, q) from u0 to u1 (either direction). Throws NumericalError
  // when max_steps is exceeded, the step size underflows (10 ulps of u) or the
  // state turns non-finite.
  void advance(const OdeFunction& f, Matrix& x, Vector& q, double u0, double u1);

  Index steps() const { return steps_; }              // accepted steps
  Index rejected_steps() const { return rejected_; }  // rejected steps
  Index evaluations() const { return evaluations_; }  // calls of f

  // Stages per step; the seventh evaluation is the next step's first (FSAL).
  static constexpr int kStages = 6;

 private:
  void evaluate(const OdeFunction& f, double u, const Matrix& x, Matrix& dx, Vector& dq);
  void step(const OdeFunction& f, double u, double h, const Matrix& x, const Vector& q);
  double error_norm(double h, const Matrix& x, const Vector& q);
  double initial_step(const OdeFunction& f, double u0, double dir, const Matrix& x, const Vector& q, double span);
  std::string at(double u) const;

  DormandPrinceOptions o_;
  double h_ = 0.0;  // the next step size; 0 until the first advance
  Index attempts_ = 0, steps_ = 0, rejected_ = 0, evaluations_ = 0;
  Matrix xs_, x_new_;
  Vector qs_, q_new_;
  std::array<Matrix, kStages + 1> kx_;
  std::array<Vector, kStages + 1> kq_;
};

}  // namespace diffgen
