#include "clustering/cluster_pairs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "clustering/pca.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;

// Four centres on a line at 0, 1, 5 and 12: nearest (0, 1) at 1, farthest (0, 3) at 12.
Matrix line_centres() {
  Matrix c = Matrix::Zero(4, 2);
  c.col(0) << 0.0, 1.0, 5.0, 12.0;
  return c;
}

TEST(ClusterPairs, FindsTheNearestAndTheFarthestPair) {
  const ExtremePairs p = extreme_pairs(line_centres());
  EXPECT_EQ(p.nearest.first, 0);
  EXPECT_EQ(p.nearest.second, 1);
  EXPECT_EQ(p.nearest.distance, 1.0);
  EXPECT_EQ(p.farthest.first, 0);
  EXPECT_EQ(p.farthest.second, 3);
  EXPECT_EQ(p.farthest.distance, 12.0);
}

TEST(ClusterPairs, DistancesAreEuclideanAndSymmetric) {
  Matrix c(3, 2);
  c << 0, 0, 3, 4, -5, 12;
  const SquareMatrix d = centre_distances(c);
  EXPECT_EQ(d(0, 1), 5.0);
  EXPECT_EQ(d(2, 0), 13.0);
  EXPECT_NEAR(d(1, 2), std::sqrt(64.0 + 64.0), 1e-14);
  EXPECT_EQ(d, d.transpose());
  EXPECT_EQ(d.diagonal(), Vector::Zero(3));
}

TEST(ClusterPairs, BreaksTiesByTheLowestIndices) {
  // The corners of a unit square: four sides tie for nearest, two diagonals for farthest.
  Matrix c(4, 2);
  c << 1, 1, 0, 0, 1, 0, 0, 1;
  const ExtremePairs p = extreme_pairs(c);
  EXPECT_EQ(p.nearest.first, 0);
  EXPECT_EQ(p.nearest.second, 2);  // (0,1) is a diagonal; (0,2) is the first side
  EXPECT_EQ(p.farthest.first, 0);
  EXPECT_EQ(p.farthest.second, 1);
}

TEST(ClusterPairs, CanKeepOnlyClustersWithEnoughMembers) {
  // Cluster 0 is too small: the nearest pair becomes (1, 2), the farthest (1, 3).
  const ExtremePairs p = extreme_pairs(line_centres(), {5, 40, 60, 30}, 30);
  EXPECT_EQ(p.nearest.first, 1);
  EXPECT_EQ(p.nearest.second, 2);
  EXPECT_EQ(p.nearest.distance, 4.0);
  EXPECT_EQ(p.farthest.first, 1);
  EXPECT_EQ(p.farthest.second, 3);
  EXPECT_EQ(p.farthest.distance, 11.0);
}

TEST(ClusterPairs, PcaCoordinatesAndDataSpaceGiveTheSameDistances) {
  Rng rng(4);
  Matrix x(100, 6);
  rng.fill_normal(x);
  const Pca pca(x, 3);
  const Matrix scores = pca.transform(x.topRows(5));
  const SquareMatrix in_pca = centre_distances(scores);
  const SquareMatrix in_data = centre_distances(pca.inverse_transform(scores));
  EXPECT_TRUE(in_pca.isApprox(in_data, 1e-13));
}

TEST(ClusterPairs, RejectsBadArgumentsWithClearMessages) {
  EXPECT_THROW(extreme_pairs(line_centres(), {1, 2}), std::invalid_argument);
  EXPECT_THROW(extreme_pairs(line_centres(), {}, 3), std::invalid_argument);
  try {
    extreme_pairs(line_centres(), {5, 40, 6, 3}, 10);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("min_size = 10 leaves 1 of the 4 clusters"));
  }
  EXPECT_THROW(extreme_pairs(Matrix::Zero(1, 2)), ConfigError);
  Matrix c = line_centres();
  c(2, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(extreme_pairs(c), NumericalError);
}

}  // namespace
}  // namespace diffgen
