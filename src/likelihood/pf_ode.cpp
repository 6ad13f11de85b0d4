#include "likelihood/pf_ode.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "numerics/ode.hpp"
#include "sde/probability_flow.hpp"

namespace diffgen {
namespace {

std::string fmt_time(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t);
  return buf;
}

// The stepper for one chunk, integrating in u (u = t or u = log t).
DormandPrinceOptions stepper_options(const PfOdeOptions& o, const Sde& sde) {
  DormandPrinceOptions s;
  s.rtol = o.rtol;
  s.atol = o.atol;
  s.max_steps = o.max_steps;
  s.last_step = LastStep::kClamp;
  s.what = "PF-ODE likelihood";
  s.max_steps_note = " (ode.max_steps)";
  if (o.time_variable == OdeTimeVariable::Log) {
    // t(u), exact at the end point so that messages name T itself.
    const double T = sde.T(), u1 = std::log(T);
    s.reported_time = [T, u1](double u) { return u == u1 ? T : std::exp(u); };
  }
  return s;
}

// One chunk's integration of the augmented state (x, ℓ), ℓ = ∫∇·v, from ε to
// T in the variable u: d(x, ℓ)/du = jac (v(x, t), ∇·v(x, t)), jac = dt/du.
// Returns the stepper with its counts; on return x holds x(T) and l holds ℓ.
DormandPrince integrate_chunk(const ScoreModel& model, const Sde& sde, const PfOdeOptions& o,
                              const DormandPrinceOptions& stepper, Matrix& x, Vector& l) {
  const bool log_time = o.time_variable == OdeTimeVariable::Log;
  Vector t_rows(x.rows()), div_s;
  Matrix s;
  const OdeFunction rhs = [&](double u, const Matrix& y, Matrix& dy, Vector& dl) {
    const double t = log_time ? std::exp(u) : u;
    const double jac = log_time ? t : 1.0;
    t_rows.setConstant(t);
    model.score_and_divergence(y, t_rows, s, div_s);
    probability_flow_velocity(sde, t, y, s, dy, jac);
    probability_flow_divergence(sde, t, model.dim(), div_s, dl, jac);
  };
  DormandPrince rk(stepper);
  l.setZero(x.rows());
  if (log_time)
    rk.advance(rhs, x, l, std::log(o.eps), std::log(sde.T()));
  else
    rk.advance(rhs, x, l, o.eps, sde.T());
  return rk;
}

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
  const DormandPrinceOptions stepper = stepper_options(options, sde);
  parallel_for(n, options.chunk, [&](Index b, Index e) {
    // Per chunk: a whole solve can take many seconds, a chunk a fraction of one.
    throw_if_interrupted("a PF-ODE likelihood solve");
    Matrix x = X.middleRows(b, e - b);
    Vector l;
    const DormandPrince rk = integrate_chunk(model, sde, options, stepper, x, l);
    out.latent.middleRows(b, e - b) = x;
    out.divergence_integral.segment(b, e - b) = l;
    const Index c = b / options.chunk;
    steps[c] = rk.steps();
    rejected[c] = rk.rejected_steps();
    evals[c] = rk.evaluations();
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
