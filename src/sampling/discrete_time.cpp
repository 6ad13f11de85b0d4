#include "sampling/discrete_time.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "sampling/time_grid.hpp"

namespace diffgen {
namespace {

// Rows per parallel chunk of estimator evaluations (fixed: bit-identical
// results for any thread count).
constexpr Index kChunk = 1024;

std::string fmt_time(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", t);
  return buf;
}

// f_t(Y) (and Σ_t(Y) when cov is non-null), in fixed chunks on all threads.
void estimate_rows(const ConditionalMeanEstimator& f, const Matrix& Y, double t, Matrix& mean, Matrix* cov) {
  const Index n = Y.rows(), d = Y.cols();
  mean.resize(n, d);
  if (cov) cov->resize(n, d * d);
  parallel_for(n, kChunk, [&](Index b, Index e) {
    const Matrix chunk = Y.middleRows(b, e - b);
    Matrix m, c;
    if (cov) {
      f.mean_and_covariance(chunk, t, m, c);
      cov->middleRows(b, e - b) = c;
    } else {
      f.mean(chunk, t, m);
    }
    mean.middleRows(b, e - b) = m;
  });
}

void check_inputs(const ConditionalMeanEstimator& f, const Matrix& y, const Vector& grid, const char* sampler) {
  if (auto err = validate_discrete_time_grid(grid); !err.empty()) throw ConfigError(std::string(sampler) + ": " + err);
  if (y.cols() != f.dim())
    throw ConfigError(std::string(sampler) + ": initial points have " + std::to_string(y.cols()) +
                      " columns, the estimator has dimension " + std::to_string(f.dim()));
}

void check_finite(const Matrix& y, double t, const char* sampler) {
  if (!y.allFinite()) throw NumericalError(std::string(sampler) + ": non-finite samples at t = " + fmt_time(t));
}

// B with B Bᵀ = Σ⁺ (Σ with its negative eigenvalues set to 0), symmetric.
SquareMatrix psd_sqrt(const Eigen::Ref<const SquareMatrix>& sigma) {
  Eigen::SelfAdjointEigenSolver<SquareMatrix> es(sigma);
  return es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() * es.eigenvectors().transpose();
}

Matrix run_discrete_time(const ConditionalMeanEstimator& f, Matrix y, const Vector& grid, Rng& rng,
                         const StepCallback& callback, bool covariance, const char* name) {
  check_inputs(f, y, grid, name);
  if (covariance && !f.has_covariance())
    throw ConfigError(std::string(name) + ": estimator '" + f.name() + "' has no covariance");
  const Index n = y.rows(), d = y.cols(), steps = grid.size() - 1;
  Matrix mean, cov, z(n, d), z2(n, d);
  for (Index k = 0; k < steps; ++k) {
    const double t = grid[k], delta = grid[k + 1] - t;
    estimate_rows(f, y, t, mean, covariance ? &cov : nullptr);
    rng.fill_normal(z);
    // The comparison process's increment δ X + √δ Z with X replaced by its estimate.
    y.noalias() += delta * mean + std::sqrt(delta) * z;
    if (covariance) {
      // δ Σ^{1/2} Z': the spread of δ X around δ E[X | Y_k].
      rng.fill_normal(z2);
      if (d == 1) {
        y.col(0).array() += delta * cov.col(0).array().cwiseMax(0.0).sqrt() * z2.col(0).array();
      } else {
        parallel_for(n, kChunk, [&](Index b, Index e) {
          Eigen::LLT<SquareMatrix> llt(d);
          for (Index i = b; i < e; ++i) {
            // Any B with B Bᵀ = Σ gives δ B Z' the law N(0, δ² Σ): the Cholesky
            // factor when Σ is positive definite, else the clipped symmetric root.
            const SquareMatrix S = Eigen::Map<const Matrix>(cov.row(i).data(), d, d);
            llt.compute(S);
            if (llt.info() == Eigen::Success)
              y.row(i).noalias() += delta * (llt.matrixL() * z2.row(i).transpose()).transpose();
            else
              y.row(i).noalias() += delta * (psd_sqrt(S) * z2.row(i).transpose()).transpose();
          }
        });
      }
    }
    check_finite(y, grid[k + 1], name);
    if (callback) callback(k + 1, grid[k + 1], y);
  }
  return y;
}

}  // namespace

std::string_view step_rule_name(StepRule rule) {
  return rule == StepRule::MeanOnly ? "mean" : "covariance";
}

StepRule step_rule_by_name(std::string_view name, std::string_view key) {
  if (name == "mean") return StepRule::MeanOnly;
  if (name == "covariance") return StepRule::CovarianceMatched;
  throw ConfigError(std::string(key) + " = '" + std::string(name) + "' is not allowed (allowed: mean, covariance)");
}

Matrix sample_discrete_time(const ConditionalMeanEstimator& f, Matrix y, const Vector& grid, Rng& rng,
                            const StepCallback& callback) {
  return run_discrete_time(f, std::move(y), grid, rng, callback, false, "discrete-time");
}

Matrix sample_discrete_time_covariance(const ConditionalMeanEstimator& f, Matrix y, const Vector& grid, Rng& rng,
                                       const StepCallback& callback) {
  return run_discrete_time(f, std::move(y), grid, rng, callback, true, "discrete-time covariance-matched");
}

DiscreteTimeSampler discrete_time_sampler(StepRule rule) {
  if (rule == StepRule::MeanOnly) return sample_discrete_time;
  return sample_discrete_time_covariance;
}

Vector discrete_time_uniform_grid(double t_max, Index n) {
  if (!(t_max > 0.0) || !std::isfinite(t_max))
    throw ConfigError("t_max = " + fmt_time(t_max) + " is not allowed (need a finite t_max > 0)");
  if (n < 1) throw ConfigError("steps = " + std::to_string(n) + " is not allowed (need >= 1)");
  Vector t(n + 1);
  for (Index k = 0; k <= n; ++k) t[k] = t_max * (static_cast<double>(k) / static_cast<double>(n));
  return t;
}

Vector discrete_time_geometric_grid(double t_max, double t_min, Index n) {
  if (!(t_max > 0.0) || !std::isfinite(t_max) || !(t_min > 0.0) || !(t_min < t_max))
    throw ConfigError("t_min = " + fmt_time(t_min) + ", t_max = " + fmt_time(t_max) +
                      " is not allowed (need 0 < t_min < t_max, finite)");
  if (n < 1) throw ConfigError("steps = " + std::to_string(n) + " is not allowed (need >= 1)");
  const double L = std::log(t_max / t_min);
  Vector t(n + 1);
  t[0] = 0.0;
  // (n - k) / n is exact for n a power of two, so halving n keeps every other point bit for bit.
  for (Index k = 1; k <= n; ++k) t[k] = t_max * std::exp(-L * (static_cast<double>(n - k) / static_cast<double>(n)));
  t[n] = t_max;
  return t;
}

std::string validate_discrete_time_grid(const Vector& grid) {
  if (grid.size() < 2) return "time grid has " + std::to_string(grid.size()) + " times (need >= 2)";
  if (!grid.allFinite()) return "time grid has non-finite times";
  if (grid[0] < 0.0) return "time grid starts below 0 (t = " + fmt_time(grid[0]) + ")";
  for (Index k = 0; k + 1 < grid.size(); ++k)
    if (!(grid[k + 1] > grid[k]))
      return "time grid is not strictly increasing at index " + std::to_string(k + 1) +
             " (t = " + fmt_time(grid[k + 1]) + " after " + fmt_time(grid[k]) + ")";
  return {};
}

Matrix sample_ancestral(const ScoreModel& model, const Sde& sde, Matrix x, const Vector& time_grid, Rng& rng,
                        const StepCallback& callback) {
  constexpr const char* kName = "ancestral";
  if (auto err = validate_time_grid(time_grid); !err.empty()) throw ConfigError(std::string(kName) + ": " + err);
  if (time_grid[0] > sde.T() * (1.0 + 1e-12))
    throw ConfigError(std::string(kName) + ": time grid starts at " + fmt_time(time_grid[0]) +
                      " beyond the SDE's T = " + fmt_time(sde.T()));
  if (x.cols() != model.dim())
    throw ConfigError(std::string(kName) + ": initial points have " + std::to_string(x.cols()) +
                      " columns, the model has dimension " + std::to_string(model.dim()));
  const Index steps = time_grid.size() - 1;
  Matrix S(x.rows(), x.cols()), z(x.rows(), x.cols());
  for (Index k = 0; k < steps; ++k) {
    const double tau = time_grid[k], tau_next = time_grid[k + 1];
    const double a = sde.a(tau), s2 = sde.s2(tau), a_next = sde.a(tau_next), s2_next = sde.s2(tau_next);
    // The forward transition x_τ | x_τ' ~ N(ā x_τ', σ̄² I).
    const double a_bar = a / a_next, var_bar = s2 - a_bar * a_bar * s2_next;
    parallel_for(x.rows(), kChunk, [&](Index b, Index e) {
      Matrix s;
      model.score(x.middleRows(b, e - b), Vector::Constant(e - b, tau), s);
      S.middleRows(b, e - b) = s;
    });
    // Tweedie's x̂_0, then the Gaussian posterior q(x_τ' | x_τ, x̂_0).
    const Matrix x0 = (x + s2 * S) / a;
    x = (a_bar * s2_next / s2) * x + (a_next * var_bar / s2) * x0;
    rng.fill_normal(z);
    x.noalias() += std::sqrt(std::max(0.0, var_bar * s2_next / s2)) * z;
    check_finite(x, tau_next, kName);
    if (callback) callback(k + 1, tau_next, x);
  }
  return x;
}

}  // namespace diffgen
