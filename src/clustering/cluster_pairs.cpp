#include "clustering/cluster_pairs.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "core/error.hpp"

namespace diffgen {

SquareMatrix centre_distances(const Matrix& centres) {
  const Index k = centres.rows();
  SquareMatrix out = SquareMatrix::Zero(k, k);
  for (Index i = 0; i < k; ++i)
    for (Index j = i + 1; j < k; ++j) out(i, j) = out(j, i) = (centres.row(i) - centres.row(j)).norm();
  return out;
}

ExtremePairs extreme_pairs(const Matrix& centres, const std::vector<Index>& sizes, Index min_size) {
  const Index k = centres.rows();
  if (!sizes.empty() && static_cast<Index>(sizes.size()) != k)
    throw std::invalid_argument(fmt::format("extreme_pairs: {} sizes for {} clusters", sizes.size(), k));
  if (min_size > 0 && sizes.empty())
    throw std::invalid_argument(fmt::format("extreme_pairs: min_size = {} needs the cluster sizes", min_size));
  if (!centres.allFinite()) throw NumericalError("extreme_pairs: a cluster centre is not finite");
  std::vector<Index> eligible;
  for (Index i = 0; i < k; ++i)
    if (min_size <= 0 || sizes[static_cast<std::size_t>(i)] >= min_size) eligible.push_back(i);
  if (eligible.size() < 2)
    throw ConfigError(fmt::format("extreme_pairs: min_size = {} leaves {} of the {} clusters, a pair needs two",
                                  min_size, eligible.size(), k));
  const SquareMatrix d = centre_distances(centres);
  ExtremePairs out;
  bool first = true;
  // Pairs in lexicographic order; only a strictly better pair replaces the kept one.
  for (std::size_t a = 0; a < eligible.size(); ++a) {
    for (std::size_t b = a + 1; b < eligible.size(); ++b) {
      const ClusterPair p{eligible[a], eligible[b], d(eligible[a], eligible[b])};
      if (first || p.distance < out.nearest.distance) out.nearest = p;
      if (first || p.distance > out.farthest.distance) out.farthest = p;
      first = false;
    }
  }
  return out;
}

}  // namespace diffgen
