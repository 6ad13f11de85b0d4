#include "metrics/model_density.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace diffgen {
namespace {

// The first non-finite entry of v, or -1.
Index first_non_finite(const Vector& v) {
  for (Index i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return i;
  return -1;
}

void check_inputs(const ScoreModel& model, const Target& target, const Matrix& test) {
  if (!model.has_exact_divergence())
    throw ConfigError(fmt::format(
        "test error by exact density: score model '{}' has no exact divergence (the PF-ODE density needs it)",
        model.name()));
  if (target.dim() != model.dim())
    throw ConfigError(fmt::format("test error by exact density: the target has dimension {}, score model '{}' has {}",
                                  target.dim(), model.name(), model.dim()));
  if (test.cols() != model.dim())
    throw ConfigError(fmt::format("test error by exact density: the test points have {} columns, the model has {}",
                                  test.cols(), model.dim()));
  if (test.rows() < 2)
    throw ConfigError(fmt::format(
        "test error by exact density: {} test points given (need >= 2 for a standard error)", test.rows()));
}

}  // namespace

ModelDensityErrors model_density_errors(const ScoreModel& model, const Sde& sde, const Target& target,
                                        const Matrix& test, const PfOdeOptions& options,
                                        const LogDensityFunction& log_prior) {
  check_inputs(model, target, test);
  PfOdeSummary flow;
  try {
    flow = pf_ode_log_density(model, sde, test, options, log_prior);
  } catch (const NumericalError& e) {
    throw NumericalError(fmt::format("test error by exact density of score model '{}': {}", model.name(), e.what()));
  }
  // log p_0 at the ODE's own end ε (see the header), so that the population
  // oracle with the exact prior has KL 0 up to the solver.
  const Vector log_p0 = target.log_density(test, sde.a(options.eps), sde.s(options.eps));
  if (const Index i = first_non_finite(log_p0); i >= 0)
    throw NumericalError(fmt::format("test error by exact density: the target's log-density at test point {} is {}",
                                     i, log_p0[i]));
  ModelDensityErrors out;
  out.nll = mean_estimate(-flow.log_density);
  out.kl = mean_estimate(log_p0 - flow.log_density);
  out.function_evaluations = flow.function_evaluations;
  out.steps = flow.steps;
  return out;
}

Estimate prior_mismatch(const Target& target, const Sde& sde, double T, Index draws, Rng& rng) {
  if (!(T > 0.0) || !std::isfinite(T))
    throw ConfigError(fmt::format("prior mismatch: T = {} is not allowed (need a finite time > 0)", T));
  if (draws < 2)
    throw ConfigError(fmt::format("prior mismatch: draws = {} is not allowed (need >= 2 for a standard error)", draws));
  const double a = sde.a(T), s = sde.s(T);
  Matrix noise(draws, target.dim());
  Matrix x = target.sample(draws, rng);
  rng.fill_normal(noise);
  x = a * x + s * noise;
  const Vector log_ratio = target.log_density(x, a, s) - sde.prior_log_density(x);
  if (const Index i = first_non_finite(log_ratio); i >= 0)
    throw NumericalError(fmt::format("prior mismatch at T = {}: log p_T(x) − log prior(x) at draw {} is {}", T, i,
                                     log_ratio[i]));
  return mean_estimate(log_ratio);
}

}  // namespace diffgen
