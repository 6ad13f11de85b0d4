// The probability-flow ODE dx/dτ = b(τ) x - ½ g(τ)² s_θ(x, τ) integrated from
// T down to ε by adaptive Dormand–Prince 5(4) (numerics/ode.hpp; THEORY.md §5:
// the same ODE whose change of variables gives the likelihood in likelihood/pf_ode.hpp),
// as a sampler with the Sampler signature of samplers.hpp. The time grid
// gives the times at which the state is reported (callback) and the end; the
// step sizes between them are chosen by the error controller.
#pragma once

#include <string>

#include "sampling/samplers.hpp"

namespace diffgen {

struct PfOdeSamplerOptions {
  double rtol = 1e-6;       // relative tolerance per component
  double atol = 1e-6;       // absolute tolerance per component
  Index max_steps = 20000;  // attempted steps per chunk before giving up (NumericalError)
  // Points integrated together with one shared step size; chunks run in
  // parallel and each carries its own step size, so a point's path depends
  // only on its chunk, never on the thread count.
  Index chunk = 64;
  std::string validate() const;
};

struct PfOdeSamplerSummary {
  Index steps = 0;           // accepted steps, summed over chunks
  Index rejected_steps = 0;  // rejected steps, summed over chunks
  Index evaluations = 0;     // batched right-hand-side evaluations, summed over chunks
};

// Integrates every row of x_T from time_grid[0] to time_grid[last] (a grid
// decreasing from at most T, validate_time_grid). Deterministic: rng is not
// used. ConfigError on bad options or inputs, NumericalError naming τ when
// the step size underflows, max_steps is exceeded or a value turns non-finite.
Matrix sample_pf_ode_rk45(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid,
                          const PfOdeSamplerOptions& options, PfOdeSamplerSummary* summary = nullptr,
                          const StepCallback& callback = {});

// The same with the default options, as a Sampler.
Matrix sample_pf_ode_rk45(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid, Rng& rng,
                          const StepCallback& callback = {});

}  // namespace diffgen
