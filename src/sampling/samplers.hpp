// Samplers: small free functions with one signature (k-diffusion style):
// score model, SDE, initial points x_T (rows), a time grid decreasing from T
// to ε, an RNG and an optional per-step callback, returning the samples.
// The reverse SDE and the probability-flow ODE are both derived from the
// SDE's drift b(t) x and g(t)² and the score, as the likelihoods are.
#pragma once

#include <functional>
#include <string>

#include "core/rng.hpp"
#include "models/score_model.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// Called after step `step` (1-based) with the new time and the points there.
using StepCallback = std::function<void(Index step, double t, const Matrix& x)>;

using Sampler = std::function<Matrix(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid,
                                     Rng& rng, const StepCallback& callback)>;

// Reverse-SDE Euler–Maruyama: x <- x - [f(x,t) - g(t)² s(x,t)] Δt + g(t) √Δt z,
// the last step without noise (it would only add N(0, g² Δt) blur at ε).
Matrix sample_euler_maruyama(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid, Rng& rng,
                             const StepCallback& callback = {});

// Probability-flow ODE dx/dt = f(x,t) - ½ g(t)² s(x,t) by Heun's 2nd-order
// method on the grid (Algorithm 1, Karras et al. 2022). Deterministic: rng is
// not used.
Matrix sample_pf_ode_heun(const ScoreModel& model, const Sde& sde, Matrix x_T, const Vector& time_grid, Rng& rng,
                          const StepCallback& callback = {});

}  // namespace diffgen
