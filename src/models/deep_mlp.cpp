#include "models/deep_mlp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

double sigmoid(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

// swish(z) = z σ(z); swish'(z) = σ(z) (1 + z (1 − σ(z))).
double swish_derivative(double z) {
  const double s = sigmoid(z);
  return s * (1.0 + z * (1.0 - s));
}

}  // namespace

std::string DeepMlpOptions::validate() const {
  if (hidden.empty()) return "model.deep_mlp.hidden must list at least one hidden width";
  for (Index h : hidden)
    if (h < 1 || h > 100000) return fmt::format("model.deep_mlp.hidden: width {} must be in [1, 100000]", h);
  if (time_feature == TimeFeature::Fourier && (embed_dim < 2 || embed_dim % 2 != 0))
    return fmt::format("model.deep_mlp.embed_dim = {} must be even and >= 2", embed_dim);
  if (!(embed_scale >= 0.0) || !std::isfinite(embed_scale))
    return fmt::format("model.deep_mlp.embed_scale = {} must be finite and >= 0", embed_scale);
  return "";
}

DeepMlp::DeepMlp(Index d, const DeepMlpOptions& options, std::shared_ptr<const Sde> sde, Rng& rng)
    : d_(d), options_(options), sde_(std::move(sde)) {
  if (d < 1) throw ConfigError(fmt::format("deep MLP: dimension {} must be >= 1", d));
  if (auto e = options.validate(); !e.empty()) throw ConfigError(e);
  if (!sde_) throw std::logic_error("deep MLP: no SDE");
  if (options.time_feature == TimeFeature::Fourier)
    embedding_ = std::make_shared<const FourierTimeEmbedding>(options.embed_dim, options.embed_scale, rng);
  Index in = input_width(), size = 0;
  std::vector<Index> widths = options.hidden;
  widths.push_back(d);
  for (Index out : widths) {
    layers_.push_back({size, size + out * in, in, out});
    size += out * in + out;
    in = out;
  }
  theta_.resize(size);
  for (const auto& l : layers_) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(l.in));
    for (Index j = 0; j < l.out * l.in + l.out; ++j) theta_[l.offset_w + j] = rng.uniform(-bound, bound);
  }
}

Index DeepMlp::input_width() const {
  return d_ + (options_.time_feature == TimeFeature::Fourier ? options_.embed_dim : 1);
}

double DeepMlp::output_factor(double t) const {
  switch (options_.output) {
    case OutputParametrization::Score:
      return 1.0;
    case OutputParametrization::ScoreTimesStd:
      return 1.0 / sde_->s(t);
    case OutputParametrization::GTimesScore:
      return 1.0 / std::sqrt(sde_->g2(t));
  }
  return 1.0;
}

Eigen::Map<const Matrix> DeepMlp::weight(const LayerView& l) const {
  return {theta_.data() + l.offset_w, l.out, l.in};
}

void DeepMlp::check_input(const Matrix& X, const Vector& t) const {
  if (X.cols() != d_ || t.size() != X.rows())
    throw std::logic_error(fmt::format("deep MLP: {} x {} points with {} times for dimension {}", X.rows(), X.cols(),
                                       t.size(), d_));
}

DeepMlp::Pass DeepMlp::forward(const Matrix& X, const Vector& t) const {
  check_input(X, t);
  const Index B = X.rows();
  Pass p;
  Matrix a0(B, input_width());
  a0.leftCols(d_) = X;
  if (embedding_) {
    a0.rightCols(options_.embed_dim) = (*embedding_)(t);
  } else {
    a0.col(d_) = t;
  }
  p.A.push_back(std::move(a0));
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& L = layers_[l];
    Matrix z = p.A.back() * weight(L).transpose();
    z.rowwise() += theta_.segment(L.offset_b, L.out).transpose();
    if (l + 1 < layers_.size()) p.A.push_back(z.unaryExpr([](double v) { return v * sigmoid(v); }));
    p.Z.push_back(std::move(z));
  }
  p.k.resize(B);
  for (Index b = 0; b < B; ++b) p.k[b] = output_factor(t[b]);
  return p;
}

// score() and divergence() walk the batch in blocks of rows: each block's
// activations (64 × 128 doubles) stay in cache and under malloc's mmap
// threshold, where a whole batch of 1000 rows would map, fault in and zero
// fresh megabytes per layer on every call (half the time of a sampler step).
// Every row's result is computed by the same operations whatever the block.
constexpr Index kEvalBlockRows = 64;

void DeepMlp::score(const Matrix& X, const Vector& t, Matrix& out) const {
  check_input(X, t);
  out.resize(X.rows(), d_);
  for (Index begin = 0; begin < X.rows(); begin += kEvalBlockRows) {
    const Index rows = std::min(kEvalBlockRows, X.rows() - begin);
    const Pass p = forward(X.middleRows(begin, rows), t.segment(begin, rows));
    out.middleRows(begin, rows) = p.k.asDiagonal() * p.Z.back();
  }
}

