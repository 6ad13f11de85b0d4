#include "sampling/samplers.hpp"

#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "sampling/discrete_time.hpp"
#include "sampling/pf_ode_rk45.hpp"
#include "sampling/time_grid.hpp"
#include "sde/probability_flow.hpp"

namespace diffgen {
namespace {

// Rows per parallel chunk of score evaluations (fixed: bit-identical results
// for any thread count).
constexpr Index kScoreChunk = 1024;

std::string fmt_time(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t);
  return buf;
}

void check_inputs(const ScoreModel& model, const Sde& sde, const Matrix& x, const Vector& time_grid,
                  const char* sampler) {
  if (auto err = validate_time_grid(time_grid); !err.empty()) throw ConfigError(std::string(sampler) + ": " + err);
  if (time_grid[0] > sde.T() * (1.0 + 1e-12))
    throw ConfigError(std::string(sampler) + ": time grid starts at " + fmt_time(time_grid[0]) +
                      " beyond the SDE's T = " + fmt_time(sde.T()));
  if (x.cols() != model.dim())
    throw ConfigError(std::string(sampler) + ": initial points have " + std::to_string(x.cols()) +
                      " columns, the model has dimension " + std::to_string(model.dim()));
}

// S = s(X, t) row by row, in fixed chunks on all threads.
void score_rows(const ScoreModel& model, const Matrix& X, double t, Matrix& S) {
  // Once per sampler step: a long sampling run stops within one step.
  throw_if_interrupted("sampling");
  S.resize(X.rows(), X.cols());
  if (X.rows() <= kScoreChunk) {
    model.score(X, Vector::Constant(X.rows(), t), S);
    return;
  }
  parallel_for(X.rows(), kScoreChunk, [&](Index b, Index e) {
    const Matrix chunk = X.middleRows(b, e - b);
    Matrix s;
    model.score(chunk, Vector::Constant(e - b, t), s);
    S.middleRows(b, e - b) = s;
  });
}

void check_finite(const Matrix& x, double t, const char* sampler) {
  if (!x.allFinite()) throw NumericalError(std::string(sampler) + ": non-finite samples at t = " + fmt_time(t));
}

}  // namespace

Matrix sample_euler_maruyama(const ScoreModel& model, const Sde& sde, Matrix x, const Vector& time_grid, Rng& rng,
                             const StepCallback& callback) {
  constexpr const char* kName = "euler-maruyama";
  check_inputs(model, sde, x, time_grid, kName);
  const Index steps = time_grid.size() - 1;
  Matrix S, z(x.rows(), x.cols());
  for (Index k = 0; k < steps; ++k) {
    const double t = time_grid[k], dt = t - time_grid[k + 1];
    score_rows(model, x, t, S);
    // Reverse drift: x <- x - [b(t) x - g² s] Δt.
    reverse_sde_drift_step(sde, t, dt, S, x);
    // Noise g √Δt z on every step but the last.
    if (k + 1 < steps) {
      rng.fill_normal(z);
      x.noalias() += std::sqrt(sde.g2(t) * dt) * z;
    }
    check_finite(x, time_grid[k + 1], kName);
    if (callback) callback(k + 1, time_grid[k + 1], x);
  }
  return x;
}

Matrix sample_pf_ode_heun(const ScoreModel& model, const Sde& sde, Matrix x, const Vector& time_grid, Rng&,
                          const StepCallback& callback) {
  constexpr const char* kName = "pf-ode-heun";
  check_inputs(model, sde, x, time_grid, kName);
  const Index steps = time_grid.size() - 1;
  Matrix S, v1, x_euler;
  // v(x, t) = b(t) x - ½ g(t)² s(x, t), the probability-flow velocity.
  auto velocity = [&](const Matrix& y, double t, Matrix& v) {
    score_rows(model, y, t, S);
    probability_flow_velocity(sde, t, y, S, v);
  };
  Matrix v2;
  for (Index k = 0; k < steps; ++k) {
    const double t = time_grid[k], t_next = time_grid[k + 1], h = t_next - t;
    // Euler predictor, then the trapezoidal corrector with the slope at t_next.
    velocity(x, t, v1);
    x_euler = x + h * v1;
    velocity(x_euler, t_next, v2);
    x.noalias() += (0.5 * h) * (v1 + v2);
    check_finite(x, t_next, kName);
    if (callback) callback(k + 1, t_next, x);
  }
  return x;
}

}  // namespace diffgen
