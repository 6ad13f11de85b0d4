#include "metrics/sample_distances.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

void require_samples(const Matrix& a, const Matrix& b, Index min_rows, const char* what) {
  if (a.rows() < min_rows || b.rows() < min_rows || a.cols() != b.cols() || a.cols() < 1)
    throw ConfigError(fmt::format("{}: needs two samples of at least {} points in one dimension (got {} x {} and "
                                  "{} x {})",
                                  what, min_rows, a.rows(), a.cols(), b.rows(), b.cols()));
}

// Σ_{i,j} ‖a_i − b_j‖ over all pairs (or pairs i ≠ j when a and b are one set).
double sum_of_distances(const Matrix& a, const Matrix& b) {
  Vector per_row(a.rows());
  parallel_for(a.rows(), 64, [&](Index lo, Index hi) {
    for (Index i = lo; i < hi; ++i) per_row[i] = (b.rowwise() - a.row(i)).rowwise().norm().sum();
  });
  return per_row.sum();
}

}  // namespace

Vector kde_log_density(const Matrix& X, const Matrix& Y, double bandwidth) {
  require_samples(X, Y, 1, "KDE");
  if (!(bandwidth > 0.0) || !std::isfinite(bandwidth))
    throw ConfigError(fmt::format("KDE: bandwidth = {} must be finite and > 0", bandwidth));
  const double h2 = bandwidth * bandwidth;
  const double log_norm = -0.5 * static_cast<double>(X.cols()) * std::log(2.0 * std::numbers::pi * h2) -
                          std::log(static_cast<double>(Y.rows()));
  Vector out(X.rows());
  parallel_for(X.rows(), 64, [&](Index lo, Index hi) {
    for (Index i = lo; i < hi; ++i) {
      const Vector c = -0.5 * (Y.rowwise() - X.row(i)).rowwise().squaredNorm().array() / h2;
      const double top = c.maxCoeff();
      out[i] = log_norm + top + std::log((c.array() - top).exp().sum());
    }
  });
  return out;
}

double kde_kl(const Matrix& test, const Matrix& generated, double bandwidth) {
  return kde_log_density(test, test, bandwidth).mean() - kde_log_density(test, generated, bandwidth).mean();
}

double energy_distance(const Matrix& a, const Matrix& b) {
  require_samples(a, b, 2, "energy distance");
  const auto n = static_cast<double>(a.rows()), m = static_cast<double>(b.rows());
  // The diagonal terms of the within-sample sums are 0, so dividing by
  // n (n − 1) gives the U-statistic.
  return 2.0 * sum_of_distances(a, b) / (n * m) - sum_of_distances(a, a) / (n * (n - 1.0)) -
         sum_of_distances(b, b) / (m * (m - 1.0));
}

}  // namespace diffgen
