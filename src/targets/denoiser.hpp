// Conditional means and covariances in the discrete-time parametrization of
// Reeves & Pfister 2025 (THEORY.md §9): the comparison process
//   Y_t = t X + W_t   (W Brownian motion),  so  Y_t / t = X + N(0, I / t),
// observed at "time" t >= 0 (t is the signal-to-noise ratio; t = 0 is pure
// noise, Y_0 = 0). A sampler needs f_t(y) ≈ E[X | Y_t = y] and, for the
// covariance-matched step, Σ_t(y) ≈ Cov(X | Y_t = y) = ∇_y E[X | Y_t = y].
// For a Gaussian-mixture X both are closed form.
#pragma once

#include <memory>
#include <string>

#include "core/types.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {

// An estimator of E[X | Y_t = y] (and optionally of Cov(X | Y_t = y)) under
// Y_t = t X + W_t. Rows of Y are points; covariances are returned one per
// row, flattened row-major into d² columns. Implementations must be safe to
// call from several threads at once.
class ConditionalMeanEstimator {
 public:
  virtual ~ConditionalMeanEstimator() = default;
  virtual Index dim() const = 0;
  virtual std::string name() const = 0;
  // mean(b, :) = f_t(Y(b, :)) for t >= 0; mean is resized to Y's shape.
  virtual void mean(const Matrix& Y, double t, Matrix& mean) const = 0;
  // Whether mean_and_covariance() is available.
  virtual bool has_covariance() const { return false; }
  // Both at once; cov is resized to Y.rows() x d². The default throws std::logic_error.
  virtual void mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const;

  Matrix mean(const Matrix& Y, double t) const;
};

// The exact E[X | Y_t = y] and Cov(X | Y_t = y) of a Gaussian mixture
// X ~ Σ_k w_k N(μ_k, C_k). Given component k, X | Y_t = y is Gaussian with
//   S_k = C_k (I + t C_k)^{-1},   m_k(y) = (I + t C_k)^{-1} (μ_k + C_k y),
// (no inverse of C_k, so singular components, e.g. the empirical mixture,
// are allowed), and the component posterior is r_k(y) ∝ w_k N(y; t μ_k, t² C_k + t I).
// Then E[X | y] = Σ_k r_k m_k and Cov(X | y) = Σ_k r_k (S_k + (m_k - E)(m_k - E)ᵀ).
// At t = 0, Y_0 = 0 carries no information: the mixture's mean and covariance.
class MixtureDenoiser final : public ConditionalMeanEstimator {
 public:
  explicit MixtureDenoiser(std::shared_ptr<const GaussianMixture> target);
  Index dim() const override { return target_->dim(); }
  std::string name() const override { return "exact"; }
  void mean(const Matrix& Y, double t, Matrix& mean) const override;
  bool has_covariance() const override { return true; }
  void mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const override;
  using ConditionalMeanEstimator::mean;

  // tr Cov(X | Y_t = y) for every row, without forming the d x d matrices:
  // the integrand of the MMSE M(t) = E tr Cov(X | Y_t).
  Vector posterior_trace(const Matrix& Y, double t) const;
  // Everything at once: the mean, the trace, and (when cov is non-null) the covariance.
  void evaluate(const Matrix& Y, double t, Matrix& mean, Vector* trace, Matrix* cov) const;

  const GaussianMixture& target() const { return *target_; }

 private:
  // Diagonal covariances (or d = 1) and t > 0: the same, point by point.
  void evaluate_diagonal(const Matrix& Y, double t, Matrix& mean, Vector* trace, Matrix* cov) const;

  std::shared_ptr<const GaussianMixture> target_;
};

// f_t(y) = E[X | Y_t = y] + eps · u with a fixed unit vector u: an estimator
// with a known error, ε_k² = E‖f - E[X | Y_t]‖² = eps² at every step. The
// covariance, when the base has one, is passed through unchanged (the
// perturbation is of the mean only).
class PerturbedEstimator final : public ConditionalMeanEstimator {
 public:
  // u defaults to (1, ..., 1) / √d. ConfigError for a non-finite eps or a zero u.
  PerturbedEstimator(std::shared_ptr<const ConditionalMeanEstimator> base, double eps, Vector u = Vector());
  Index dim() const override { return base_->dim(); }
  std::string name() const override { return "perturbed"; }
  void mean(const Matrix& Y, double t, Matrix& mean) const override;
  bool has_covariance() const override { return base_->has_covariance(); }
  void mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const override;
  using ConditionalMeanEstimator::mean;

  double eps() const { return eps_; }
  const Vector& direction() const { return u_; }

 private:
  std::shared_ptr<const ConditionalMeanEstimator> base_;
  double eps_;
  Vector u_;
};

}  // namespace diffgen
