#include "sampling/pf_ode_rk45.hpp"

#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "numerics/ode.hpp"
#include "sampling/time_grid.hpp"
#include "sde/probability_flow.hpp"

namespace diffgen {
namespace {

std::string fmt_time(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t);
  return buf;
}

// Each chunk's stepper carries its step size from one grid interval to the
// next; a step shortened to land on a grid time does not shrink the next one.
DormandPrinceOptions stepper_options(const PfOdeSamplerOptions& o) {
  DormandPrinceOptions s;
  s.rtol = o.rtol;
  s.atol = o.atol;
  s.max_steps = o.max_steps;
  s.last_step = LastStep::kShortenKeepingStepSize;
  s.what = "PF-ODE RK45 sampler";
  s.time_name = "τ";
  return s;
}

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
  std::vector<DormandPrince> ode(chunks, DormandPrince(stepper_options(options)));
  for (Index k = 0; k + 1 < time_grid.size(); ++k) {
    parallel_for(n, options.chunk, [&](Index b, Index e) {
      Matrix xc = x.middleRows(b, e - b), s;
      Vector none;
      // v(x, τ) = b(τ) x - ½ g(τ)² s_θ(x, τ).
      const OdeFunction velocity = [&](double tau, const Matrix& y, Matrix& v, Vector&) {
        model.score(y, Vector::Constant(y.rows(), tau), s);
        probability_flow_velocity(sde, tau, y, s, v);
      };
      ode[b / options.chunk].advance(velocity, xc, none, time_grid[k], time_grid[k + 1]);
      x.middleRows(b, e - b) = xc;
    });
    if (callback) callback(k + 1, time_grid[k + 1], x);
  }
  if (summary) {
    *summary = {};
    for (const auto& o : ode) {
      summary->steps += o.steps();
      summary->rejected_steps += o.rejected_steps();
      summary->evaluations += o.evaluations();
    }
  }
  return x;
}

Matrix sample_pf_ode_rk45(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid, Rng&,
                          const StepCallback& callback) {
  return sample_pf_ode_rk45(model, sde, std::move(x_T), time_grid, PfOdeSamplerOptions{}, nullptr, callback);
}

}  // namespace diffgen
