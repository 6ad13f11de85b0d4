// The nearest and the farthest pair of clusters by the Euclidean distance
// between their centres. Li et al. (NeurIPS 2023, §4.2) train one diffusion
// model on the two MNIST clusters whose centres are closest and one on the
// two farthest apart; cluster ids differ between runs of k-means, so the
// pairs are found by argmin/argmax here, never named by id.
//
// Centres in PCA coordinates and their images in data space (Pca::
// inverse_transform, as the authors compare them) are the same distances
// apart: the components are orthonormal rows. Clusters may be restricted to
// those with at least a given number of members, so that both models of a
// comparison can be trained on equally many points.
#pragma once

#include <vector>

#include "core/types.hpp"

namespace diffgen {

// Two distinct clusters, first < second, and the distance between their centres.
struct ClusterPair {
  Index first = 0;
  Index second = 0;
  double distance = 0.0;
};

struct ExtremePairs {
  ClusterPair nearest;
  ClusterPair farthest;
};

// The k x k matrix of Euclidean distances between the rows of `centres`.
SquareMatrix centre_distances(const Matrix& centres);

// The nearest and the farthest pair among the clusters (rows of `centres`)
// with at least `min_size` members; `sizes` (one per cluster) is needed only
// when min_size > 0. Ties go to the lexicographically lowest (first, second).
// Throws std::invalid_argument when sizes has the wrong length or is missing
// for min_size > 0, NumericalError for a non-finite centre, and ConfigError
// naming min_size when fewer than two clusters qualify.
ExtremePairs extreme_pairs(const Matrix& centres, const std::vector<Index>& sizes = {}, Index min_size = 0);

}  // namespace diffgen
