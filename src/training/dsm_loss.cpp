#include "training/dsm_loss.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace diffgen {
namespace {

// (1/B) Σ_b Σ_i (s_b S_bi + z_bi)², and its gradient in S when dS is given.
double dsm_value(const Matrix& S, const Vector& s_t, const Matrix& z, Matrix* dS) {
  const Index B = S.rows(), d = S.cols();
  if (z.rows() != B || z.cols() != d || s_t.size() != B)
    throw std::invalid_argument(fmt::format("dsm loss: scores are {}x{} but the draw has noise {}x{} and {} times", B,
                                            d, z.rows(), z.cols(), s_t.size()));
  if (dS) dS->resize(B, d);
  const double inv_B = 1.0 / static_cast<double>(B);
  double sum = 0.0;
  for (Index b = 0; b < B; ++b) {
    for (Index i = 0; i < d; ++i) {
      const double r = s_t[b] * S(b, i) + z(b, i);
      sum += r * r;
      if (dS) (*dS)(b, i) = 2.0 * inv_B * s_t[b] * r;
    }
  }
  return sum * inv_B;
}

}  // namespace

void perturb(const Sde& sde, DsmBatch& batch) {
  const Index B = batch.x0.rows();
  if (batch.t.size() != B || batch.z.rows() != B || batch.z.cols() != batch.x0.cols())
    throw std::invalid_argument("perturb: x0, t and z must have one row per point and z the shape of x0");
  batch.x_t.resize(B, batch.x0.cols());
  batch.s_t.resize(B);
  for (Index b = 0; b < B; ++b) {
    // x_t | x_0 ~ N(a(t) x_0, s(t)² I), realized with the batch's noise.
    const double a_t = sde.a(batch.t[b]);
    const double s_t = sde.s(batch.t[b]);
    batch.s_t[b] = s_t;
    batch.x_t.row(b) = a_t * batch.x0.row(b) + s_t * batch.z.row(b);
  }
}

void draw_dsm_noise(const Sde& sde, double eps, Rng& rng, DsmBatch& batch) {
  const Index B = batch.x0.rows(), d = batch.x0.cols();
  // One (t, z) draw per sample per step, t ~ U[eps, T] (the reference code's).
  batch.t.resize(B);
  for (Index b = 0; b < B; ++b) batch.t[b] = rng.uniform(eps, sde.T());
  batch.z.resize(B, d);
  rng.fill_normal(batch.z);
  perturb(sde, batch);
}

LossHead make_dsm_head(const DsmBatch& batch) {
  // Captures one pointer, so the std::function stores it without allocating.
  const DsmBatch* draw = &batch;
  return [draw](const Matrix& S, Matrix& dS) { return dsm_value(S, draw->s_t, draw->z, &dS); };
}

double dsm_loss(const ScoreModel& model, const DsmBatch& batch) {
  Matrix S;
  model.score(batch.x_t, batch.t, S);
  return dsm_value(S, batch.s_t, batch.z, nullptr);
}

double dsm_loss(const ScoreModel& model, const Sde& sde, const Matrix& x0, const Vector& t, const Matrix& z) {
  DsmBatch batch{x0, t, z, {}, {}};
  perturb(sde, batch);
  return dsm_loss(model, batch);
}

}  // namespace diffgen
