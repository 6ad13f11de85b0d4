#include "targets/gaussian_mixture.hpp"

#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace diffgen {
namespace {

constexpr double kLog2Pi = 1.8378770664093454836;

void check_weights(const Vector& w) {
  if (w.size() == 0) throw ConfigError("a Gaussian mixture needs at least one component");
  for (Index k = 0; k < w.size(); ++k)
    if (!(w[k] > 0.0) || !std::isfinite(w[k]))
      throw ConfigError("mixture weight " + std::to_string(k) + " must be a finite number > 0");
  if (std::abs(w.sum() - 1.0) > 1e-9) throw ConfigError("mixture weights must sum to 1");
}

// Per component at this time: the mean a μ_k, log w_k - ½ log det(2π C_k(t)),
// tr P_k, and P_k = C_k(t)^{-1} (its diagonal in the diagonal case).
struct ComponentsAt {
  Matrix m;
  Vector log_norm, trace_p;
  Matrix inv_var;               // diagonal case, K x d
  std::vector<SquareMatrix> P;  // full case
};

// C_k(t) = a² diag(variances_k) + s² I.
void diagonal_components(const Vector& weights, const Matrix& variances, double a, double s2, Index d,
                         ComponentsAt& c) {
  const Index K = weights.size();
  c.log_norm.resize(K);
  c.trace_p.resize(K);
  c.inv_var.resize(K, d);
  for (Index k = 0; k < K; ++k) {
    const RowVector var = (a * a) * variances.row(k).array() + s2;
    if ((var.array() <= 0.0).any())
      throw NumericalError("mixture component " + std::to_string(k) + " has zero variance at s = 0 (no density)");
    c.inv_var.row(k) = var.cwiseInverse();
    c.trace_p[k] = c.inv_var.row(k).sum();
    c.log_norm[k] = std::log(weights[k]) - 0.5 * (d * kLog2Pi + var.array().log().sum());
  }
}

// C_k(t) = a² covariances_k + s² I.
void full_components(const Vector& weights, const std::vector<SquareMatrix>& covariances, double a, double s2, Index d,
                     ComponentsAt& c) {
  const Index K = weights.size();
  c.log_norm.resize(K);
  c.trace_p.resize(K);
  c.P.resize(K);
  for (Index k = 0; k < K; ++k) {
    SquareMatrix C = (a * a) * covariances[k];
    C.diagonal().array() += s2;
    Eigen::LLT<SquareMatrix> llt(C);
    if (llt.info() != Eigen::Success)
      throw NumericalError("mixture component " + std::to_string(k) + " has a singular covariance at this time");
    const double log_det = 2.0 * SquareMatrix(llt.matrixL()).diagonal().array().log().sum();
    c.P[k] = llt.solve(SquareMatrix::Identity(d, d));
    c.trace_p[k] = c.P[k].trace();
    c.log_norm[k] = std::log(weights[k]) - 0.5 * (d * kLog2Pi + log_det);
  }
}

// log w_k N(x_i; a μ_k, C_k(t)) for every component k, into logc (r: work space).
void component_log_densities(const Matrix& X, Index i, const ComponentsAt& c, bool diagonal, Vector& r, Vector& logc) {
  const Index K = c.log_norm.size(), d = X.cols();
  for (Index k = 0; k < K; ++k) {
    double q = 0.0;
    if (diagonal) {
      for (Index j = 0; j < d; ++j) {
        const double rj = X(i, j) - c.m(k, j);
        q += rj * rj * c.inv_var(k, j);
      }
    } else {
      r = X.row(i).transpose() - c.m.row(k).transpose();
      q = r.dot(c.P[k] * r);
    }
    logc[k] = c.log_norm[k] - 0.5 * q;
  }
}

// Adds ∇log p at x_i into row i of score (zero on entry), from the
// responsibilities resp: ∇log p = Σ_k r_k g_k with g_k = -P_k (x - a μ_k).
// Returns Σ_k r_k (‖g_k‖² - tr P_k) when want_divergence (0 otherwise), for
// Δ log p = Σ_k r_k (‖g_k‖² - tr P_k) - ‖∇log p‖². r, g: work space.
double add_score(const Matrix& X, Index i, const ComponentsAt& c, bool diagonal, const Matrix& resp,
                 bool want_divergence, Vector& r, Vector& g, Matrix& score) {
  const Index K = c.log_norm.size();
  double second = 0.0;
  for (Index k = 0; k < K; ++k) {
    const double rk = resp(i, k);
    if (rk == 0.0) continue;
    r = X.row(i).transpose() - c.m.row(k).transpose();
    if (diagonal)
      g = -(r.array() * c.inv_var.row(k).transpose().array()).matrix();
    else
      g = -(c.P[k] * r);
    score.row(i) += rk * g.transpose();
    if (want_divergence) second += rk * (g.squaredNorm() - c.trace_p[k]);
  }
  return second;
}

}  // namespace

