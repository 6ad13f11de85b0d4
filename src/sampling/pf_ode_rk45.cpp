#include "sampling/pf_ode_rk45.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "sampling/time_grid.hpp"
#include "sde/probability_flow.hpp"

namespace diffgen {
namespace {

// Dormand–Prince 5(4) (Dormand & Prince 1980): stage times C, stage weights
// A, 5th-order weights B, and E = (5th - 4th order) weights over the seven
// stages (the seventh is the slope at the new point, reused as the next
// step's first).
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
// Step-size control (Hairer, Nørsett & Wanner, Solving ODEs I, §II.4).
constexpr double kSafety = 0.9, kMinFactor = 0.2, kMaxFactor = 10.0, kExponent = -1.0 / 5.0;

std::string fmt_time(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t);
  return buf;
}

// One chunk's integration; the step size carries over from one grid interval to the next.
class ChunkOde {
 public:
  ChunkOde(const ScoreModel& model, const Sde& sde, const PfOdeSamplerOptions& o, Index rows)
      : model_(model), sde_(sde), o_(o), m_(rows), d_(model.dim()) {}

  // Advances x from τ0 to τ1 (either direction).
  void advance(Matrix& x, double tau0, double tau1) {
    const double dir = tau1 < tau0 ? -1.0 : 1.0;
    double tau = tau0;
    rhs(tau, x, k_[0]);
    if (h_ == 0.0) h_ = initial_step(tau, dir, x, std::abs(tau1 - tau0));
    bool last_rejected = false;
    while (dir * (tau1 - tau) > 0.0) {
      const double min_step = 10.0 * std::abs(std::nextafter(tau, tau1) - tau);
      h_ = std::max(h_, min_step);
      for (;;) {
        if (++attempts_ > o_.max_steps)
          throw NumericalError("PF-ODE RK45 sampler: more than " + std::to_string(o_.max_steps) +
                               " steps at τ = " + fmt_time(tau));
        // Never step past τ1; a step shortened to land on it does not shrink the next one.
        const bool clipped = h_ >= std::abs(tau1 - tau);
        const double h = clipped ? std::abs(tau1 - tau) : h_;
        const double tau_new = clipped ? tau1 : tau + dir * h;
        step(tau, dir * h, x);
        const double err = error_norm(dir * h, x);
        if (err < 1.0) {
          double factor = err == 0.0 ? kMaxFactor : std::min(kMaxFactor, kSafety * std::pow(err, kExponent));
          if (last_rejected) factor = std::min(1.0, factor);
          h_ = clipped ? std::max(h_, h * factor) : h * factor;
          last_rejected = false;
          tau = tau_new;
          x.swap(x_new_);
          k_[0].swap(k_[kStages]);
          ++steps;
          break;
        }
        h_ = h * (std::isfinite(err) ? std::max(kMinFactor, kSafety * std::pow(err, kExponent)) : kMinFactor);
        last_rejected = true;
        ++rejected;
        if (h_ < min_step)
          throw NumericalError("PF-ODE RK45 sampler: step size underflow at τ = " + fmt_time(tau) +
                               (std::isfinite(err) ? std::string() : " (non-finite values)"));
      }
      if (!x.allFinite()) throw NumericalError("PF-ODE RK45 sampler: non-finite state at τ = " + fmt_time(tau));
    }
  }

  Index steps = 0, rejected = 0, evaluations = 0;

 private:
  // v(x, τ) = b(τ) x - ½ g(τ)² s_θ(x, τ).
  void rhs(double tau, const Matrix& x, Matrix& v) {
    model_.score(x, Vector::Constant(m_, tau), s_);
    probability_flow_velocity(sde_, tau, x, s_, v);
    ++evaluations;
  }

  void step(double tau, double h, const Matrix& x) {
    for (int s = 1; s < kStages; ++s) {
      xs_ = x;
      for (int j = 0; j < s; ++j)
        if (kA[s][j] != 0.0) xs_.noalias() += (h * kA[s][j]) * k_[j];
      rhs(tau + kC[s] * h, xs_, k_[s]);
    }
    x_new_ = x;
    for (int j = 0; j < kStages; ++j)
      if (kB[j] != 0.0) x_new_.noalias() += (h * kB[j]) * k_[j];
    rhs(tau + h, x_new_, k_[kStages]);
  }

