#include "numerics/ode.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "core/error.hpp"

namespace diffgen {
namespace {

// Dormand–Prince 5(4) tableau: stage times C, stage weights A, 5th-order
// weights B, and E = (5th − 4th order) weights over all seven stages.
constexpr int kStages = DormandPrince::kStages;
constexpr double kC[kStages] = {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0};
constexpr double kA[kStages][kStages] = {
    {0, 0, 0, 0, 0, 0},
    {1.0 / 5.0, 0, 0, 0, 0, 0},
    {3.0 / 40.0, 9.0 / 40.0, 0, 0, 0, 0},
    {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0, 0, 0},
    {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0, 0, 0},
    {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0, 0}};
constexpr double kB[kStages] = {35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0};
constexpr double kE[kStages + 1] = {-71.0 / 57600.0,    0.0,           71.0 / 16695.0, -71.0 / 1920.0,
                                    17253.0 / 339200.0, -22.0 / 525.0, 1.0 / 40.0};
// Step-size controller (Hairer, Nørsett & Wanner I §II.4; scipy's constants).
constexpr double kSafety = 0.9;
constexpr double kMinFactor = 0.2;
constexpr double kMaxFactor = 10.0;
constexpr double kErrorExponent = -1.0 / 5.0;

std::string fmt_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::string DormandPrinceOptions::validate() const {
  if (!(rtol >= 0.0) || !(atol > 0.0) || !std::isfinite(rtol) || !std::isfinite(atol))
    return "rtol = " + fmt_number(rtol) + ", atol = " + fmt_number(atol) +
           " is not allowed (need finite tolerances, rtol >= 0, atol > 0)";
  if (max_steps < 1) return "max_steps = " + std::to_string(max_steps) + " is not allowed (need >= 1)";
  return {};
}

DormandPrince::DormandPrince(DormandPrinceOptions options) : o_(std::move(options)) {
  if (auto err = o_.validate(); !err.empty()) throw ConfigError(o_.what + ": " + err);
}

void DormandPrince::advance(const OdeFunction& f, Matrix& x, Vector& q, double u0, double u1) {
  const double dir = u1 < u0 ? -1.0 : 1.0;
  double u = u0;
  evaluate(f, u, x, kx_[0], kq_[0]);
  if (h_ == 0.0) h_ = initial_step(f, u, dir, x, q, std::abs(u1 - u0));
  bool last_rejected = false;
  while (dir * (u1 - u) > 0.0) {
    // Never below what the floating-point grid in u resolves.
    const double min_step = 10.0 * std::abs(std::nextafter(u, u1) - u);
    h_ = std::max(h_, min_step);
    for (;;) {
      if (++attempts_ > o_.max_steps)
        throw NumericalError(o_.what + ": more than " + std::to_string(o_.max_steps) + " steps" + o_.max_steps_note +
                             at(u));
      // The trial step, never past u1: where it ends, its signed length and its size.
      double u_new, length, size;
      bool shortened = false;
      if (o_.last_step == LastStep::kClamp) {
        u_new = u + dir * h_;
        if (dir > 0.0 ? u_new >= u1 : u_new <= u1) u_new = u1;
        length = u_new - u;
        size = std::abs(length);
      } else {
        shortened = h_ >= std::abs(u1 - u);
        size = shortened ? std::abs(u1 - u) : h_;
        u_new = shortened ? u1 : u + dir * size;
        length = dir * size;
      }
      step(f, u, length, x, q);
      const double err = error_norm(length, x, q);
      if (err < 1.0) {
        // Accept; grow the step, but not right after a rejection.
        double factor = err == 0.0 ? kMaxFactor : std::min(kMaxFactor, kSafety * std::pow(err, kErrorExponent));
        if (last_rejected) factor = std::min(1.0, factor);
        h_ = shortened ? std::max(h_, size * factor) : size * factor;
        last_rejected = false;
        u = u_new;
        x.swap(x_new_);
        q.swap(q_new_);
        // FSAL: the last stage is f at the new point, the next step's first.
        kx_[0].swap(kx_[kStages]);
        kq_[0].swap(kq_[kStages]);
        ++steps_;
        break;
      }
      // Reject (a non-finite error counts as a failed step): shrink and retry.
      h_ = size * (std::isfinite(err) ? std::max(kMinFactor, kSafety * std::pow(err, kErrorExponent)) : kMinFactor);
      last_rejected = true;
      ++rejected_;
      if (h_ < min_step)
        throw NumericalError(o_.what + ": step size underflow" + at(u) +
                             (std::isfinite(err) ? std::string() : " (non-finite values)"));
    }
    if (!x.allFinite() || !q.allFinite()) throw NumericalError(o_.what + ": non-finite state" + at(u));
  }
}

void DormandPrince::evaluate(const OdeFunction& f, double u, const Matrix& x, Matrix& dx, Vector& dq) {
  f(u, x, dx, dq);
  ++evaluations_;
}

// The step of signed length h from (u, x, q); kx_[0], kq_[0] hold f(u). Writes
// the 5th-order solution into x_new_, q_new_ and f there into the seventh stage.
void DormandPrince::step(const OdeFunction& f, double u, double h, const Matrix& x, const Vector& q) {
  for (int s = 1; s < kStages; ++s) {
    xs_ = x;
    for (int j = 0; j < s; ++j)
      if (kA[s][j] != 0.0) xs_.noalias() += (h * kA[s][j]) * kx_[j];
    evaluate(f, u + kC[s] * h, xs_, kx_[s], kq_[s]);
  }
  x_new_ = x;
  q_new_ = q;
  for (int j = 0; j < kStages; ++j) {
    if (kB[j] == 0.0) continue;
    x_new_.noalias() += (h * kB[j]) * kx_[j];
    q_new_.noalias() += (h * kB[j]) * kq_[j];
  }
  evaluate(f, u + h, x_new_, kx_[kStages], kq_[kStages]);
}

// RMS over all components of err / (atol + rtol max(|y|, |y_new|)), as scipy's solve_ivp.
double DormandPrince::error_norm(double h, const Matrix& x, const Vector& q) {
  xs_.setZero(x.rows(), x.cols());
  qs_.setZero(q.size());
  for (int j = 0; j <= kStages; ++j) {
    if (kE[j] == 0.0) continue;
    xs_.noalias() += (h * kE[j]) * kx_[j];
    qs_.noalias() += (h * kE[j]) * kq_[j];
  }
  const double sx = (xs_.array() / (o_.atol + o_.rtol * x.array().abs().max(x_new_.array().abs()))).square().sum();
  const double sq = (qs_.array() / (o_.atol + o_.rtol * q.array().abs().max(q_new_.array().abs()))).square().sum();
  return std::sqrt((sx + sq) / static_cast<double>(x.size() + q.size()));
}

// The first-step heuristic (Hairer, Nørsett & Wanner I §II.4, as scipy's
// select_initial_step): h0 from |y|/|f|, refined by a second-derivative estimate.
double DormandPrince::initial_step(const OdeFunction& f, double u0, double dir, const Matrix& x, const Vector& q,
                                   double span) {
  const double components = static_cast<double>(x.size() + q.size());
  auto rms_scaled = [&](const Matrix& vx, const Vector& vq) {
    const double sx = (vx.array() / (o_.atol + o_.rtol * x.array().abs())).square().sum();
    const double sq = (vq.array() / (o_.atol + o_.rtol * q.array().abs())).square().sum();
    return std::sqrt((sx + sq) / components);
  };
  const double d0 = rms_scaled(x, q), d1 = rms_scaled(kx_[0], kq_[0]);
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  xs_ = x + (dir * h0) * kx_[0];
  evaluate(f, u0 + dir * h0, xs_, kx_[1], kq_[1]);
  const double d2 = rms_scaled(kx_[1] - kx_[0], kq_[1] - kq_[0]) / h0;
  const double h1 =
      (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / 5.0);
  return std::min({100.0 * h0, h1, span});
}

// " at <time_name> = <time>", for the error messages.
std::string DormandPrince::at(double u) const {
  return " at " + o_.time_name + " = " + fmt_number(o_.reported_time ? o_.reported_time(u) : u);
}

}  // namespace diffgen