struct GaussianMixture::Eval {
  Vector log_density;  // n
  Matrix resp;         // n x K
  Matrix score;        // n x d
  Vector divergence;   // n
};

GaussianMixture::GaussianMixture(Vector weights, Matrix means, Matrix variances)
    : weights_(std::move(weights)), means_(std::move(means)), diagonal_(true), variances_(std::move(variances)) {
  check_weights(weights_);
  if (means_.rows() != weights_.size() || variances_.rows() != weights_.size() || variances_.cols() != means_.cols())
    throw ConfigError("mixture weights, means and variances disagree in size");
  if (!means_.allFinite()) throw ConfigError("mixture means must be finite");
  for (Index i = 0; i < variances_.size(); ++i)
    if (!(variances_.data()[i] >= 0.0) || !std::isfinite(variances_.data()[i]))
      throw ConfigError("mixture variances must be finite and >= 0");
}

GaussianMixture::GaussianMixture(Vector weights, Matrix means, std::vector<SquareMatrix> covariances)
    : weights_(std::move(weights)), means_(std::move(means)), diagonal_(false), covariances_(std::move(covariances)) {
  check_weights(weights_);
  if (means_.rows() != weights_.size() || static_cast<Index>(covariances_.size()) != weights_.size())
    throw ConfigError("mixture weights, means and covariances disagree in size");
  for (const auto& C : covariances_) {
    if (C.rows() != means_.cols() || C.cols() != means_.cols()) throw ConfigError("mixture covariance is not d x d");
    if (!C.allFinite() || (C - C.transpose()).cwiseAbs().maxCoeff() > 1e-12 * (1.0 + C.cwiseAbs().maxCoeff()))
      throw ConfigError("mixture covariance must be finite and symmetric");
    Eigen::SelfAdjointEigenSolver<SquareMatrix> es(C, Eigen::EigenvaluesOnly);
    if (es.eigenvalues().minCoeff() < 0.0) throw ConfigError("mixture covariance must be positive semi-definite");
  }
}

GaussianMixture GaussianMixture::symmetric_two_mode(double mu, double var) {
  Vector w(2);
  w << 0.5, 0.5;
  Matrix m(2, 1);
  m << -mu, mu;
  Matrix v(2, 1);
  v << var, var;
  return GaussianMixture(w, m, v);
}

GaussianMixture GaussianMixture::ring(Index components, double radius, double std) {
  if (components < 1 || !(radius >= 0.0) || !std::isfinite(radius) || !(std > 0.0) || !std::isfinite(std))
    throw ConfigError("ring mixture: components = " + std::to_string(components) + ", radius = " +
                      std::to_string(radius) + ", std = " + std::to_string(std) +
                      " are not allowed (need components >= 1, a finite radius >= 0 and a finite std > 0)");
  Matrix means(components, 2);
  for (Index k = 0; k < components; ++k) {
    const double angle = 2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(components);
    means(k, 0) = radius * std::cos(angle);
    means(k, 1) = radius * std::sin(angle);
  }
  return GaussianMixture(Vector::Constant(components, 1.0 / static_cast<double>(components)), means,
                         Matrix::Constant(components, 2, std * std));
}

GaussianMixture GaussianMixture::empirical(const Matrix& data) {
  if (data.rows() == 0) throw ConfigError("an empirical mixture needs at least one point");
  Vector w = Vector::Constant(data.rows(), 1.0 / static_cast<double>(data.rows()));
  // Guard the sum-to-one check against rounding for large n.
  w /= w.sum();
  GaussianMixture g(Vector::Constant(1, 1.0), data.topRows(1), Matrix::Zero(1, data.cols()));
  g.weights_ = w;
  g.means_ = data;
  g.variances_ = Matrix::Zero(data.rows(), data.cols());
  return g;
}

