#include "models/deep_mlp.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "core/error.hpp"

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

void DeepMlp::score(const Matrix& X, const Vector& t, Matrix& out) const {
  const Pass p = forward(X, t);
  out = p.k.asDiagonal() * p.Z.back();
}

void DeepMlp::divergence(const Matrix& X, const Vector& t, Vector& out) const {
  if (!has_exact_divergence())
    throw std::logic_error(fmt::format("deep MLP: no exact divergence in dimension {} (at most {})", d_,
                                       kMaxExactDivergenceDim));
  const Pass p = forward(X, t);
  out.resize(X.rows());
  // Forward mode per point: the d tangents ∂A/∂x_j through every layer.
  for (Index b = 0; b < X.rows(); ++b) {
    SquareMatrix tangent = SquareMatrix::Zero(input_width(), d_);
    tangent.topRows(d_).setIdentity();
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      SquareMatrix dz = weight(layers_[l]) * tangent;
      if (l + 1 < layers_.size())
        for (Index i = 0; i < dz.rows(); ++i) dz.row(i) *= swish_derivative(p.Z[l](b, i));
      tangent = std::move(dz);
    }
    out[b] = p.k[b] * tangent.trace();
  }
}

double DeepMlp::loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) {
  const Pass p = forward(X, t);
  const Matrix S = p.k.asDiagonal() * p.Z.back();
  Matrix dS(S.rows(), S.cols());
  const double loss = head(S, dS);
  grad.setZero(theta_.size());
  Matrix g = p.k.asDiagonal() * dS;  // dLoss/dZ of the last layer
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const auto& L = layers_[l];
    Eigen::Map<Matrix>(grad.data() + L.offset_w, L.out, L.in) = g.transpose() * p.A[l];
    grad.segment(L.offset_b, L.out) = g.colwise().sum().transpose();
    if (l == 0) break;
    Matrix back = g * weight(L);  // dLoss/dA[l]
    g = back.cwiseProduct(p.Z[l - 1].unaryExpr([](double v) { return swish_derivative(v); }));
  }
  return loss;
}

std::unique_ptr<TrainableScoreModel> DeepMlp::clone() const {
  return std::make_unique<DeepMlp>(*this);
}

}  // namespace diffgen
