// Gaussian mixture p_0 = Σ_k w_k N(μ_k, C_k) in any dimension, with full or
// diagonal covariances. Its law at diffusion time t is again a mixture,
// Σ_k w_k N(a μ_k, a² C_k + s² I), so everything is closed form.
#pragma once

#include <vector>

#include "targets/target.hpp"

namespace diffgen {

class GaussianMixture final : public Target {
 public:
  // Diagonal covariances: row k of `variances` is the diagonal of C_k.
  GaussianMixture(Vector weights, Matrix means, Matrix variances);
  // Full covariances, one d x d matrix per component.
  GaussianMixture(Vector weights, Matrix means, std::vector<SquareMatrix> covariances);

  // ½N(-mu, var) + ½N(mu, var) in one dimension (Li2023's reference target
  // has mu = 3, var = 1: "modes' distance 6").
  static GaussianMixture symmetric_two_mode(double mu, double var = 1.0);
  // The common 2-D toy of `components` equal-weight isotropic Gaussians
  // N(μ_k, std² I) with means on a circle, μ_k = radius (cos θ_k, sin θ_k),
  // θ_k = 2πk / components. The defaults are the usual "8 Gaussians" (means
  // at radius 4 with std 0.5, all divided by 1.414 as in FFJORD's toy data):
  // well-separated modes with no density between them.
  static GaussianMixture ring(Index components = 8, double radius = 4.0 / 1.414, double std = 0.5 / 1.414);
  // (1/n) Σ_i N(x_i, 0): the training set itself. Its law at time t is
  // (1/n) Σ_i N(a x_i, s² I), whose score is the empirical oracle. It has no
  // density at s = 0.
  static GaussianMixture empirical(const Matrix& data);

  Index dim() const override { return means_.cols(); }
  Index components() const { return means_.rows(); }
  const Vector& weights() const { return weights_; }
  const Matrix& means() const { return means_; }
  bool diagonal() const { return diagonal_; }
  // C_k as a full matrix.
  SquareMatrix covariance(Index k) const;
  // Mean and covariance of the whole mixture.
  Vector mean() const;
  SquareMatrix covariance() const;

  Matrix sample(Index n, Rng& rng) const override;
  Vector log_density(const Matrix& X, double a = 1.0, double s = 0.0) const override;
  Matrix score(const Matrix& X, double a = 1.0, double s = 0.0) const override;
  Vector score_divergence(const Matrix& X, double a = 1.0, double s = 0.0) const override;

  // Component responsibilities r_k(x) at (a, s): rows are points, columns components.
  Matrix responsibilities(const Matrix& X, double a = 1.0, double s = 0.0) const;

 private:
  struct Eval;
  void evaluate(const Matrix& X, double a, double s, Eval& out, bool want_score, bool want_divergence) const;
  void check_input(const Matrix& X) const;

  Vector weights_;
  Matrix means_;
  bool diagonal_;
  Matrix variances_;                       // diagonal case
  std::vector<SquareMatrix> covariances_;  // full case
};

}  // namespace diffgen
