// Test errors of a learned model from exact densities (THEORY.md §5 (b), §7;
// notes/chen2025-code.md §A.6, §A.10): where the target has a closed density
// (targets/target.hpp), the model's NLL and KL(p_0 ‖ p_θ) are Monte Carlo
// means over test points of exact log-densities, with no KDE bias, and the
// prior mismatch KL(p_T ‖ N(0, I)), which every test error carries at small
// T under the VP SDE, is measured apart.
#pragma once

#include "core/rng.hpp"
#include "core/types.hpp"
#include "likelihood/pf_ode.hpp"
#include "models/score_model.hpp"
#include "numerics/statistics.hpp"
#include "sde/sde.hpp"
#include "targets/target.hpp"

namespace diffgen {

struct ModelDensityErrors {
  Estimate nll;  // −mean_k log p_θ(x_k) (nats), with its standard error sd/√n
  Estimate kl;   // KL(p_0 ‖ p_θ) = mean_k [log p_0(x_k) − log p_θ(x_k)], with its standard error
  Index function_evaluations = 0, steps = 0;  // from the PF-ODE summary, for timing.json
};

// Monte Carlo over the n test points x_k ~ p_0 (the rows of `test`, n >= 2),
// with log p_θ the density of the model's probability-flow ODE
// (likelihood/pf_ode.hpp; the model needs an exact divergence) from the
// SDE's prior N(0, prior_std² I) or, when given, `log_prior` (e.g. the
// target's exact log p_T, to take the prior mismatch out).
// The PF-ODE's density is that at time ε = options.eps, so log p_0 is taken
// there too: the target's density at (a(ε), s(ε)). With ε = 1e-5 the
// difference from the clean density is negligible, but this way the
// population oracle with the exact prior gives KL = 0 exactly, up to the solver.
// ConfigError if the model has no exact divergence, or the test points, the
// model and the target disagree in dimension; NumericalError naming the point
// if a log-density is not finite or the ODE fails.
ModelDensityErrors model_density_errors(const ScoreModel& model, const Sde& sde, const Target& target,
                                        const Matrix& test, const PfOdeOptions& options = {},
                                        const LogDensityFunction& log_prior = {});

// The prior mismatch KL(p_T ‖ N(0, prior_std² I)) (N(0, I) for VP and OU)
// of the target's law p_T at time T (a = a(T), s = s(T)): the mean of
// log p_T(x) − log N(x; 0, prior_std² I) over `draws` independent draws
// x = a x_0 + s z from p_T, with the exact density; unbiased, standard error
// sd/√draws. For the VP SDE at small T it dominates every test error (notes §A.6).
// ConfigError if T is not finite and > 0 or draws < 2.
Estimate prior_mismatch(const Target& target, const Sde& sde, double T, Index draws, Rng& rng);

}  // namespace diffgen