  // RMS of err / (atol + rtol max(|x|, |x_new|)) over the chunk.
  double error_norm(double h, const Matrix& x) {
    xs_.setZero(m_, d_);
    for (int j = 0; j <= kStages; ++j)
      if (kE[j] != 0.0) xs_.noalias() += (h * kE[j]) * k_[j];
    const double sum = (xs_.array() / (o_.atol + o_.rtol * x.array().abs().max(x_new_.array().abs()))).square().sum();
    return std::sqrt(sum / static_cast<double>(m_ * d_));
  }

  // The usual first-step heuristic (Hairer, Nørsett & Wanner I, §II.4).
  double initial_step(double tau, double dir, const Matrix& x, double span) {
    auto rms = [&](const Matrix& v) {
      return std::sqrt((v.array() / (o_.atol + o_.rtol * x.array().abs())).square().sum() /
                       static_cast<double>(m_ * d_));
    };
    const double d0 = rms(x), d1 = rms(k_[0]);
    const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    xs_ = x + (dir * h0) * k_[0];
    rhs(tau + dir * h0, xs_, k_[1]);
    const double d2 = rms(k_[1] - k_[0]) / h0;
    const double h1 =
        (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 1.0 / 5.0);
    return std::min({100.0 * h0, h1, span});
  }

  const ScoreModel& model_;
  const Sde& sde_;
  const PfOdeSamplerOptions& o_;
  const Index m_, d_;
  double h_ = 0.0;
  Index attempts_ = 0;
  Matrix s_, xs_, x_new_;
  std::array<Matrix, kStages + 1> k_;
};

}  // namespace

std::string PfOdeSamplerOptions::validate() const {
  if (!(rtol >= 1e-13) || !(atol > 0.0) || !std::isfinite(rtol) || !std::isfinite(atol))
    return "rtol = " + fmt_time(rtol) + ", atol = " + fmt_time(atol) +
           " is not allowed (need finite tolerances, atol > 0, rtol >= 1e-13)";
  if (max_steps < 1) return "max_steps = " + std::to_string(max_steps) + " is not allowed (need >= 1)";
  if (chunk < 1) return "chunk = " + std::to_string(chunk) + " is not allowed (need >= 1)";
  return {};
}

Matrix sample_pf_ode_rk45(const ScoreModel& model, const Sde& sde, Matrix x, const Vector& time_grid,
                          const PfOdeSamplerOptions& options, PfOdeSamplerSummary* summary,
                          const StepCallback& callback) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError("PF-ODE RK45 sampler: " + err);
  if (auto err = validate_time_grid(time_grid); !err.empty()) throw ConfigError("PF-ODE RK45 sampler: " + err);
  if (time_grid[0] > sde.T() * (1.0 + 1e-12))
    throw ConfigError("PF-ODE RK45 sampler: time grid starts at " + fmt_time(time_grid[0]) +
                      " beyond the SDE's T = " + fmt_time(sde.T()));
  if (x.cols() != model.dim())
    throw ConfigError("PF-ODE RK45 sampler: initial points have " + std::to_string(x.cols()) +
                      " columns, the model has dimension " + std::to_string(model.dim()));
  const Index n = x.rows(), chunks = (n + options.chunk - 1) / options.chunk;
  std::vector<ChunkOde> ode;
  ode.reserve(chunks);
  for (Index c = 0; c < chunks; ++c)
    ode.emplace_back(model, sde, options, std::min(options.chunk, n - c * options.chunk));
  for (Index k = 0; k + 1 < time_grid.size(); ++k) {
    parallel_for(n, options.chunk, [&](Index b, Index e) {
      Matrix xc = x.middleRows(b, e - b);
      ode[b / options.chunk].advance(xc, time_grid[k], time_grid[k + 1]);
      x.middleRows(b, e - b) = xc;
    });
    if (callback) callback(k + 1, time_grid[k + 1], x);
  }
  if (summary) {
    *summary = {};
    for (const auto& o : ode) {
      summary->steps += o.steps;
      summary->rejected_steps += o.rejected;
      summary->evaluations += o.evaluations;
    }
  }
  return x;
}

Matrix sample_pf_ode_rk45(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid, Rng&,
                          const StepCallback& callback) {
  return sample_pf_ode_rk45(model, sde, std::move(x_T), time_grid, PfOdeSamplerOptions{}, nullptr, callback);
}

}  // namespace diffgen
