// Training on Chen2025's bound rather than on the denoising loss alone
// (THEORY.md §7, notes/chen2025-code.md §B: the authors' released code does
// not do it, so both readings of "integrating the bound into the
// optimization" are built here). Full batch, VP SDE, t ~ U[t_min, T]:
//
//   J(θ, T) = ½ L_DSM(θ; T) + λ · L(θ; T) · √(B(T) / 2m) + D(T)
//
// ½ L_DSM is the bound's sm_loss; L(θ; T) = the batch mean of ‖s_θ(x_t, t)‖
// is a differentiable surrogate of term3's score-norm constant; B(T) = ∫_0^T β;
// D(T) = term1 + √2R·term2 holds the data-only terms and is given by its
// slope D'(T). λ = √2R makes J the bound itself (up to L's surrogate).
//
// Reading (i), a score-norm penalty: T fixed, θ minimizes J. Reading (ii),
// T learned jointly: T is a parameter too, moved by its own Adam and kept in
// [T_lo, T_hi]. Its gradient needs no derivative of the network in t: for
// f(t) any per-time mean, d/dT E_{t~U[t_min,T]} f(t) = (f(T) − E f) / (T − t_min)
// (Leibniz's rule), and f(T) is taken on the same points and noise at t = T.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/rng.hpp"
#include "core/types.hpp"
#include "models/score_model.hpp"
#include "sde/sde.hpp"
#include "training/dsm_loss.hpp"
#include "training/optimizers.hpp"

namespace diffgen {

// J's θ part on a draw, as a loss head on the scores S at batch.x_t:
//   ½ (1/B) Σ_b ‖s(t_b) S_b + z_b‖² + μ (1/B) Σ_b ‖S_b‖,   μ = λ √(B(T)/2m),
// and its gradient in S (a point with S_b = 0 adds no penalty gradient).
// values, when given, receives the two parts at each call; batch and values
// must outlive the head.
struct BoundHeadValues {
  double sm_loss = 0.0, score_norm = 0.0;
};
LossHead make_bound_head(const DsmBatch& batch, double mu, BoundHeadValues* values);

struct BoundTrainerOptions {
  double lr = 1e-3;       // Adam on θ
  double t_min = 1e-3;    // t ~ U[t_min, T]
  double penalty = 0.0;   // λ; 0 trains on the denoising loss alone
  bool learn_T = false;   // reading (ii)
  double T_lr = 1e-2;     // Adam on T
  double T_lo = 0.2, T_hi = 2.0;
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// One step's values at its draw (before the update).
struct BoundStep {
  double sm_loss = 0.0;    // ½ L_DSM
  double score_norm = 0.0; // L(θ; T), the batch mean of ‖s_θ‖
  double objective = 0.0;  // ½ L_DSM + λ L √(B(T)/2m)
  double T = 0.0;          // the horizon the step trained at
  double dJ_dT = 0.0;      // learn_T only: the estimated ∂J/∂T (D' included)
};

class BoundTrainer {
 public:
  // model is trained in place and must outlive the trainer; sde gives a(t),
  // s(t) and β(t), which for the VP SDE do not depend on its horizon.
  // data_slope is D'(T) (needed only with learn_T). Throws ConfigError on
  // invalid options or shapes, or T outside (t_min, T_hi] (learn_T: [T_lo, T_hi]).
  BoundTrainer(TrainableScoreModel& model, std::shared_ptr<const VpSde> sde, Matrix data, double T,
               std::function<double(double)> data_slope, BoundTrainerOptions options, Rng rng);

  // One full-batch Adam step on θ, and on T with learn_T. Throws
  // NumericalError naming the step when the objective, a gradient or the
  // update is not finite; the parameters (and T) are then those before it.
  BoundStep step();

  double T() const { return T_; }
  Index steps() const { return steps_; }
  // √(B(T)/2m), term3's factor.
  double generator_factor(double T) const;

 private:
  void draw(double T);
  // ∂J/∂T at the current draw, from the step's sm_loss and score norm.
  double T_gradient(const BoundStep& at_draw);
  [[noreturn]] void diverged(const std::string& what) const;

  TrainableScoreModel& model_;
  std::shared_ptr<const VpSde> sde_;
  Matrix data_;
  double T_;
  std::function<double(double)> data_slope_;
  BoundTrainerOptions options_;
  Rng rng_;
  std::unique_ptr<Optimizer> theta_optimizer_, T_optimizer_;
  Index steps_ = 0;
  // Workspace reused by every step.
  DsmBatch batch_;
  Matrix scores_;
  Vector grad_, previous_, t_at_T_;
};

}  // namespace diffgen
