#include "likelihood/pf_ode.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "sde/probability_flow.hpp"

namespace diffgen {
namespace {

// Dormand–Prince 5(4) tableau (the coefficients of scipy's RK45): stage
// times C, stage weights A, 5th-order weights B, and E = (5th - 4th order)
// weights over all seven stages (the seventh is f at the new point: FSAL).
constexpr int kStages = 6;
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
// Step-size controller (Hairer, Nørsett & Wanner II.4; scipy's constants).
constexpr double kSafety = 0.9;
constexpr double kMinFactor = 0.2;
constexpr double kMaxFactor = 10.0;
constexpr double kErrorExponent = -1.0 / 5.0;

std::string fmt_time(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t);
  return buf;
}

// One chunk's adaptive integration of the augmented state (x, ℓ), ℓ = ∫∇·v,
// in the variable u (u = t or u = log t).
class ChunkIntegrator {
 public:
  ChunkIntegrator(const ScoreModel& model, const Sde& sde, const PfOdeOptions& o, Index rows)
      : model_(model), sde_(sde), o_(o), log_time_(o.time_variable == "log"), m_(rows), d_(model.dim()) {
    tvec_.resize(m_);
    for (auto& k : kx_) k.resize(m_, d_);
    for (auto& k : kl_) k.resize(m_);
  }

  // Integrates from ε to T; on return x holds x(T) and l holds ∫_ε^T ∇·v dt.
  void run(Matrix& x, Vector& l) {
    const double u0 = to_u(o_.eps), u1 = to_u(sde_.T());
    l.setZero(m_);
    double u = u0;
    rhs(u, x, kx_[0], kl_[0]);
    double h = initial_step(u, u1, x, l);
    bool last_rejected = false;
    Index attempts = 0;
    while (u < u1) {
      // Never step past T; never below what the floating-point grid in u resolves.
      const double min_step = 10.0 * std::abs(std::nextafter(u, std::numeric_limits<double>::infinity()) - u);
      h = std::max(h, min_step);
      bool accepted = false;
      while (!accepted) {
        if (++attempts > o_.max_steps)
          throw NumericalError("PF-ODE likelihood: more than " + std::to_string(o_.max_steps) +
                               " steps (ode.max_steps) at t = " + fmt_time(to_t(u, u1)));
        double u_new = u + h;
        if (u_new >= u1) u_new = u1;
        const double step = u_new - u;
        rk_step(u, step, x, l);
        const double err = error_norm(step, x, l);
        if (err < 1.0) {
          // Accept; grow the step, but not right after a rejection.
          double factor = err == 0.0 ? kMaxFactor : std::min(kMaxFactor, kSafety * std::pow(err, kErrorExponent));
          if (last_rejected) factor = std::min(1.0, factor);
          h = step * factor;
          accepted = true;
          last_rejected = false;
          u = u_new;
          x.swap(x_new_);
          l.swap(l_new_);
          // FSAL: the last stage is f at the new point, the next step's first.
          kx_[0].swap(kx_[kStages]);
          kl_[0].swap(kl_[kStages]);
          ++steps;
        } else {
          // Reject (a non-finite error counts as a failed step): shrink and retry.
          const double factor =
              std::isfinite(err) ? std::max(kMinFactor, kSafety * std::pow(err, kErrorExponent)) : kMinFactor;
          h = step * factor;
          last_rejected = true;
          ++rejected;
          if (h < min_step)
            throw NumericalError("PF-ODE likelihood: step size underflow at t = " + fmt_time(to_t(u, u1)) +
                                 (std::isfinite(err) ? std::string() : " (non-finite values)"));
        }
      }
      if (!x.allFinite() || !l.allFinite())
        throw NumericalError("PF-ODE likelihood: non-finite state at t = " + fmt_time(to_t(u, u1)));
    }
  }

  Index steps = 0, rejected = 0, evaluations = 0;

 private:
  double to_u(double t) const { return log_time_ ? std::log(t) : t; }
  // t(u), exact at the end point so the prior is evaluated at T itself.
  double to_t(double u, double u1) const {
    if (!log_time_) return u;
    return u == u1 ? sde_.T() : std::exp(u);
  }

