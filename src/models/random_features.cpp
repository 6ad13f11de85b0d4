#include "models/random_features.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "models/vector_math.hpp"

namespace diffgen {
namespace {

// Rows per block in score() and divergence().
constexpr Index kBlockRows = 256;

}  // namespace

std::string RandomFeatureOptions::validate() const {
  if (width < 1) return fmt::format("width = {} must be >= 1", width);
  if (embed_dim < 2 || embed_dim % 2 != 0) return fmt::format("embed_dim = {} must be even and >= 2", embed_dim);
  if (!(embed_scale >= 0.0) || !std::isfinite(embed_scale))
    return fmt::format("embed_scale = {} must be finite and >= 0", embed_scale);
  if (!(init_std >= 0.0) || !std::isfinite(init_std))
    return fmt::format("init_std = {} must be finite and >= 0", init_std);
  return {};
}

namespace {

const RandomFeatureOptions& validated(Index d, const RandomFeatureOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (d < 1) throw ConfigError(fmt::format("dimension d = {} must be >= 1", d));
  return options;
}

}  // namespace

RandomFeatureModel::RandomFeatureModel(Index d, const RandomFeatureOptions& options, Rng& rng)
    : d_(d),
      options_(validated(d, options)),
      embedding_(options.embed_dim, options.embed_scale, rng),
      W_(options.width, d),
      U_(options.width, options.embed_dim),
      theta_(Vector::Zero(d * options.width)) {
  const Index m = options_.width, E = options_.embed_dim;
  for (Index i = 0; i < m; ++i) {
    // A standard Gaussian in R^{d+E}, normalized, is uniform on the unit sphere
    // (relu is positively homogeneous, so the radius carries no information).
    for (Index k = 0; k < d; ++k) W_(i, k) = rng.normal();
    for (Index k = 0; k < E; ++k) U_(i, k) = rng.normal();
    const double inv = 1.0 / std::sqrt(W_.row(i).squaredNorm() + U_.row(i).squaredNorm());
    W_.row(i) *= inv;
    U_.row(i) *= inv;
  }
  // [in][out] copies for the pre-activations' inner loops.
  WT_ = W_.transpose();
  UT_ = U_.transpose();
  if (options_.init_std > 0.0)
    for (Index k = 0; k < theta_.size(); ++k) theta_[k] = rng.normal() * options_.init_std;
}

std::unique_ptr<TrainableScoreModel> RandomFeatureModel::clone() const {
  return std::make_unique<RandomFeatureModel>(*this);
}

void RandomFeatureModel::check_input(const Matrix& X, const Vector& t) const {
  if (X.cols() != d_)
    throw std::invalid_argument(
        fmt::format("random-features: input has {} columns, model dimension is {}", X.cols(), d_));
  if (t.size() != X.rows())
    throw std::invalid_argument(fmt::format("random-features: {} times for {} points", t.size(), X.rows()));
}

void RandomFeatureModel::preactivations(const Matrix& X, const Vector& t, Index begin, Index n, Matrix& E,
                                        Matrix& P) const {
  const Index d = d_, m = options_.width, Ed = embedding_.dim();
  E.resize(n, Ed);
  embedding_.embed(t.data() + begin, n, E.data());
  P.resize(n, m);
  // Row by row, so that a point's features do not depend on its batch.
  for (Index r = 0; r < n; ++r)
    linear_combination(nullptr,
                       {{X.data() + (begin + r) * d, 1, d, WT_.data(), m}, {E.data() + r * Ed, 1, Ed, UT_.data(), m}},
                       m, P.data() + r * m);
}

template <class F>
void RandomFeatureModel::for_each_block(const Matrix& X, const Vector& t, F&& f) const {
  // Blocks of rows bound the B×m pre-activations for any batch; local
  // buffers keep score() safe to call from several threads.
  check_input(X, t);
  Matrix E, P;
  for (Index begin = 0; begin < X.rows(); begin += kBlockRows) {
    const Index n = std::min(kBlockRows, X.rows() - begin);
    preactivations(X, t, begin, n, E, P);
    f(begin, P);
  }
}

void RandomFeatureModel::features(const Matrix& X, const Vector& t, Matrix& Phi) const {
  check_input(X, t);
  Matrix E;
  preactivations(X, t, 0, X.rows(), E, Phi);
  Phi = Phi.cwiseMax(0.0);
}

Matrix RandomFeatureModel::features(const Matrix& X, const Vector& t) const {
  Matrix Phi;
  features(X, t, Phi);
  return Phi;
}

void RandomFeatureModel::score(const Matrix& X, const Vector& t, Matrix& out) const {
  out.resize(X.rows(), d_);
  for_each_block(X, t, [&](Index begin, Matrix& P) {
    P = P.cwiseMax(0.0);
    scores_from_features(P, out.middleRows(begin, P.rows()));
  });
}

void RandomFeatureModel::scores_from_features(const Matrix& Phi, Eigen::Ref<Matrix> S) const {
  // s_A = (1/m) A φ, one dot product per output, in the same order for every row.
  const double inv_m = 1.0 / static_cast<double>(options_.width);
  const auto A = coefficients();
  for (Index r = 0; r < Phi.rows(); ++r)
    for (Index k = 0; k < d_; ++k) S(r, k) = inv_m * A.row(k).dot(Phi.row(r));
}

void RandomFeatureModel::divergence(const Matrix& X, const Vector& t, Vector& out) const {
  const Index m = options_.width;
  // ∂s_k/∂x_k = (1/m) Σ_i A(k, i) W(i, k) 1[p_i > 0]; summing over k gives
  // (1/m) Σ_i c_i 1[p_i > 0] with c_i = a_i·w_i shared by all points.
  const Vector c = (coefficients().transpose().cwiseProduct(W_)).rowwise().sum() / static_cast<double>(m);
  out.resize(X.rows());
  for_each_block(X, t, [&](Index begin, const Matrix& P) {
    for (Index r = 0; r < P.rows(); ++r) {
      double sum = 0.0;
      for (Index i = 0; i < m; ++i)
        if (P(r, i) > 0.0) sum += c[i];
      out[begin + r] = sum;
    }
  });
}

double RandomFeatureModel::loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) {
  check_input(X, t);
  const double inv_m = 1.0 / static_cast<double>(options_.width);
  preactivations(X, t, 0, X.rows(), e_, phi_);
  phi_ = phi_.cwiseMax(0.0);
  S_.resize(X.rows(), d_);
  scores_from_features(phi_, S_);
  dS_.resize(X.rows(), d_);
  const double loss = head(S_, dS_);
  if (dS_.rows() != X.rows() || dS_.cols() != d_) throw std::logic_error("random-features: the loss head resized dS");
  // S = (1/m) Φ Aᵀ is linear in A: dLoss/dA = (1/m) dSᵀ Φ.
  grad.resize(theta_.size());
  Eigen::Map<Matrix>(grad.data(), d_, options_.width).noalias() = inv_m * (dS_.transpose() * phi_);
  return loss;
}

}  // namespace diffgen