void DeepMlp::divergence(const Matrix& X, const Vector& t, Vector& out) const {
  if (!has_exact_divergence())
    throw std::logic_error(fmt::format("deep MLP: no exact divergence in dimension {} (at most {})", d_,
                                       kMaxExactDivergenceDim));
  check_input(X, t);
  out.resize(X.rows());
  for (Index begin = 0; begin < X.rows(); begin += kEvalBlockRows) {
    const Index rows = std::min(kEvalBlockRows, X.rows() - begin);
    const Pass p = forward(X.middleRows(begin, rows), t.segment(begin, rows));
    // Forward mode, one tangent direction x_j at a time for the whole block:
    // dZ[0] = e_j W_0ᵀ (row j of W_0ᵀ on every row), then
    // dZ[l] = (dZ[l − 1] ⊙ swish'(Z[l − 1])) W_lᵀ; the divergence sums dZ_last(:, j).
    std::vector<Matrix> deriv(layers_.size() - 1);
    for (std::size_t l = 0; l + 1 < layers_.size(); ++l)
      deriv[l] = p.Z[l].unaryExpr([](double v) { return swish_derivative(v); });
    Vector sum = Vector::Zero(rows);
    Matrix dz, tangent;
    for (Index j = 0; j < d_; ++j) {
      dz = weight(layers_[0]).col(j).transpose().replicate(rows, 1);
      for (std::size_t l = 1; l < layers_.size(); ++l) {
        tangent = dz.cwiseProduct(deriv[l - 1]);
        dz.noalias() = tangent * weight(layers_[l]).transpose();
      }
      sum += dz.col(j);
    }
    out.segment(begin, rows) = p.k.cwiseProduct(sum);
  }
}

// Training splits the batch into chunks of rows whose bounds depend only on
// the batch size, runs the forward and backward passes of the chunks in
// parallel and adds their gradients in chunk order: bit-identical results for
// any number of threads. Four chunks balance two or four cores; below 64 rows
// the batch is one chunk (threads would cost more than they save).
Index DeepMlp::training_chunk_rows(Index batch) {
  return batch < 64 ? batch : (batch + 3) / 4;
}

void DeepMlp::forward_chunk(const Matrix& X, const Vector& t, Index begin, Index end, ChunkWork& c) {
  const Index rows = end - begin, hidden = static_cast<Index>(layers_.size()) - 1;
  c.A.resize(layers_.size());
  c.D.resize(layers_.size() - 1);
  Matrix& a0 = c.A[0];
  a0.resize(rows, input_width());
  a0.leftCols(d_) = X.middleRows(begin, rows);
  if (embedding_) {
    a0.rightCols(options_.embed_dim) = (*embedding_)(t.segment(begin, rows));
  } else {
    a0.col(d_) = t.segment(begin, rows);
  }
  for (Index l = 0; l < hidden; ++l) {
    const auto& L = layers_[static_cast<std::size_t>(l)];
    Matrix& z = c.A[static_cast<std::size_t>(l + 1)];  // Z[l], turned into A[l + 1] in place
    Matrix& deriv = c.D[static_cast<std::size_t>(l)];
    z.resize(rows, L.out);
    deriv.resize(rows, L.out);
    z.noalias() = c.A[static_cast<std::size_t>(l)] * weight(L).transpose();
    z.rowwise() += theta_.segment(L.offset_b, L.out).transpose();
    double* zp = z.data();
    double* dp = deriv.data();
    for (Index i = 0; i < z.size(); ++i) {
      const double v = zp[i], s = sigmoid(v);
      dp[i] = s * (1.0 + v * (1.0 - s));  // swish'(v), as swish_derivative()
      zp[i] = v * s;
    }
  }
  const auto& last = layers_.back();
  auto n = work_.S.middleRows(begin, rows);
  n.noalias() = c.A.back() * weight(last).transpose();
  n.rowwise() += theta_.segment(last.offset_b, last.out).transpose();
  n = work_.k.segment(begin, rows).asDiagonal() * n;
}

void DeepMlp::backward_chunk(Index begin, Index end, ChunkWork& c) {
  const Index rows = end - begin;
  c.grad.resize(theta_.size());
  c.G.resize(layers_.size());
  for (std::size_t l = 0; l < layers_.size(); ++l) c.G[l].resize(rows, layers_[l].out);
  // dLoss/dZ of the last layer, then down the layers.
  c.G.back() = work_.k.segment(begin, rows).asDiagonal() * work_.dS.middleRows(begin, rows);
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const auto& L = layers_[l];
    const Matrix& g = c.G[l];
    Eigen::Map<Matrix>(c.grad.data() + L.offset_w, L.out, L.in).noalias() = g.transpose() * c.A[l];
    c.grad.segment(L.offset_b, L.out) = g.colwise().sum().transpose();
    if (l == 0) break;
    c.G[l - 1].noalias() = g * weight(L);  // dLoss/dA[l], then dLoss/dZ[l − 1]
    c.G[l - 1].array() *= c.D[l - 1].array();
  }
}

double DeepMlp::loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) {
  check_input(X, t);
  const Index B = X.rows(), rows = std::max<Index>(1, training_chunk_rows(B));
  const Index chunks = (B + rows - 1) / rows;
  work_.chunks.resize(static_cast<std::size_t>(chunks));
  work_.S.resize(B, d_);
  work_.k.resize(B);
  for (Index b = 0; b < B; ++b) work_.k[b] = output_factor(t[b]);
  // The loops capture one pointer, which std::function stores without allocating.
  struct Step {
    DeepMlp* self;
    const Matrix* X;
    const Vector* t;
    Index rows;
  } step{this, &X, &t, rows};
  const Step* sp = &step;
  parallel_for(B, rows, [sp](Index begin, Index end) {
    sp->self->forward_chunk(*sp->X, *sp->t, begin, end, sp->self->work_.chunks[static_cast<std::size_t>(begin / sp->rows)]);
  });
  work_.dS.resize(B, d_);
  const double loss = head(work_.S, work_.dS);
  parallel_for(B, rows, [sp](Index begin, Index end) {
    sp->self->backward_chunk(begin, end, sp->self->work_.chunks[static_cast<std::size_t>(begin / sp->rows)]);
  });
  grad = work_.chunks[0].grad;
  for (std::size_t c = 1; c < work_.chunks.size(); ++c) grad += work_.chunks[c].grad;
  return loss;
}

std::unique_ptr<TrainableScoreModel> DeepMlp::clone() const {
  return std::make_unique<DeepMlp>(*this);
}

}  // namespace diffgen
