// A conditional-mean estimator from any score model and its SDE (Tweedie's
// formula), so that the discrete-time samplers of Reeves & Pfister 2025 run
// on trained networks as well as on exact denoisers (THEORY.md §9).
//
// For x_τ = a x_0 + s ε (a = a(τ), s = s(τ)), Tweedie's formula gives
//   E[x_0 | x_τ = x] = (x + s² ∇log p_τ(x)) / a.
// The comparison process Y_t = t X + W_t has Y_t / √t = √t X + N, and
// x_τ / s = (a / s) x_0 + ε, so the two coincide when t = a² / s² and
// y = (a / s²) x_τ, i.e. x_τ = (s² / a) y. Hence
//   f_t(y) = E[X | Y_t = y] = (x + s² s_θ(x, τ)) / a  with  x = (s² / a) y, a(τ)²/s(τ)² = t,
// and Cov(X | Y_t = y) = ∇_y f_t(y) = (s² / a²) (I + s² ∇_x s_θ(x, τ)).
#pragma once

#include <memory>
#include <string>

#include "models/score_model.hpp"
#include "sde/sde.hpp"
#include "targets/denoiser.hpp"

namespace diffgen {

class ScoreModelDenoiser final : public ConditionalMeanEstimator {
 public:
  // The model is queried at SDE times in [eps, T] only: a t whose SDE time
  // would fall outside (t below a(T)²/s(T)², e.g. t = 0, or above
  // a(eps)²/s(eps)²) is evaluated at the nearest end, and the resulting error
  // shows in ε_k² like any other estimation error. Throws ConfigError when
  // eps is not in (0, T).
  ScoreModelDenoiser(std::shared_ptr<const ScoreModel> model, std::shared_ptr<const Sde> sde, double eps = 1e-5,
                     std::string name = "");
  Index dim() const override { return model_->dim(); }
  std::string name() const override { return name_; }
  void mean(const Matrix& Y, double t, Matrix& mean) const override;
  // Always available: from the model's exact divergence in d = 1, otherwise
  // by central differences of the score along each axis (symmetrized).
  bool has_covariance() const override { return true; }
  void mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const override;
  using ConditionalMeanEstimator::mean;

  // The SDE time τ in [eps, T] with a(τ)² / s(τ)² = t (bisection; the
  // signal-to-noise ratio a²/s² decreases in τ for every SDE of sde.hpp),
  // clamped to the ends.
  double sde_time(double t) const;
  // a(T)²/s(T)² and a(eps)²/s(eps)²: the range of t the model covers.
  double t_min() const { return t_min_; }
  double t_max() const { return t_max_; }

 private:
  std::shared_ptr<const ScoreModel> model_;
  std::shared_ptr<const Sde> sde_;
  double eps_;
  std::string name_;
  double t_min_, t_max_;
};

// The other direction: a score model from a conditional-mean estimator and
// an SDE, so the SDE samplers (ancestral, Euler–Maruyama, Heun, RK45) run on
// an exact denoiser too. At SDE time τ with t = a²/s² and y = (a/s²) x,
//   ∇log p_τ(x) = (a f_t(y) - x) / s²,
// and, with the estimator's covariance Σ = ∇_y f, the divergence is
//   ∇·∇log p_τ = (a² / s⁴) tr Σ - d / s².
class DenoiserScoreModel final : public ScoreModel {
 public:
  DenoiserScoreModel(std::shared_ptr<const ConditionalMeanEstimator> estimator, std::shared_ptr<const Sde> sde,
                     std::string name = "");
  Index dim() const override { return estimator_->dim(); }
  std::string name() const override { return name_; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override;
  // Exact when the estimator's covariance is (as for MixtureDenoiser).
  bool has_exact_divergence() const override { return estimator_->has_covariance(); }
  void divergence(const Matrix& X, const Vector& t, Vector& out) const override;
  using ScoreModel::divergence;
  using ScoreModel::score;

 private:
  // Calls f(begin, end, τ) over runs of rows that share one time.
  template <class F>
  void for_each_time_run(const Vector& t, F&& f) const;

  std::shared_ptr<const ConditionalMeanEstimator> estimator_;
  std::shared_ptr<const Sde> sde_;
  std::string name_;
};

}  // namespace diffgen
