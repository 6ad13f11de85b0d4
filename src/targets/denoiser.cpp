#include "targets/denoiser.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"

namespace diffgen {

void ConditionalMeanEstimator::mean_and_covariance(const Matrix&, double, Matrix&, Matrix&) const {
  throw std::logic_error("estimator '" + name() + "' has no covariance");
}

Matrix ConditionalMeanEstimator::mean(const Matrix& Y, double t) const {
  Matrix out;
  mean(Y, t, out);
  return out;
}

MixtureDenoiser::MixtureDenoiser(std::shared_ptr<const GaussianMixture> target) : target_(std::move(target)) {
  if (!target_) throw std::invalid_argument("MixtureDenoiser needs a target");
}

void MixtureDenoiser::mean(const Matrix& Y, double t, Matrix& mean) const {
  evaluate(Y, t, mean, nullptr, nullptr);
}

void MixtureDenoiser::mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const {
  evaluate(Y, t, mean, nullptr, &cov);
}

Vector MixtureDenoiser::posterior_trace(const Matrix& Y, double t) const {
  Matrix mean;
  Vector trace;
  evaluate(Y, t, mean, &trace, nullptr);
  return trace;
}

void MixtureDenoiser::evaluate(const Matrix& Y, double t, Matrix& mean, Vector* trace, Matrix* cov) const {
  const GaussianMixture& g = *target_;
  const Index n = Y.rows(), d = g.dim(), K = g.components();
  if (Y.cols() != d)
    throw ConfigError("points have " + std::to_string(Y.cols()) + " columns, the target has dimension " +
                      std::to_string(d));
  if (!(t >= 0.0) || !std::isfinite(t))
    throw ConfigError("conditional mean at t = " + std::to_string(t) + " (need a finite t >= 0)");

  if ((d == 1 || g.diagonal()) && t > 0.0) {
    evaluate_diagonal(Y, t, mean, trace, cov);
    return;
  }

  // Per component: S_k = C_k (I + t C_k)^{-1} and b_k = (I + t C_k)^{-1} μ_k,
  // so m_k(y) = b_k + S_k y (S_k is symmetric: C_k and (I + t C_k)^{-1} commute).
  std::vector<SquareMatrix> S(K);
  Matrix b(K, d);
  Vector trace_s(K);
  for (Index k = 0; k < K; ++k) {
    const SquareMatrix C = g.covariance(k);
    SquareMatrix A = t * C;
    A.diagonal().array() += 1.0;
    Eigen::LLT<SquareMatrix> llt(A);  // I + t C_k is positive definite for C_k >= 0
    S[k] = llt.solve(C);
    S[k] = 0.5 * (S[k] + S[k].transpose());
    b.row(k) = llt.solve(g.means().row(k).transpose()).transpose();
    trace_s[k] = S[k].trace();
  }
  // r_k(y): at t > 0 the law of Y_t given k is N(t μ_k, t² C_k + t I), which
  // is the mixture at (a, s) = (t, √t); Y_0 = 0 says nothing.
  const Matrix r = t > 0.0 ? g.responsibilities(Y, t, std::sqrt(t)) : Matrix(g.weights().transpose().replicate(n, 1));

  mean = Matrix::Zero(n, d);
  std::vector<Matrix> m(K);
  for (Index k = 0; k < K; ++k) {
    m[k] = Y * S[k];  // row i: (S_k y_i)ᵀ, S_k symmetric
    m[k].rowwise() += b.row(k);
    mean += r.col(k).asDiagonal() * m[k];
  }
  if (trace) {
    trace->setZero(n);
    for (Index k = 0; k < K; ++k)
      *trace += r.col(k).cwiseProduct(Vector::Constant(n, trace_s[k]) + (m[k] - mean).rowwise().squaredNorm());
  }
  if (cov) {
    cov->setZero(n, d * d);
    for (Index i = 0; i < n; ++i) {
      Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> Ci(cov->row(i).data(), d, d);
      for (Index k = 0; k < K; ++k) {
        const double rk = r(i, k);
        if (rk == 0.0) continue;
        const RowVector dm = m[k].row(i) - mean.row(i);
        Ci.noalias() += rk * (S[k] + dm.transpose() * dm);
      }
    }
  }
}

void MixtureDenoiser::evaluate_diagonal(const Matrix& Y, double t, Matrix& mean, Vector* trace, Matrix* cov) const {
  // The same formulas point by point for diagonal C_k, where every matrix is
  // a diagonal: O(K d) per point for the mean and trace (O(K d²) for the
  // covariance), with the log-sum-exp over components inline. Raw loops:
  // this is the hot path of the exact output density and of the Monte Carlo
  // path KL.
  const GaussianMixture& g = *target_;
  const Index n = Y.rows(), d = g.dim(), K = g.components();
  // Per component and coordinate (row-major K x d): 1 / Var(Y_t | k), t μ_k, S_k, b_k.
  std::vector<double> inv_v(K * d), center(K * d), s(K * d), b(K * d), m(K * d), log_c(K), trace_s(K, 0.0), r(K);
  for (Index k = 0; k < K; ++k) {
    const Vector C = g.covariance(k).diagonal();
    log_c[k] = std::log(g.weights()[k]);
    for (Index j = 0; j < d; ++j) {
      const double v = t * t * C[j] + t;
      inv_v[k * d + j] = 1.0 / v;
      center[k * d + j] = t * g.means()(k, j);
      s[k * d + j] = C[j] / (1.0 + t * C[j]);
      b[k * d + j] = g.means()(k, j) / (1.0 + t * C[j]);
      log_c[k] -= 0.5 * std::log(v);
      trace_s[k] += s[k * d + j];
    }
  }
  mean.resize(n, d);
  if (trace) trace->resize(n);
  if (cov) cov->setZero(n, d * d);
  for (Index i = 0; i < n; ++i) {
    const double* y = Y.data() + i * d;  // row-major: row i is contiguous
    double* f = mean.data() + i * d;
    double mx = -std::numeric_limits<double>::infinity();
    for (Index k = 0; k < K; ++k) {
      double q = 0.0;
      for (Index j = 0; j < d; ++j) {
        const double a = y[j] - center[k * d + j];
        q += a * a * inv_v[k * d + j];
      }
      r[k] = log_c[k] - 0.5 * q;
      mx = std::max(mx, r[k]);
    }
    double sum = 0.0;
    for (Index k = 0; k < K; ++k) sum += (r[k] = std::exp(r[k] - mx));
    for (Index k = 0; k < K; ++k) r[k] /= sum;
    for (Index j = 0; j < d; ++j) f[j] = 0.0;
    for (Index k = 0; k < K; ++k)
      for (Index j = 0; j < d; ++j) {
        m[k * d + j] = b[k * d + j] + s[k * d + j] * y[j];
        f[j] += r[k] * m[k * d + j];
      }
    if (!trace && !cov) continue;
    // m_k - E[X | y], in place.
    for (Index k = 0; k < K; ++k)
      for (Index j = 0; j < d; ++j) m[k * d + j] -= f[j];
    if (trace) {
      double tr = 0.0;
      for (Index k = 0; k < K; ++k) {
        double dm2 = 0.0;
        for (Index j = 0; j < d; ++j) dm2 += m[k * d + j] * m[k * d + j];
        tr += r[k] * (trace_s[k] + dm2);
      }
      (*trace)[i] = tr;
    }
    if (cov) {
      double* c = cov->data() + i * d * d;
      for (Index k = 0; k < K; ++k) {
        if (r[k] == 0.0) continue;
        const double* dm = m.data() + k * d;
        for (Index j = 0; j < d; ++j) {
          const double rj = r[k] * dm[j];
          for (Index l = 0; l < d; ++l) c[j * d + l] += rj * dm[l];
          c[j * d + j] += r[k] * s[k * d + j];
        }
      }
    }
  }
}

PerturbedEstimator::PerturbedEstimator(std::shared_ptr<const ConditionalMeanEstimator> base, double eps, Vector u)
    : base_(std::move(base)), eps_(eps), u_(std::move(u)) {
  if (!base_) throw std::invalid_argument("PerturbedEstimator needs a base estimator");
  if (!std::isfinite(eps_)) throw ConfigError("perturbation eps must be finite");
  if (u_.size() == 0) u_ = Vector::Constant(base_->dim(), 1.0);
  if (u_.size() != base_->dim() || !(u_.norm() > 0.0) || !u_.allFinite())
    throw ConfigError("perturbation direction must be a finite non-zero vector of the estimator's dimension");
  u_ /= u_.norm();
}

void PerturbedEstimator::mean(const Matrix& Y, double t, Matrix& mean) const {
  base_->mean(Y, t, mean);
  mean.rowwise() += eps_ * u_.transpose();
}

void PerturbedEstimator::mean_and_covariance(const Matrix& Y, double t, Matrix& mean, Matrix& cov) const {
  base_->mean_and_covariance(Y, t, mean, cov);
  mean.rowwise() += eps_ * u_.transpose();
}

}  // namespace diffgen
