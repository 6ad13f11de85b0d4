#include "sampling/score_denoiser.hpp"

#include <cmath>
#include <stdexcept>

#include "core/error.hpp"

namespace diffgen {
namespace {

double snr(const Sde& sde, double tau) {
  const double a = sde.a(tau);
  return a * a / sde.s2(tau);
}

}  // namespace

ScoreModelDenoiser::ScoreModelDenoiser(std::shared_ptr<const ScoreModel> model, std::shared_ptr<const Sde> sde,
                                       double eps, std::string name)
    : model_(std::move(model)), sde_(std::move(sde)), eps_(eps), name_(std::move(name)) {
  if (!model_ || !sde_) throw std::invalid_argument("ScoreModelDenoiser needs a model and an SDE");
  if (!(eps_ > 0.0) || !(eps_ < sde_->T()))
    throw ConfigError("eps = " + std::to_string(eps_) + " must lie in (0, T = " + std::to_string(sde_->T()) + ")");
  if (name_.empty()) name_ = model_->name();
  t_min_ = snr(*sde_, sde_->T());
  t_max_ = snr(*sde_, eps_);
}

double ScoreModelDenoiser::sde_time(double t) const {
  if (!(t > t_min_)) return sde_->T();
  if (!(t < t_max_)) return eps_;
  // snr(lo) > t > snr(hi); halve until the bracket is one floating-point step.
  double lo = eps_, hi = sde_->T();
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (snr(*sde_, mid) > t ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

void ScoreModelDenoiser::mean(const Matrix& Y, double t, Matrix& mean) const {
  if (Y.cols() != dim())
    throw ConfigError("points have " + std::to_string(Y.cols()) + " columns, the model has dimension " +
                      std::to_string(dim()));
  const double tau = sde_time(t), a = sde_->a(tau), s2 = sde_->s2(tau);
  // x_τ = (s²/a) y, then Tweedie.
  const Matrix x = (s2 / a) * Y;
  model_->score(x, Vector::Constant(Y.rows(), tau), mean);
  mean = (x + s2 * mean) / a;
}

void ScoreModelDenoiser::mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const {
  if (Y.cols() != dim())
    throw ConfigError("points have " + std::to_string(Y.cols()) + " columns, the model has dimension " +
                      std::to_string(dim()));
  const Index n = Y.rows(), d = dim();
  const double tau = sde_time(t), a = sde_->a(tau), s2 = sde_->s2(tau);
  const Vector tv = Vector::Constant(n, tau);
  const Matrix x = (s2 / a) * Y;
  Matrix S;
  cov.resize(n, d * d);
  if (d == 1 && model_->has_exact_divergence()) {
    // In one dimension the divergence is the whole Jacobian of the score.
    Vector div;
    model_->score_and_divergence(x, tv, S, div);
    cov.col(0) = ((s2 / (a * a)) * (1.0 + s2 * div.array())).matrix();
  } else {
    model_->score(x, tv, S);
    // Central differences of the score along each axis, at a step small
    // against the scale s on which p_τ varies.
    const double h = 1e-4 * std::sqrt(s2);
    Matrix xp, xm, Sp, Sm;
    for (Index j = 0; j < d; ++j) {
      xp = x;
      xm = x;
      xp.col(j).array() += h;
      xm.col(j).array() -= h;
      model_->score(xp, tv, Sp);
      model_->score(xm, tv, Sm);
      // Column j of the Jacobian, J(:, j) = ∂s/∂x_j, into cov(i, r·d + j).
      const Matrix dj = (Sp - Sm) / (2.0 * h);
      for (Index r = 0; r < d; ++r) cov.col(r * d + j) = dj.col(r);
    }
    for (Index i = 0; i < n; ++i) {
      Eigen::Map<Matrix> J(cov.row(i).data(), d, d);
      const Matrix Js = 0.5 * (J + J.transpose());
      J = (s2 / (a * a)) * (Matrix::Identity(d, d) + s2 * Js);
    }
  }
  mean = (x + s2 * S) / a;
}

DenoiserScoreModel::DenoiserScoreModel(std::shared_ptr<const ConditionalMeanEstimator> estimator,
                                       std::shared_ptr<const Sde> sde, std::string name)
    : estimator_(std::move(estimator)), sde_(std::move(sde)), name_(std::move(name)) {
  if (!estimator_ || !sde_) throw std::invalid_argument("DenoiserScoreModel needs an estimator and an SDE");
  if (name_.empty()) name_ = estimator_->name() + "-score";
}

template <class F>
void DenoiserScoreModel::for_each_time_run(const Vector& t, F&& f) const {
  Index b = 0;
  while (b < t.size()) {
    Index e = b + 1;
    while (e < t.size() && t[e] == t[b]) ++e;
    f(b, e, t[b]);
    b = e;
  }
}

void DenoiserScoreModel::score(const Matrix& X, const Vector& t, Matrix& out) const {
  if (X.cols() != dim())
    throw ConfigError("points have " + std::to_string(X.cols()) + " columns, the estimator has dimension " +
                      std::to_string(dim()));
  out.resize(X.rows(), X.cols());
  for_each_time_run(t, [&](Index b, Index e, double tau) {
    const double a = sde_->a(tau), s2 = sde_->s2(tau);
    const Matrix x = X.middleRows(b, e - b);
    Matrix f;
    estimator_->mean((a / s2) * x, a * a / s2, f);
    out.middleRows(b, e - b) = (a * f - x) / s2;
  });
}

void DenoiserScoreModel::divergence(const Matrix& X, const Vector& t, Vector& out) const {
  if (!estimator_->has_covariance()) return ScoreModel::divergence(X, t, out);
  const Index d = dim();
  out.resize(X.rows());
  for_each_time_run(t, [&](Index b, Index e, double tau) {
    const double a = sde_->a(tau), s2 = sde_->s2(tau);
    Matrix f, cov;
    estimator_->mean_and_covariance((a / s2) * X.middleRows(b, e - b), a * a / s2, f, cov);
    for (Index i = 0; i < e - b; ++i) {
      double tr = 0.0;
      for (Index j = 0; j < d; ++j) tr += cov(i, j * d + j);
      out[b + i] = (a * a / (s2 * s2)) * tr - static_cast<double>(d) / s2;
    }
  });
}

}  // namespace diffgen
