// The probability-flow ODE and the reverse SDE of a linear forward process
// dx = b(t) x dt + g(t) dw (THEORY.md §1, §5), given scores s(x, t) ≈ ∇log p_t:
//   probability flow   dx/dt = v(x, t) = b(t) x − ½ g(t)² s(x, t),
//                      ∇·v(x, t) = d b(t) − ½ g(t)² ∇·s(x, t)   (x ∈ R^d),
//   reverse SDE        dx = [b(t) x − g(t)² s(x, t)] dt + g(t) dw̄,  t from T down to 0.
// The samplers and the likelihood take these formulas from here only. Each is
// evaluated in one fixed order of floating-point operations, so a change here
// changes every result that uses it the same way.
#pragma once

#include "core/types.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// v = b(t) X − ½ g(t)² S for a batch (rows are points, S their scores). With
// jac ≠ 1 (dt/du, for the ODE in a variable u(t)) the factor goes into both
// coefficients, v = (jac b) X − (jac ½g²) S, so jac = 1 gives v itself.
inline void probability_flow_velocity(const Sde& sde, double t, const Matrix& x, const Matrix& score, Matrix& v,
                                      double jac = 1.0) {
  v.noalias() = (jac * sde.drift_rate(t)) * x - (jac * (0.5 * sde.g2(t))) * score;
}

// ∇·v = d b(t) − ½ g(t)² ∇·s for every point of a batch in R^d, given the
// scores' divergences; jac as in probability_flow_velocity.
inline void probability_flow_divergence(const Sde& sde, double t, Index d, const Vector& score_divergence, Vector& div,
                                        double jac = 1.0) {
  div.resize(score_divergence.size());
  div.array() = jac * static_cast<double>(d) * sde.drift_rate(t) - (jac * (0.5 * sde.g2(t))) * score_divergence.array();
}

// The drift part of one Euler–Maruyama step of the reverse SDE from t to
// t − Δt (Δt > 0): x ← x − [b(t) x − g(t)² s] Δt, evaluated as
// (1 − b(t) Δt) x + (g(t)² Δt) s.
inline void reverse_sde_drift_step(const Sde& sde, double t, double dt, const Matrix& score, Matrix& x) {
  x = (1.0 - sde.drift_rate(t) * dt) * x + (sde.g2(t) * dt) * score;
}

}  // namespace diffgen
