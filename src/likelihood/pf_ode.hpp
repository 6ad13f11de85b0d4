// Definition (b) of the learned density (THEORY.md §5): the density of what
// the probability-flow ODE generates. For dx/dt = v(x, t) = f(x, t) - ½ g(t)²
// s_θ(x, t), the instantaneous change of variables gives
//   log p_ε(x) = log p_T(x(T)) + ∫_ε^T ∇·v(x(t), t) dt,   x(ε) = x,
// with ∇·v = d b(t) - ½ g(t)² ∇·s_θ from the model's exact divergence. The
// augmented system (x, ∫∇·v) is integrated from ε to T by adaptive
// Dormand–Prince 5(4) in double precision (numerics/ode.hpp), with v and ∇·v
// from sde/probability_flow.hpp.
#pragma once

#include <functional>
#include <string>

#include "core/options.hpp"
#include "models/score_model.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// The variable the PF-ODE is integrated in (PfOdeOptions::time_variable).
enum class OdeTimeVariable { Linear, Log };

template <>
struct EnumNames<OdeTimeVariable> {
  static constexpr std::array table{std::pair{OdeTimeVariable::Linear, std::string_view("linear")},
                                    std::pair{OdeTimeVariable::Log, std::string_view("log")}};
};

struct PfOdeOptions {
  double eps = 1e-5;   // the data end ε of the ODE (the time of the returned density)
  double rtol = 1e-6;  // relative tolerance per component
  double atol = 1e-6;  // absolute tolerance per component
  // Most attempted (accepted + rejected) steps per chunk before giving up.
  Index max_steps = 20000;
  // Points integrated together with one shared step size; chunks run in
  // parallel. Fixed, so results do not depend on the thread count. The total
  // number of point evaluations barely depends on it (241 nodes, population
  // oracle: 20.1k at 16, 20.2k at 32, 20.7k at 241); 32 gives 121 nodes four
  // chunks to spread over cores.
  Index chunk = 32;
  // Linear: integrate in t. Log: in u = log t (dx/du = t v), which keeps
  // a memorizing model's 1/s(t)² score non-stiff near ε. Measured on the VE
  // SDE, 121 nodes on [-12, 12]: linear needs fewer evaluations on the
  // population oracle (10k vs 23k: in log t the step-size controller keeps
  // rejecting as the needed step in u shrinks), 5-20% fewer on 16-unit
  // reference-network stand-ins, and about as many on the empirical oracle.
  OdeTimeVariable time_variable = OdeTimeVariable::Linear;
  std::string validate() const;
};

// log p_T for every row of a batch of points at time T.
using LogDensityFunction = std::function<Vector(const Matrix&)>;

struct PfOdeSummary {
  Vector log_density;              // log p_ε at each input point
  Matrix latent;                   // x(T), the ODE's image of each point
  Vector log_prior;                // log p_T(x(T))
  Vector divergence_integral;      // ∫_ε^T ∇·v(x(t), t) dt
  Index chunks = 0;                // independent adaptive integrations
  Index steps = 0;                 // accepted steps, summed over chunks
  Index rejected_steps = 0;        // rejected steps, summed over chunks
  Index max_chunk_steps = 0;       // accepted steps of the longest chunk
  Index function_evaluations = 0;  // batched right-hand-side evaluations, summed over chunks
  Index point_evaluations = 0;     // score-and-divergence evaluations of single points
};

// log p_ε of the PF-ODE's output distribution at every row of X. The model
// must have an exact divergence (ConfigError otherwise). log_prior defaults to
// the SDE's Gaussian prior; pass e.g. target.log_density(·, a(T), s(T)) for the
// exact p_T. Throws NumericalError naming t when a value becomes non-finite,
// the step size underflows or max_steps is exceeded.
PfOdeSummary pf_ode_log_density(const ScoreModel& model, const Sde& sde, const Matrix& X,
                                const PfOdeOptions& options = {}, const LogDensityFunction& log_prior = {});

}  // namespace diffgen
