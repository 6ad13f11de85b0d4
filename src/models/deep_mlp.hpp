// A deeper score network in any dimension d, the toy network of Chen2025's
// code (THEORY.md §7): input (x, time feature) → Linear → swish → … → Linear
// → d outputs, any list of hidden widths (default 3 × 128), PyTorch's
// nn.Linear initialization, hand-written forward and backward passes.
//
// Time feature: raw t (the authors' toy) or the Gaussian Fourier embedding.
// Output parametrization, with n the network's output:
//   score             s = n
//   score-times-std   s = n / s(t)   (the network learns s(t)·score)
//   g-times-score     s = n / g(t)   (the authors': the network is g(t)·score)
// The divergence ∇·s is exact (forward-mode through every layer), O(d) times
// a forward pass, so it is offered for d ≤ kMaxExactDivergenceDim.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "core/rng.hpp"
#include "models/score_model.hpp"
#include "models/time_embedding.hpp"
#include "sde/sde.hpp"

namespace diffgen {

enum class TimeFeature { Raw, Fourier };

template <>
struct EnumNames<TimeFeature> {
  static constexpr std::array table{std::pair{TimeFeature::Raw, std::string_view("raw")},
                                    std::pair{TimeFeature::Fourier, std::string_view("fourier")}};
};

enum class OutputParametrization { Score, ScoreTimesStd, GTimesScore };

template <>
struct EnumNames<OutputParametrization> {
  static constexpr std::array table{
      std::pair{OutputParametrization::Score, std::string_view("score")},
      std::pair{OutputParametrization::ScoreTimesStd, std::string_view("score-times-std")},
      std::pair{OutputParametrization::GTimesScore, std::string_view("g-times-score")}};
};

struct DeepMlpOptions {
  std::vector<Index> hidden{128, 128, 128};
  TimeFeature time_feature = TimeFeature::Raw;
  Index embed_dim = 4;        // Fourier only: width E of e(t)
  double embed_scale = 30.0;  // Fourier only: frequencies N(0, 1)·embed_scale
  OutputParametrization output = OutputParametrization::GTimesScore;
  std::string validate() const;
};

class DeepMlp final : public TrainableScoreModel {
 public:
  static constexpr Index kMaxExactDivergenceDim = 8;

  // Draws, in this order from rng: the embedding's frequencies (Fourier
  // only), then each Linear's weight ([out][in], row-major, like
  // nn.Linear.weight) and bias, ~ U(−1/√fan_in, +1/√fan_in). The flat
  // parameter vector holds them in that order (PyTorch's named_parameters()).
  DeepMlp(Index d, const DeepMlpOptions& options, std::shared_ptr<const Sde> sde, Rng& rng);

  Index dim() const override { return d_; }
  std::string name() const override { return "deep-mlp"; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override;
  bool has_exact_divergence() const override { return d_ <= kMaxExactDivergenceDim; }
  void divergence(const Matrix& X, const Vector& t, Vector& out) const override;
  using ScoreModel::divergence;
  using ScoreModel::score;

  Vector& parameters() override { return theta_; }
  const Vector& parameters() const override { return theta_; }
  double loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) override;
  std::unique_ptr<TrainableScoreModel> clone() const override;

  const DeepMlpOptions& options() const { return options_; }
  // Rows per chunk of a training batch of `batch` rows (see loss_and_gradient).
  static Index training_chunk_rows(Index batch);
  Index input_width() const;
  // The factor k(t) with s = k(t)·n: 1, 1/s(t) or 1/g(t).
  double output_factor(double t) const;

 private:
  struct LayerView {
    Index offset_w, offset_b, in, out;
  };
  // Rows are points: A[0] = [x | feature(t)], Z[l] = A[l] W_lᵀ + b_l,
  // A[l + 1] = swish(Z[l]) for the hidden layers; the last Z is n.
  struct Pass {
    std::vector<Matrix> A, Z;
    Vector k;
  };
  // What training keeps of one chunk of rows between the forward and the
  // backward pass, reused by every step: A[l] as above, D[l] = swish'(Z[l])
  // for the hidden layers (taken from the forward pass's sigmoid, so that
  // each exp is computed once), G[l] = dLoss/dZ[l] of the backward pass, and
  // the chunk's share of the gradient.
  struct ChunkWork {
    std::vector<Matrix> A, D, G;
    Vector grad;
  };
  struct TrainingWork {
    std::vector<ChunkWork> chunks;
    Matrix S, dS;
    Vector k;
  };
  void check_input(const Matrix& X, const Vector& t) const;
  Pass forward(const Matrix& X, const Vector& t) const;
  Eigen::Map<const Matrix> weight(const LayerView& l) const;
  // Training's forward pass on rows [begin, end): fills chunk.A, chunk.D and those rows of work_.S.
  void forward_chunk(const Matrix& X, const Vector& t, Index begin, Index end, ChunkWork& chunk);
  // Training's backward pass on rows [begin, end) from work_.dS: fills chunk.grad.
  void backward_chunk(Index begin, Index end, ChunkWork& chunk);

  Index d_;
  DeepMlpOptions options_;
  std::shared_ptr<const Sde> sde_;
  std::shared_ptr<const FourierTimeEmbedding> embedding_;  // Fourier only; frozen, so copies share it
  std::vector<LayerView> layers_;
  Vector theta_;
  TrainingWork work_;  // loss_and_gradient's buffers (not state: a copy may share nothing of it)
};

}  // namespace diffgen
