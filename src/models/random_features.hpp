// The random-feature score model of Li2023 eq. 12 (THEORY.md §4), the model
// of its theorems:
//   s_A(x, t) = (1/m) Σ_{i=1}^m a_i · relu(w_i·x + u_i·e(t)) = (1/m) A φ(x, t),
// with (w_i, u_i) ∈ R^{d+E} drawn once i.i.d. Gaussian, normalized jointly to
// the unit sphere and frozen, e(t) the Fourier time embedding, and only
// A = (a_1 … a_m) ∈ R^{d×m} trained. The loss is quadratic in A, which the
// exact gradient-flow solver uses through the feature map φ. A point's
// features and score do not depend on the other rows of its batch.
#pragma once

#include <memory>
#include <string>

#include "core/rng.hpp"
#include "models/score_model.hpp"
#include "models/time_embedding.hpp"

namespace diffgen {

struct RandomFeatureOptions {
  Index width = 256;          // m, number of random features
  Index embed_dim = 4;        // E, width of the Fourier time embedding (even)
  double embed_scale = 30.0;  // the embedding's frequencies are N(0, 1)·embed_scale
  double init_std = 0.0;      // A starts at 0, or N(0, init_std²) entries when > 0
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

class RandomFeatureModel final : public TrainableScoreModel {
 public:
  // Draws, in this order from rng: the embedding's frequencies; for each
  // feature i, the d + E normals of (w_i, u_i); then A when init_std > 0.
  // Throws ConfigError on invalid options.
  RandomFeatureModel(Index d, const RandomFeatureOptions& options, Rng& rng);

  Index dim() const override { return d_; }
  std::string name() const override { return "random-features"; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override;
  bool has_exact_divergence() const override { return true; }
  // (1/m) Σ_i (a_i·w_i) 1[w_i·x + u_i·e(t) > 0].
  void divergence(const Matrix& X, const Vector& t, Vector& out) const override;
  using ScoreModel::divergence;
  using ScoreModel::score;

  // The flat parameters are A row-major: entry (k, i) of A, component k of
  // a_i, is parameters()[k·m + i].
  Vector& parameters() override { return theta_; }
  const Vector& parameters() const override { return theta_; }
  double loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) override;
  std::unique_ptr<TrainableScoreModel> clone() const override;

  // The feature map: row b of Phi is φ(X(b, :), t[b]) = relu(W x + U e(t)) ∈ R^m.
  void features(const Matrix& X, const Vector& t, Matrix& Phi) const;
  Matrix features(const Matrix& X, const Vector& t) const;

  Index width() const { return options_.width; }
  const RandomFeatureOptions& options() const { return options_; }
  const FourierTimeEmbedding& embedding() const { return embedding_; }
  // Row i is w_i [m×d] and u_i [m×E]; together each row has unit norm.
  const Matrix& input_weights() const { return W_; }
  const Matrix& time_weights() const { return U_; }
  // A [d×m] as a view of parameters().
  Eigen::Map<const Matrix> coefficients() const { return {theta_.data(), d_, options_.width}; }
  Eigen::Map<Matrix> coefficients() { return {theta_.data(), d_, options_.width}; }

 private:
  void check_input(const Matrix& X, const Vector& t) const;
  // Pre-activations W x + U e(t) of rows [begin, begin + n) into P [n×m]; E receives e(t).
  void preactivations(const Matrix& X, const Vector& t, Index begin, Index n, Matrix& E, Matrix& P) const;
  // S = (1/m) Φ Aᵀ row by row (S has Phi's rows and d columns).
  void scores_from_features(const Matrix& Phi, Eigen::Ref<Matrix> S) const;
  // Calls f(begin, P) with the pre-activations of consecutive blocks of rows.
  template <class F>
  void for_each_block(const Matrix& X, const Vector& t, F&& f) const;

  Index d_;
  RandomFeatureOptions options_;
  FourierTimeEmbedding embedding_;
  Matrix W_, WT_;  // [m×d] and its transpose
  Matrix U_, UT_;  // [m×E] and its transpose
  Vector theta_;
  // Training workspace (loss_and_gradient only).
  Matrix e_, phi_, S_, dS_;
};

}  // namespace diffgen
