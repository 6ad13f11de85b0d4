#include "training/gradient_flow.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "training/dsm_loss.hpp"

namespace diffgen {

double QuadraticDsmLoss::value(const Matrix& A) const {
  if (A.rows() != B.rows() || A.cols() != B.cols())
    throw ConfigError(
        fmt::format("quadratic dsm loss: A is {}x{} but must be {}x{}", A.rows(), A.cols(), B.rows(), B.cols()));
  // tr(A G Aᵀ) = Σ (A G) ∘ A, tr(A Bᵀ) = Σ A ∘ B.
  const Matrix AG = A * G;
  return AG.cwiseProduct(A).sum() + 2.0 * A.cwiseProduct(B).sum() + c0;
}

Matrix QuadraticDsmLoss::gradient(const Matrix& A) const {
  if (A.rows() != B.rows() || A.cols() != B.cols())
    throw ConfigError(fmt::format("quadratic dsm loss gradient: A is {}x{} but must be {}x{}", A.rows(), A.cols(),
                                  B.rows(), B.cols()));
  return 2.0 * (A * G + B);
}

QuadraticDsmLoss quadratic_dsm_loss(const RandomFeatureModel& model, const Sde& sde, const Matrix& x0, const Vector& t,
                                    const Matrix& z) {
  const Index d = model.dim(), m = model.width(), N = x0.rows();
  if (N == 0) throw ConfigError("quadratic_dsm_loss: the draw set is empty (x0 has 0 rows)");
  if (x0.cols() != d)
    throw ConfigError(
        fmt::format("quadratic_dsm_loss: x0 has {} columns but the model's dimension is {}", x0.cols(), d));
  if (t.size() != N)
    throw ConfigError(fmt::format("quadratic_dsm_loss: t has {} entries but x0 has {} rows", t.size(), N));
  if (z.rows() != N || z.cols() != d)
    throw ConfigError(
        fmt::format("quadratic_dsm_loss: z is {}x{} but must be {}x{} like x0", z.rows(), z.cols(), N, d));

  // The same perturbation as dsm_loss, so the quadratic form is that loss exactly.
  DsmBatch batch{x0, t, z, {}, {}};
  perturb(sde, batch);
  const Matrix Phi = model.features(batch.x_t, batch.t);  // [N×m]

  const double inv_N = 1.0 / static_cast<double>(N);
  const double inv_m = 1.0 / static_cast<double>(m);
  // Row j of Ψ is s_j φ_j / m, so G = ΨᵀΨ / N and B = zᵀΨ / N.
  const Matrix Psi = (batch.s_t * inv_m).asDiagonal() * Phi;
  QuadraticDsmLoss loss;
  loss.G = SquareMatrix(Psi.transpose() * Psi) * inv_N;
  // Symmetrize exactly: the eigensolver reads one triangle, and value() the whole matrix.
  loss.G = 0.5 * (loss.G + loss.G.transpose()).eval();
  loss.B = (z.transpose() * Psi) * inv_N;
  loss.c0 = z.squaredNorm() * inv_N;
  loss.N = N;
  return loss;
}

QuadraticDsmLoss quadratic_dsm_loss_in_blocks(const RandomFeatureModel& model, const Sde& sde, const Matrix& x0,
                                              const Vector& t, const Matrix& z, Index block) {
  if (block < 1) throw ConfigError(fmt::format("quadratic_dsm_loss_in_blocks: block = {} (need >= 1)", block));
  const Index N = x0.rows();
  QuadraticDsmLoss total;
  for (Index b = 0; b < N; b += block) {
    const Index len = std::min(block, N - b);
    const QuadraticDsmLoss part =
        quadratic_dsm_loss(model, sde, x0.middleRows(b, len), t.segment(b, len), z.middleRows(b, len));
    const double w = static_cast<double>(len) / static_cast<double>(N);
    if (b == 0) {
      total.G = w * part.G;
      total.B = w * part.B;
      total.c0 = w * part.c0;
    } else {
      total.G += w * part.G;
      total.B += w * part.B;
      total.c0 += w * part.c0;
    }
  }
  total.N = N;
  return total;
}

ExactGradientFlow::ExactGradientFlow(const QuadraticDsmLoss& loss, const Matrix& A0, double eigen_tolerance)
    : loss_(loss), A0_(A0) {
  const Index d = loss.B.rows(), m = loss.B.cols();
  if (loss.G.rows() != m || loss.G.cols() != m)
    throw ConfigError(fmt::format("ExactGradientFlow: G is {}x{} but B is {}x{}, so G must be {}x{}", loss.G.rows(),
                                  loss.G.cols(), d, m, m, m));
  if (A0.rows() != d || A0.cols() != m)
    throw ConfigError(
        fmt::format("ExactGradientFlow: A0 is {}x{} but must be {}x{} (d x m)", A0.rows(), A0.cols(), d, m));
  if (!std::isfinite(eigen_tolerance) || eigen_tolerance < 0.0)
    throw ConfigError(
        fmt::format("ExactGradientFlow: eigen_tolerance is {} but must be finite and >= 0", eigen_tolerance));
  if (!loss.G.allFinite() || !loss.B.allFinite() || !A0.allFinite())
    throw ConfigError("ExactGradientFlow: G, B or A0 has a NaN or infinite entry");

  const Eigen::SelfAdjointEigenSolver<SquareMatrix> eig(loss.G);
  if (eig.info() != Eigen::Success) throw NumericalError("ExactGradientFlow: eigendecomposition of G failed");
  eigenvectors_ = eig.eigenvectors();
  eigenvalues_ = eig.eigenvalues();
  const double lambda_max = m > 0 ? eigenvalues_.maxCoeff() : 0.0;
  // Rounding leaves G's null directions with tiny (possibly negative)
  // eigenvalues; treating them as exact zeros keeps A0 there instead of
  // dividing by noise in G⁺.
  const double cutoff = eigen_tolerance * std::max(lambda_max, 0.0);
  Vector inv_lambda = Vector::Zero(m);
  rank_ = 0;
  for (Index i = 0; i < m; ++i) {
    if (eigenvalues_[i] > cutoff && eigenvalues_[i] > 0.0) {
      inv_lambda[i] = 1.0 / eigenvalues_[i];
      ++rank_;
    } else {
      eigenvalues_[i] = 0.0;
    }
  }
  // A* = −B V Λ⁺ Vᵀ: zero on null(G), where B vanishes as well (B's rows are
  // combinations of the s_j φ_j that span range(G)).
  const Matrix BV = loss.B * eigenvectors_;
  const Matrix star_in_basis = -(BV * inv_lambda.asDiagonal());
  minimizer_ = star_in_basis * eigenvectors_.transpose();
  offset_in_basis_ = A0 * eigenvectors_ - star_in_basis;
}

Matrix ExactGradientFlow::at(double tau) const {
  if (!std::isfinite(tau) || tau < 0.0)
    throw ConfigError(fmt::format("ExactGradientFlow::at: tau is {} but must be finite and >= 0", tau));
  // Returned as stored so that A(0) = A0 bit for bit (V Vᵀ is I only up to rounding).
  if (tau == 0.0) return A0_;
  // exp(−2Gτ) = V diag(e^{−2λτ}) Vᵀ; null modes have λ = 0, so factor 1.
  const Vector decay = (-2.0 * tau * eigenvalues_).array().exp().matrix();
  return minimizer_ + (offset_in_basis_ * decay.asDiagonal()) * eigenvectors_.transpose();
}

double ExactGradientFlow::loss_at(double tau) const {
  return loss_.value(at(tau));
}

}  // namespace diffgen
