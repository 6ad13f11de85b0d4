// The reference score network of THEORY.md §4 (behind Li2023 Figs. 3–5, from
// the authors' code), in general dimension d:
//   h   = Linear(d → H)(x) + Linear(E → H)(e(t)),
//   out = Linear(H → d)(swish(h)) · c / s(t),   swish(u) = u·sigmoid(u),
// with e(t) the frozen Gaussian Fourier embedding. One hidden layer, so the
// divergence of the score is exact and costs O(H) per point for any d.
// Every point is computed row by row in a fixed order, so its score does not
// depend on the other rows of its batch (nor on how callers split batches
// across threads).
#pragma once

#include <memory>
#include <string>

#include "core/rng.hpp"
#include "models/score_model.hpp"
#include "core/options.hpp"
#include "models/time_embedding.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// How the output constant c follows the width H. Fixed: c = output_scale at
// every width, as the reference does (wide networks then diverge at SGD lr
// 0.5). Width: c = output_scale·√(16/H), equal at H = 16: the output sums H
// terms of random sign, so this keeps its initial size and the change one
// SGD step makes to it (∝ c²·H) independent of H (the NTK scaling); c ∝ 1/H
// would also stop the divergence but slow training down H-fold.
enum class OutputScaling { Fixed, Width };

template <>
struct EnumNames<OutputScaling> {
  static constexpr std::array table{std::pair{OutputScaling::Fixed, std::string_view("fixed")},
                                    std::pair{OutputScaling::Width, std::string_view("width")}};
};

struct ReferenceMlpOptions {
  Index hidden = 16;                 // H, hidden units
  Index embed_dim = 4;               // E, width of the Fourier time embedding (even)
  double embed_scale = 30.0;         // the embedding's frequencies are N(0, 1)·embed_scale
  double output_scale = 1.0 / 16.0;  // the output is multiplied by c / s(t), c from output_scale and scaling
  OutputScaling scaling = OutputScaling::Fixed;
  // c: output_scale, or output_scale·√(16/H) for OutputScaling::Width.
  double output_constant() const;
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

class ReferenceMlp final : public TrainableScoreModel {
 public:
  // Offsets of the blocks in the flat parameter vector, in PyTorch's
  // named_parameters() order; weights are stored [out][in] row-major, like
  // nn.Linear.weight:
  //   w_x [H×d] at w_x, b_x [H] at b_x      Linear(d → H)
  //   w_e [H×E] at w_e, b_e [H] at b_e      Linear(E → H) on e(t)
  //   w_o [d×H] at w_o, b_o [d] at b_o      Linear(H → d)
  // size = H·d + H + H·E + H + d·H + d (129 for d = 1, H = 16, E = 4).
  struct Layout {
    Index w_x, b_x, w_e, b_e, w_o, b_o, size;
  };

  // Draws, in this order from rng: the embedding's frequencies, then each
  // Linear's weight and bias (in layout order) ~ U(−1/√fan_in, +1/√fan_in),
  // PyTorch's nn.Linear initialization. Throws ConfigError on invalid options.
  ReferenceMlp(Index d, const ReferenceMlpOptions& options, std::shared_ptr<const Sde> sde, Rng& rng);

  Index dim() const override { return d_; }
  std::string name() const override { return "reference-mlp"; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override;
  bool has_exact_divergence() const override { return true; }
  void divergence(const Matrix& X, const Vector& t, Vector& out) const override;
  // One forward pass for both.
  void score_and_divergence(const Matrix& X, const Vector& t, Matrix& score_out, Vector& div_out) const override;
  using ScoreModel::divergence;
  using ScoreModel::score;

  Vector& parameters() override { return theta_; }
  const Vector& parameters() const override { return theta_; }
  // Allocation-free after the first call with a given batch size.
  double loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) override;
  std::unique_ptr<TrainableScoreModel> clone() const override;

  const ReferenceMlpOptions& options() const { return options_; }
  const Layout& layout() const { return layout_; }
  const FourierTimeEmbedding& embedding() const { return embedding_; }
  const Sde& sde() const { return *sde_; }

 private:
  // Everything the forward pass computes; the backward pass reuses it.
  struct Workspace {
    Vector w_xT, w_eT;      // [d×H], [E×H] input weights transposed to [in][out]
    Vector bias;            // [H] b_x + b_e
    Matrix e;               // [B×E] e(t_b)
    Matrix h;               // [B×H] pre-activations
    Matrix sig;             // [B×H] sigmoid(h)
    Matrix act;             // [B×H] swish(h)
    Vector k;               // [B] c / s(t_b)
    Matrix S;               // [B×d] scores
    Matrix dS;              // [B×d] dLoss/dS from the head
    Vector g_w_xT, g_w_eT;  // [d×H], [E×H] input-weight gradients, [in][out]
    Matrix g_h;             // [B×H] dLoss/dh
    void resize(Index B, Index d, Index H, Index E);
  };
  void check_input(const Matrix& X, const Vector& t) const;
  // Fills the parameter-derived parts of ws (transposed weights, summed bias).
  void prepare(Workspace& ws) const;
  // Forward pass on rows [begin, begin + ws.S.rows()) of (X, t) into ws.
  void forward(const Matrix& X, const Vector& t, Index begin, Workspace& ws) const;
  // q_j = Σ_i w_o[i,j] w_x[j,i]: the part of the divergence shared by all points.
  Vector divergence_weights() const;
  // Calls f(begin, ws) for consecutive blocks of rows after their forward
  // pass, so that score() and divergence() use bounded memory for any batch.
  template <class F>
  void for_each_block(const Matrix& X, const Vector& t, F&& f) const;

  Index d_;
  ReferenceMlpOptions options_;
  double output_constant_;  // options_.output_constant()
  std::shared_ptr<const Sde> sde_;
  FourierTimeEmbedding embedding_;
  Layout layout_;
  Vector theta_;
  Workspace ws_;  // training workspace (loss_and_gradient only; score() uses its own)
};

}  // namespace diffgen