  // d(x, ℓ)/du = jac (b x - ½ g² s, d b - ½ g² ∇·s), jac = dt/du.
  void rhs(double u, const Matrix& x, Matrix& kx, Vector& kl) {
    const double t = log_time_ ? std::exp(u) : u;
    const double jac = log_time_ ? t : 1.0;
    tvec_.setConstant(t);
    model_.score_and_divergence(x, tvec_, s_, div_);
    probability_flow_velocity(sde_, t, x, s_, kx, jac);
    probability_flow_divergence(sde_, t, d_, div_, kl, jac);
    ++evaluations;
  }

  // Dormand–Prince step of size h from (u, x, l); kx_[0], kl_[0] hold f(u).
  // Writes the 5th-order solution into x_new_, l_new_ and f there into stage 7.
  void rk_step(double u, double h, const Matrix& x, const Vector& l) {
    for (int s = 1; s < kStages; ++s) {
      xs_ = x;
      ls_ = l;
      for (int j = 0; j < s; ++j) {
        if (kA[s][j] == 0.0) continue;
        xs_.noalias() += (h * kA[s][j]) * kx_[j];
        ls_.noalias() += (h * kA[s][j]) * kl_[j];
      }
      rhs(u + kC[s] * h, xs_, kx_[s], kl_[s]);
    }
    x_new_ = x;
    l_new_ = l;
    for (int j = 0; j < kStages; ++j) {
      if (kB[j] == 0.0) continue;
      x_new_.noalias() += (h * kB[j]) * kx_[j];
      l_new_.noalias() += (h * kB[j]) * kl_[j];
    }
    rhs(u + h, x_new_, kx_[kStages], kl_[kStages]);
  }

  // RMS over all components of err / (atol + rtol max(|y|, |y_new|)), as scipy's solve_ivp.
  double error_norm(double h, const Matrix& x, const Vector& l) {
    xs_.setZero(m_, d_);
    ls_.setZero(m_);
    for (int j = 0; j <= kStages; ++j) {
      if (kE[j] == 0.0) continue;
      xs_.noalias() += (h * kE[j]) * kx_[j];
      ls_.noalias() += (h * kE[j]) * kl_[j];
    }
    const double sx = (xs_.array() / (o_.atol + o_.rtol * x.array().abs().max(x_new_.array().abs()))).square().sum();
    const double sl = (ls_.array() / (o_.atol + o_.rtol * l.array().abs().max(l_new_.array().abs()))).square().sum();
    return std::sqrt((sx + sl) / static_cast<double>(m_ * (d_ + 1)));
  }

  // The usual first-step heuristic (Hairer, Nørsett & Wanner II.4, as scipy's
  // select_initial_step): h0 from |y|/|f|, refined by a second-derivative estimate.
  double initial_step(double u0, double u1, const Matrix& x, const Vector& l) {
    auto rms_scaled = [&](const Matrix& vx, const Vector& vl) {
      const double sx = (vx.array() / (o_.atol + o_.rtol * x.array().abs())).square().sum();
      const double sl = (vl.array() / (o_.atol + o_.rtol * l.array().abs())).square().sum();
      return std::sqrt((sx + sl) / static_cast<double>(m_ * (d_ + 1)));
    };
    const double d0 = rms_scaled(x, l), d1 = rms_scaled(kx_[0], kl_[0]);
    const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    xs_ = x + h0 * kx_[0];
    ls_ = l + h0 * kl_[0];
    rhs(u0 + h0, xs_, kx_[1], kl_[1]);
    const double d2 = rms_scaled(kx_[1] - kx_[0], kl_[1] - kl_[0]) / h0;
    const double h1 =
        (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / 5.0);
    return std::min({100.0 * h0, h1, u1 - u0});
  }

  const ScoreModel& model_;
  const Sde& sde_;
  const PfOdeOptions& o_;
  const bool log_time_;
  const Index m_, d_;
  Vector tvec_, div_, ls_, l_new_;
  Matrix s_, xs_, x_new_;
  std::array<Matrix, kStages + 1> kx_;
  std::array<Vector, kStages + 1> kl_;
};

}  // namespace

