#include "clustering/kmeans.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;

// `per_blob` points around each of `centres`' rows, N(centre, sd² I), point i
// in blob i mod k so that the blobs are interleaved.
Matrix blobs(const Matrix& centres, Index per_blob, double sd, std::uint64_t seed) {
  const Index k = centres.rows();
  Rng rng(seed);
  Matrix x(k * per_blob, centres.cols());
  rng.fill_normal(x);
  x *= sd;
  for (Index i = 0; i < x.rows(); ++i) x.row(i) += centres.row(i % k);
  return x;
}

Matrix random_points(Index n, Index d, std::uint64_t seed) {
  Rng rng(seed);
  Matrix x(n, d);
  rng.fill_normal(x);
  return x;
}

Matrix column(std::initializer_list<double> values) {
  Matrix x(static_cast<Index>(values.size()), 1);
  Index i = 0;
  for (double v : values) x(i++, 0) = v;
  return x;
}

TEST(KMeans, RecoversWellSeparatedBlobsExactly) {
  Matrix truth(4, 3);
  truth << 0, 0, 0, 20, 0, 0, 0, 20, 0, 0, 0, 20;
  const Matrix x = blobs(truth, 50, 1.0, 21);
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const KMeansResult r = kmeans(x, {.clusters = 4, .n_init = 3, .seed = seed});
    // Each blob is one cluster, and no two blobs share one.
    std::set<Index> used;
    for (Index blob = 0; blob < 4; ++blob) {
      const Index label = r.labels[static_cast<std::size_t>(blob)];
      for (Index i = blob; i < x.rows(); i += 4) ASSERT_EQ(r.labels[static_cast<std::size_t>(i)], label) << seed;
      used.insert(label);
      RowVector mean = RowVector::Zero(3);
      for (Index i = blob; i < x.rows(); i += 4) mean += x.row(i);
      mean /= 50.0;
      EXPECT_TRUE(r.centres.row(label).isApprox(mean, 1e-12)) << seed;
      EXPECT_EQ(r.sizes[static_cast<std::size_t>(label)], 50);
    }
    EXPECT_EQ(used.size(), 4u);
    EXPECT_TRUE(r.converged);
  }
}

TEST(KMeans, InertiaNeverIncreasesAcrossLloydIterations) {
  const Matrix x = random_points(2000, 5, 4);
  Rng rng(8);
  const KMeansResult r = lloyd(x, kmeans_plus_plus(x, 12, 0, rng), 300, 0.0);
  ASSERT_GT(r.inertia_trace.size(), 5u);  // enough iterations for the test to mean something
  for (std::size_t i = 1; i < r.inertia_trace.size(); ++i)
    EXPECT_LE(r.inertia_trace[i], r.inertia_trace[i - 1] * (1.0 + tolerance::kRoundoff)) << i;
  EXPECT_LT(r.inertia_trace.back(), 0.9 * r.inertia_trace.front());
  EXPECT_EQ(r.inertia, r.inertia_trace.back());
}

TEST(KMeans, EndsAtAFixedPointOfLloydsMap) {
  const Matrix x = random_points(1500, 4, 6);
  const KMeansResult r = kmeans(x, {.clusters = 7, .tol = 0.0, .seed = 3});
  ASSERT_TRUE(r.converged);
  // Brute force: every label is the nearest centre, every centre its points' mean,
  // and the inertia is the sum of the squared distances.
  Matrix sums = Matrix::Zero(7, 4);
  double inertia = 0.0;
  for (Index i = 0; i < x.rows(); ++i) {
    const Index l = r.labels[static_cast<std::size_t>(i)];
    const double own = (x.row(i) - r.centres.row(l)).squaredNorm();
    for (Index j = 0; j < 7; ++j) EXPECT_LE(own, (x.row(i) - r.centres.row(j)).squaredNorm() + 1e-12) << i;
    sums.row(l) += x.row(i);
    inertia += own;
  }
  for (Index j = 0; j < 7; ++j)
    EXPECT_TRUE(r.centres.row(j).isApprox(sums.row(j) / r.sizes[static_cast<std::size_t>(j)], 1e-12)) << j;
  EXPECT_NEAR(r.inertia, inertia, tolerance::kRoundoff * inertia);
}

TEST(KMeans, ASeedGivesTheSameResultTwiceAndAnotherSeedOtherSeeds) {
  const Matrix x = random_points(800, 3, 2);
  const KMeansOptions options{.clusters = 9, .n_init = 2, .seed = 17};
  const KMeansResult a = kmeans(x, options), b = kmeans(x, options);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.centres, b.centres);
  EXPECT_EQ(a.inertia, b.inertia);
  EXPECT_EQ(a.iterations, b.iterations);
  Rng r1 = Rng::stream(17, {kKMeansStream, 0}), r2 = Rng::stream(18, {kKMeansStream, 0});
  EXPECT_NE(kmeans_plus_plus(x, 9, 0, r1), kmeans_plus_plus(x, 9, 0, r2));
}

TEST(KMeans, IsBitIdenticalForAnyThreadCount) {
  const Matrix x = random_points(3000, 6, 12);  // several point chunks
  const KMeansOptions options{.clusters = 10, .n_init = 2, .seed = 5};
  const int before = num_threads();
  set_num_threads(1);
  const KMeansResult one = kmeans(x, options);
  set_num_threads(2);
  const KMeansResult two = kmeans(x, options);
  set_num_threads(5);
  const KMeansResult five = kmeans(x, options);
  set_num_threads(before);
  for (const KMeansResult* other : {&two, &five}) {
    EXPECT_EQ(one.labels, other->labels);
    EXPECT_EQ(one.centres, other->centres);
    EXPECT_EQ(one.inertia, other->inertia);
    EXPECT_EQ(one.inertia_trace, other->inertia_trace);
  }
}

