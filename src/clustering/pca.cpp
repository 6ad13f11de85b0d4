#include "clustering/pca.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "clustering/data_matrix.hpp"
#include "core/error.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

// Rows per partial covariance: fixed, so the split and the order of the sums
// never depend on the thread count; large enough that a chunk's rank update
// (rows·d² flops) outweighs adding its d x d partial to the total.
constexpr Index kRowChunk = 2048;
// Partial covariances held at once (kGroup d² doubles, 39 MB at d = 784).
constexpr Index kGroup = 8;

// The sample covariance (divisor n − 1): each chunk of rows, centred, adds
// its Gram matrix (the lower triangle, by a rank update); the chunks of a
// group run in parallel and are added to the total in chunk order.
SquareMatrix covariance(const Matrix& data, const RowVector& mean) {
  const Index n = data.rows(), d = data.cols();
  const Index chunks = (n + kRowChunk - 1) / kRowChunk;
  SquareMatrix total = SquareMatrix::Zero(d, d);
  std::vector<SquareMatrix> partial(static_cast<std::size_t>(std::min(kGroup, chunks)));
  for (Index first = 0; first < chunks; first += kGroup) {
    const Index group = std::min(kGroup, chunks - first);
    parallel_for(group, 1, [&](Index b, Index e) {
      for (Index g = b; g < e; ++g) {
        const Index row = (first + g) * kRowChunk;
        const Matrix centred = data.middleRows(row, std::min(kRowChunk, n - row)).rowwise() - mean;
        SquareMatrix& p = partial[static_cast<std::size_t>(g)];
        p.setZero(d, d);
        p.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
      }
    });
    for (Index g = 0; g < group; ++g) total += partial[static_cast<std::size_t>(g)];
  }
  total /= static_cast<double>(n - 1);
  return total.selfadjointView<Eigen::Lower>();
}

// Flips v so that its entry of largest magnitude (the first on a tie) is positive.
void fix_sign(Eigen::Ref<RowVector> v) {
  Index largest = 0;
  for (Index j = 1; j < v.size(); ++j)
    if (std::abs(v[j]) > std::abs(v[largest])) largest = j;
  if (v[largest] < 0.0) v = -v;
}

}  // namespace

Pca::Pca(const Matrix& data, Index components) {
  const Index n = data.rows(), d = data.cols();
  if (n < 2 || d < 1)
    throw DataError(fmt::format("PCA: the data have {} point{} in dimension {}, needs at least 2 points and d >= 1", n,
                                n == 1 ? "" : "s", d));
  if (components < 1 || components > d)
    throw ConfigError(fmt::format("PCA: components = {} must be between 1 and the data's dimension {}", components, d));
  require_finite_points(data, "PCA");
  mean_ = chunked_column_means(data, kRowChunk);
  const SquareMatrix cov = covariance(data, mean_);
  total_variance_ = cov.trace();
  // Eigenvalues come in increasing order: the last `components` are wanted, largest first.
  const Eigen::SelfAdjointEigenSolver<SquareMatrix> eigen(cov);
  if (eigen.info() != Eigen::Success) throw NumericalError("PCA: the covariance's eigendecomposition did not converge");
  components_.resize(components, d);
  variance_.resize(components);
  for (Index k = 0; k < components; ++k) {
    const Index col = d - 1 - k;
    variance_[k] = std::max(0.0, eigen.eigenvalues()[col]);  // roundoff can make a zero variance negative
    components_.row(k) = eigen.eigenvectors().col(col).transpose();
    fix_sign(components_.row(k));
  }
}

Vector Pca::explained_variance_ratio() const {
  if (!(total_variance_ > 0.0)) return Vector::Zero(variance_.size());
  return variance_ / total_variance_;
}

Matrix Pca::transform(const Matrix& points) const {
  if (points.cols() != dim())
    throw std::invalid_argument(
        fmt::format("PCA transform: points of dimension {}, the fit has dimension {}", points.cols(), dim()));
  // By chunks of rows on all cores: no n x d temporary, and the same chunks for any thread count.
  Matrix scores(points.rows(), n_components());
  parallel_for(points.rows(), kRowChunk, [&](Index b, Index e) {
    scores.middleRows(b, e - b).noalias() = (points.middleRows(b, e - b).rowwise() - mean_) * components_.transpose();
  });
  return scores;
}

Matrix Pca::inverse_transform(const Matrix& scores) const {
  if (scores.cols() != n_components())
    throw std::invalid_argument(fmt::format("PCA inverse_transform: scores with {} columns, the fit has {} components",
                                            scores.cols(), n_components()));
  return (scores * components_).rowwise() + mean_;
}

}  // namespace diffgen
