// Denoising score matching (THEORY.md §3, Li2023 eqs. 5–6) with weighting
// λ(t) = s(t)²: for clean points x0 (rows), times t and noise z ~ N(0, I),
//   x̃ = a(t) x0 + s(t) z,
//   loss = (1/B) Σ_b Σ_i (s(t_b) · s_θ(x̃_b, t_b)_i + z_bi)²,
// the batch mean of the per-sample sum over dimensions, as the reference code.
#pragma once

#include "core/rng.hpp"
#include "core/types.hpp"
#include "models/score_model.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// One draw of the denoising problem on a batch: x0, t, z are the draw; x_t
// and s_t follow from them (perturb()).
struct DsmBatch {
  Matrix x0;   // [B×d] clean points
  Vector t;    // [B] diffusion times
  Matrix z;    // [B×d] N(0, I) noise
  Matrix x_t;  // [B×d] a(t) x0 + s(t) z, the model's input
  Vector s_t;  // [B] s(t)
};

// Fills batch.x_t and batch.s_t from batch.x0, batch.t, batch.z.
void perturb(const Sde& sde, DsmBatch& batch);

// Draws t_b ~ U[eps, T] for every row of batch.x0 (all times first), then
// z ~ N(0, I) row by row, and perturbs. Reuses batch's storage.
void draw_dsm_noise(const Sde& sde, double eps, Rng& rng, DsmBatch& batch);

// The DSM loss head on batch.s_t and batch.z: given the scores S at batch.x_t,
// returns the loss and writes dLoss/dS = (2/B) s_t (s_t S + z). It refers to
// batch, which must outlive it and hold the draw the scores were computed on.
// Allocates nothing when called.
LossHead make_dsm_head(const DsmBatch& batch);

// The DSM loss of a model on a perturbed draw, without gradient (for reporting).
double dsm_loss(const ScoreModel& model, const DsmBatch& batch);
// The same for a given (x0, t, z).
double dsm_loss(const ScoreModel& model, const Sde& sde, const Matrix& x0, const Vector& t, const Matrix& z);

}  // namespace diffgen