TEST(KMeans, OneClusterIsTheMean) {
  Matrix x = random_points(300, 4, 9);
  x.array() += 3.0;
  const KMeansResult r = kmeans(x, {.clusters = 1});
  const RowVector mean = x.colwise().mean();
  EXPECT_TRUE(r.centres.row(0).isApprox(mean, 1e-13));
  EXPECT_NEAR(r.inertia, (x.rowwise() - mean).squaredNorm(), tolerance::kRoundoff * r.inertia);
  EXPECT_EQ(r.sizes, std::vector<Index>{300});
}

TEST(KMeans, AnEmptyClusterTakesThePointFarthestFromItsCentre) {
  // Every point is nearer the centre at 1 than the one at 100, so cluster 1
  // is empty after the first assignment; 10 is the farthest from its centre.
  const Matrix x = column({0.0, 1.0, 2.0, 10.0});
  const KMeansResult r = lloyd(x, column({1.0, 100.0}), 300, 0.0);
  EXPECT_EQ(r.labels, (std::vector<Index>{0, 0, 0, 1}));
  EXPECT_EQ(r.centres, column({1.0, 10.0}));
  EXPECT_EQ(r.inertia, 2.0);
  EXPECT_EQ(r.inertia_trace.front(), 1.0 + 0.0 + 1.0 + 81.0);
}

TEST(KMeans, SurvivesFewerDistinctPointsThanClusters) {
  const Matrix x = Matrix::Constant(6, 2, 1.5);
  const KMeansResult r = kmeans(x, {.clusters = 3, .n_init = 2});
  EXPECT_EQ(r.inertia, 0.0);
  for (Index l : r.labels) EXPECT_TRUE(l >= 0 && l < 3);
}

TEST(KMeansPlusPlus, SeedsAreDistinctDataPoints) {
  const Matrix x = random_points(1000, 3, 14);
  Rng rng(1);
  const Matrix seeds = kmeans_plus_plus(x, 20, 0, rng);
  std::set<Index> rows;
  for (Index c = 0; c < 20; ++c) {
    Index row = -1;
    for (Index i = 0; i < x.rows(); ++i)
      if (x.row(i) == seeds.row(c)) row = i;
    ASSERT_GE(row, 0) << c;
    rows.insert(row);
  }
  EXPECT_EQ(rows.size(), 20u);
}

// Points 0, 1, 3 on a line, k = 2. With one candidate per step (plain
// k-means++) the first seed is uniform and the second is drawn ∝ D²:
// P{0,1} = (1/10 + 1/5)/3, P{1,3} = (4/5 + 4/13)/3, P{0,3} = the rest.
// With many candidates the greedy step never keeps {0,1}: from 0 or from 1,
// adding 3 leaves the smaller total D².
std::map<std::pair<double, double>, double> pair_frequencies(Index trials, Index draws) {
  const Matrix x = column({0.0, 1.0, 3.0});
  Rng rng(31);
  std::map<std::pair<double, double>, double> counts;
  for (Index i = 0; i < draws; ++i) {
    const Matrix s = kmeans_plus_plus(x, 2, trials, rng);
    counts[{std::min(s(0, 0), s(1, 0)), std::max(s(0, 0), s(1, 0))}] += 1.0 / static_cast<double>(draws);
  }
  return counts;
}

TEST(KMeansPlusPlus, DrawsSeedsWithProbabilityProportionalToTheSquaredDistance) {
  const Index draws = 20000;
  auto p = pair_frequencies(1, draws);
  const double p01 = (0.1 + 0.2) / 3.0, p13 = (0.8 + 4.0 / 13.0) / 3.0;
  for (auto [pair, expected] : {std::pair{std::pair{0.0, 1.0}, p01}, std::pair{std::pair{1.0, 3.0}, p13},
                                std::pair{std::pair{0.0, 3.0}, 1.0 - p01 - p13}}) {
    const double se = std::sqrt(expected * (1.0 - expected) / draws);
    EXPECT_NEAR(p[pair], expected, tolerance::kStandardErrors * se) << pair.first << "," << pair.second;
  }
  p = pair_frequencies(30, 2000);
  EXPECT_EQ(p.count({0.0, 1.0}), 0u);
}

TEST(KMeans, RejectsBadArgumentsWithClearMessages) {
  const Matrix x = random_points(10, 2, 1);
  EXPECT_THROW(kmeans(x, {.clusters = 0}), ConfigError);
  EXPECT_THROW(kmeans(x, {.clusters = 2, .n_init = 0}), ConfigError);
  EXPECT_THROW(kmeans(x, {.clusters = 2, .max_iter = 0}), ConfigError);
  EXPECT_THROW(kmeans(x, {.clusters = 2, .tol = -1.0}), ConfigError);
  EXPECT_THROW(kmeans(x, {.clusters = 2, .local_trials = -1}), ConfigError);
  EXPECT_THROW(kmeans(Matrix(10, 0), {.clusters = 2}), DataError);
  try {
    kmeans(x, {.clusters = 11});
    FAIL();
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("11 clusters need at least 11 points, the data have 10"));
  }
  Matrix bad = x;
  bad(2, 0) = std::numeric_limits<double>::infinity();
  try {
    kmeans(bad, {.clusters = 2});
    FAIL();
  } catch (const NumericalError& e) {
    EXPECT_THAT(e.what(), HasSubstr("point 2, coordinate 0 is"));
  }
}

}  // namespace
}  // namespace diffgen