std::string PfOdeOptions::validate() const {
  if (!(eps > 0.0) || !std::isfinite(eps))
    return "ode.eps = " + fmt_time(eps) + " is not allowed (need a finite start time > 0)";
  if (!(rtol > 0.0) || !(atol > 0.0) || !std::isfinite(rtol) || !std::isfinite(atol))
    return "ode.rtol = " + fmt_time(rtol) + ", ode.atol = " + fmt_time(atol) +
           " is not allowed (need finite tolerances > 0)";
  if (rtol < 1e-13) return "ode.rtol = " + fmt_time(rtol) + " is not allowed (need >= 1e-13, above rounding)";
  if (max_steps < 1) return "ode.max_steps = " + std::to_string(max_steps) + " is not allowed (need >= 1)";
  if (chunk < 1) return "ode.chunk = " + std::to_string(chunk) + " is not allowed (need >= 1)";
  if (time_variable != "log" && time_variable != "linear")
    return "ode.time_variable = '" + time_variable + "' is not allowed (allowed: log, linear)";
  return {};
}

PfOdeSummary pf_ode_log_density(const ScoreModel& model, const Sde& sde, const Matrix& X, const PfOdeOptions& options,
                                const LogDensityFunction& log_prior) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (!(options.eps < sde.T()))
    throw ConfigError("ode.eps = " + fmt_time(options.eps) + " is not allowed (need eps < T = " + fmt_time(sde.T()) +
                      ")");
  if (!model.has_exact_divergence())
    throw ConfigError("PF-ODE likelihood: score model '" + model.name() +
                      "' has no exact divergence (needed for the change of variables)");
  if (X.cols() != model.dim())
    throw ConfigError("PF-ODE likelihood: points have " + std::to_string(X.cols()) + " columns, the model has " +
                      std::to_string(model.dim()));
  if (!X.allFinite()) throw ConfigError("PF-ODE likelihood: the input points are not all finite");
  const Index n = X.rows();
  PfOdeSummary out;
  out.latent.resize(n, X.cols());
  out.divergence_integral.resize(n);
  const Index chunks = (n + options.chunk - 1) / options.chunk;
  out.chunks = chunks;
  std::vector<Index> steps(chunks), rejected(chunks), evals(chunks);

  // Each fixed-size chunk is its own adaptive integration, so what a point
  // gets depends only on its chunk, never on the thread that ran it.
  parallel_for(n, options.chunk, [&](Index b, Index e) {
    ChunkIntegrator rk(model, sde, options, e - b);
    Matrix x = X.middleRows(b, e - b);
    Vector l;
    rk.run(x, l);
    out.latent.middleRows(b, e - b) = x;
    out.divergence_integral.segment(b, e - b) = l;
    const Index c = b / options.chunk;
    steps[c] = rk.steps;
    rejected[c] = rk.rejected;
    evals[c] = rk.evaluations;
  });
  for (Index c = 0; c < chunks; ++c) {
    const Index rows = std::min(options.chunk, n - c * options.chunk);
    out.steps += steps[c];
    out.rejected_steps += rejected[c];
    out.max_chunk_steps = std::max(out.max_chunk_steps, steps[c]);
    out.function_evaluations += evals[c];
    out.point_evaluations += evals[c] * rows;
  }

  // log p_ε(x) = log p_T(x(T)) + ∫_ε^T ∇·v dt.
  out.log_prior = log_prior ? log_prior(out.latent) : sde.prior_log_density(out.latent);
  if (out.log_prior.size() != n)
    throw ConfigError("PF-ODE likelihood: the prior returned " + std::to_string(out.log_prior.size()) + " values for " +
                      std::to_string(n) + " points");
  out.log_density = out.log_prior + out.divergence_integral;
  for (Index i = 0; i < n; ++i)
    if (!std::isfinite(out.log_density[i]))
      throw NumericalError("PF-ODE likelihood: log p_T is not finite at x(T) of point " + std::to_string(i));
  return out;
}

}  // namespace diffgen