SquareMatrix GaussianMixture::covariance(Index k) const {
  if (diagonal_) return variances_.row(k).transpose().asDiagonal();
  return covariances_[k];
}

Vector GaussianMixture::mean() const {
  return (weights_.transpose() * means_).transpose();
}

SquareMatrix GaussianMixture::covariance() const {
  const Vector m = mean();
  SquareMatrix C = SquareMatrix::Zero(dim(), dim());
  for (Index k = 0; k < components(); ++k) {
    const Vector dm = means_.row(k).transpose() - m;
    C += weights_[k] * (covariance(k) + dm * dm.transpose());
  }
  return C;
}

Matrix GaussianMixture::sample(Index n, Rng& rng) const {
  const Index d = dim();
  Matrix X(n, d);
  // Cumulative weights for component choice; Cholesky factors for full covariances.
  std::vector<double> cum(components());
  double acc = 0.0;
  for (Index k = 0; k < components(); ++k) cum[k] = (acc += weights_[k]);
  std::vector<SquareMatrix> chol;
  if (!diagonal_)
    for (const auto& C : covariances_) {
      // A PSD square root that tolerates singular covariances.
      Eigen::SelfAdjointEigenSolver<SquareMatrix> es(C);
      chol.push_back(es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal());
    }
  Vector z(d);
  for (Index i = 0; i < n; ++i) {
    const double u = rng.uniform() * acc;
    Index k = 0;
    while (k + 1 < components() && u >= cum[k]) ++k;
    for (Index j = 0; j < d; ++j) z[j] = rng.normal();
    if (diagonal_)
      X.row(i) = means_.row(k) + (variances_.row(k).array().sqrt() * z.transpose().array()).matrix();
    else
      X.row(i) = means_.row(k) + (chol[k] * z).transpose();
  }
  return X;
}

void GaussianMixture::check_input(const Matrix& X) const {
  if (X.cols() != dim())
    throw ConfigError("points have " + std::to_string(X.cols()) + " columns, the mixture has dimension " +
                      std::to_string(dim()));
}

void GaussianMixture::evaluate(const Matrix& X, double a, double s, Eval& out, bool want_score,
                               bool want_divergence) const {
  check_input(X);
  const Index n = X.rows(), d = dim(), K = components();
  const double s2 = s * s;
  ComponentsAt c;  // the components at this time
  c.m = a * means_;
  if (diagonal_)
    diagonal_components(weights_, variances_, a, s2, d, c);
  else
    full_components(weights_, covariances_, a, s2, d, c);
  const bool want_grad = want_score || want_divergence;
  out.log_density.resize(n);
  out.resp.resize(n, K);
  if (want_grad) out.score = Matrix::Zero(n, d);
  if (want_divergence) out.divergence.resize(n);
  Vector logc(K);
  Vector r(d), g(d);
  for (Index i = 0; i < n; ++i) {
    // log w_k N(x; a μ_k, C_k(t)) for every component, then log-sum-exp.
    component_log_densities(X, i, c, diagonal_, r, logc);
    const double mx = logc.maxCoeff();
    double sum = 0.0;
    for (Index k = 0; k < K; ++k) sum += (out.resp(i, k) = std::exp(logc[k] - mx));
    out.resp.row(i) /= sum;
    out.log_density[i] = mx + std::log(sum);
    if (!want_grad) continue;
    const double second = add_score(X, i, c, diagonal_, out.resp, want_divergence, r, g, out.score);
    if (want_divergence) out.divergence[i] = second - out.score.row(i).squaredNorm();
  }
}

Vector GaussianMixture::log_density(const Matrix& X, double a, double s) const {
  Eval e;
  evaluate(X, a, s, e, false, false);
  return e.log_density;
}

Matrix GaussianMixture::score(const Matrix& X, double a, double s) const {
  Eval e;
  evaluate(X, a, s, e, true, false);
  return e.score;
}

Vector GaussianMixture::score_divergence(const Matrix& X, double a, double s) const {
  Eval e;
  evaluate(X, a, s, e, true, true);
  return e.divergence;
}

Matrix GaussianMixture::responsibilities(const Matrix& X, double a, double s) const {
  Eval e;
  evaluate(X, a, s, e, false, false);
  return e.resp;
}

}  // namespace diffgen
