#include "models/random_features.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"

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
  E.resize(n, embedding_.dim());
  embedding_.embed(t.data() + begin, n, E.data());
  P.resize(n, options_.width);
  P.noalias() = X.middleRows(begin, n) * W_.transpose();
  P.noalias() += E * U_.transpose();
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
  const double inv_m = 1.0 / static_cast<double>(options_.width);
  out.resize(X.rows(), d_);
  for_each_block(X, t, [&](Index begin, Matrix& P) {
    // s_A = (1/m) A φ for every row: S = (1/m) Φ Aᵀ with Φ = relu(P).
    P = P.cwiseMax(0.0);
    out.middleRows(begin, P.rows()).noalias() = inv_m * (P * coefficients().transpose());
  });
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
  S_.noalias() = inv_m * (phi_ * coefficients().transpose());
  dS_.resize(X.rows(), d_);
  const double loss = head(S_, dS_);
  if (dS_.rows() != X.rows() || dS_.cols() != d_) throw std::logic_error("random-features: the loss head resized dS");
  // S = (1/m) Φ Aᵀ is linear in A: dLoss/dA = (1/m) dSᵀ Φ.
  grad.resize(theta_.size());
  Eigen::Map<Matrix>(grad.data(), d_, options_.width).noalias() = inv_m * (dS_.transpose() * phi_);
  return loss;
}

}  // namespace diffgen
