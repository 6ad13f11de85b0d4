// The exact gradient flow of the random-feature model (THEORY.md §4). With
// only A ∈ R^{d×m} trained and a fixed draw set {(x0_j, t_j, z_j)}_{j≤N}, the
// DSM loss with λ = s² is quadratic in A:
//   L(A) = tr(A G Aᵀ) + 2 tr(A Bᵀ) + c0,
//   G = (1/N) Σ_j s_j² φ_j φ_jᵀ / m²,  B = (1/N) Σ_j s_j z_j φ_jᵀ / m,
//   c0 = (1/N) Σ_j ‖z_j‖²,
// so dA/dτ = −∇L = −2(AG + B) is linear and solved in closed form:
//   A(τ) = A* + (A(0) − A*) exp(−2Gτ),  A* = −B G⁺.
// This replaces time-stepping (and its step-size error) when studying how
// the learned score evolves along training.
#pragma once

#include "core/types.hpp"
#include "models/random_features.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// The quadratic form of the DSM loss in A on one draw set.
struct QuadraticDsmLoss {
  SquareMatrix G;  // [m×m], symmetric positive semi-definite
  Matrix B;        // [d×m]
  double c0 = 0.0;
  Index N = 0;  // number of draws it was built from

  // tr(A G Aᵀ) + 2 tr(A Bᵀ) + c0 for A [d×m].
  double value(const Matrix& A) const;
  // ∇L = 2(AG + B) [d×m].
  Matrix gradient(const Matrix& A) const;
};

// Builds G, B, c0 from the model's features at x̃_j = a(t_j) x0_j + s(t_j) z_j
// (x0 and z are [N×d], t has N entries). The model's current A is not used.
// Throws ConfigError on mismatched shapes or an empty draw set.
QuadraticDsmLoss quadratic_dsm_loss(const RandomFeatureModel& model, const Sde& sde, const Matrix& x0, const Vector& t,
                                    const Matrix& z);

// The same for a large draw set, built in blocks of `block` draws so that the
// N·m features are never all in memory: the blocks' forms averaged with
// weights len/N (equal to quadratic_dsm_loss up to rounding; N is the whole count).
QuadraticDsmLoss quadratic_dsm_loss_in_blocks(const RandomFeatureModel& model, const Sde& sde, const Matrix& x0,
                                              const Vector& t, const Matrix& z, Index block = 16384);

// Solves dA/dτ = −2(AG + B) from A(0) = A0. The eigendecomposition G = V Λ Vᵀ
// is done once, so each A(τ) costs O(d m²). Eigenvalues λ ≤ tol·λ_max are
// treated as zero: A does not move along their eigenvectors (the flow from A0
// changes A by the least amount that reaches the minimum set).
class ExactGradientFlow {
 public:
  // Throws ConfigError when A0 is not d×m for the loss, or the tolerance is
  // not finite and non-negative.
  ExactGradientFlow(const QuadraticDsmLoss& loss, const Matrix& A0, double eigen_tolerance = 1e-12);

  // A(τ); A(0) is A0 exactly. Throws ConfigError unless τ is finite and ≥ 0.
  Matrix at(double tau) const;
  // L(A(τ)) from the quadratic form.
  double loss_at(double tau) const;
  // A* = −B G⁺, the limit of the flow on range(G).
  const Matrix& minimizer() const { return minimizer_; }

  // G's eigenvalues (ascending, those below the tolerance set to 0) and eigenvectors (columns).
  const Vector& eigenvalues() const { return eigenvalues_; }
  const SquareMatrix& eigenvectors() const { return eigenvectors_; }
  // How many eigenvalues are treated as nonzero.
  Index rank() const { return rank_; }

 private:
  QuadraticDsmLoss loss_;
  Matrix A0_;
  Matrix minimizer_;           // A* [d×m]
  Vector eigenvalues_;         // Λ, clamped
  SquareMatrix eigenvectors_;  // V
  Matrix offset_in_basis_;     // (A0 − A*) V [d×m], what decays mode by mode
  Index rank_ = 0;
};

}  // namespace diffgen
