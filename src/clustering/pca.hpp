// Principal component analysis of a data set (rows are points): the mean,
// the top-k principal directions and the variance along each, and the
// projection of points onto them and back. Li et al. (NeurIPS 2023, §4.2)
// cluster MNIST by k-means on PCA-100 features; this is that first step,
// with the conventions of sklearn's PCA where they matter to a reader of
// the paper: variances divided by n − 1, components as rows.
//
// Method: the eigendecomposition of the d x d sample covariance. For the
// data diffgen clusters (d = 784 pixels, n = 70 000 images) forming the
// covariance costs n d² once and its eigendecomposition d³, a few seconds;
// the result is exact up to roundoff and has no random draws, unlike the
// randomized solver sklearn picks for this shape (unseeded in the authors'
// run). The covariance squares the data's condition number, so a direction
// whose variance is below ~1e-16 of the largest is not resolved (its
// variance comes out as roundoff, clamped at 0); for the leading directions
// this does not matter. For d comparable to n or larger a thin SVD of the
// centred data would be the better route; it is not implemented.
//
// Each direction's sign is fixed so that its entry of largest magnitude is
// positive (the first such entry on a tie), so a fit is reproducible. Any
// sign choice leaves the distances between projected points unchanged.
#pragma once

#include "core/types.hpp"

namespace diffgen {

class Pca {
 public:
  // Fits `components` directions (1 <= components <= d) to `data` (n >= 2
  // rows, d >= 1 columns). Throws ConfigError for a number of components out
  // of range, DataError for fewer than two points and NumericalError naming
  // the row and column of a NaN or infinite value. The covariance is formed
  // on all cores, bit-identically for any thread count.
  Pca(const Matrix& data, Index components);

  Index dim() const { return mean_.size(); }
  Index n_components() const { return components_.rows(); }
  // The column means of the data (1 x d).
  const RowVector& mean() const { return mean_; }
  // The principal directions as orthonormal rows (k x d), by decreasing variance.
  const Matrix& components() const { return components_; }
  // The variance of the data along each direction (sklearn's
  // explained_variance_: eigenvalues of the covariance with divisor n − 1).
  const Vector& explained_variance() const { return variance_; }
  // The total variance: the trace of the covariance, the sum over all d directions.
  double total_variance() const { return total_variance_; }
  // explained_variance() / total_variance() (all zero for constant data).
  Vector explained_variance_ratio() const;

  // Coordinates of `points` (m x d) along the directions: (points − mean) Vᵀ, m x k.
  Matrix transform(const Matrix& points) const;
  // Points (m x d) with coordinates `scores` (m x k): scores V + mean. With
  // all d components, inverse_transform(transform(x)) = x up to roundoff.
  Matrix inverse_transform(const Matrix& scores) const;

 private:
  RowVector mean_;
  Matrix components_;
  Vector variance_;
  double total_variance_ = 0.0;
};

}  // namespace diffgen
