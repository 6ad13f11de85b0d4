// k-means clustering of a data set (rows are points): Lloyd's algorithm from
// k-means++ seeds, restarted n_init times, keeping the lowest inertia (the
// sum of squared distances from each point to its cluster's centre). Li et
// al. (NeurIPS 2023, §4.2) cluster MNIST's PCA-100 features into k = 30 with
// sklearn's KMeans; the defaults below are sklearn's, so that a reader of
// the paper finds the same algorithm:
//
//   seeding    greedy k-means++ (Arthur & Vassilvitskii 2007): the first
//              centre a uniformly drawn point; each next one the best of
//              2 + ⌊ln k⌋ candidates drawn with probability ∝ D(x)², the
//              squared distance to the nearest centre so far, "best" being
//              the candidate that leaves the smallest total D²;
//   iterations assign each point to its nearest centre, move each centre to
//              its points' mean; stop when no label changes, when the
//              centres' total squared shift is at most tol times the data's
//              mean per-coordinate variance, or after max_iter iterations;
//              then assign once more, so labels and centres agree;
//   empty      a cluster left without points takes the point that is
//   clusters   farthest from its own cluster's centre (among clusters with
//              two or more points); in practice one stays empty only when
//              the data have fewer distinct points than k (its centre then
//              repeats another's).
//
// Every draw comes from Rng::stream(seed, {kKMeansStream, restart}), and the
// parallel loops split the points into chunks that depend only on n, so a
// result is bit-identical for any thread count. The assignment compares
// ‖x − m‖² − 2 (x − m)·(c − m) + ‖c − m‖² with m the data's mean (matrix
// products, centred against cancellation); the inertia and the D² of the
// seeding are summed from exact differences.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/types.hpp"

namespace diffgen {

// The first stream id of the restarts' draws: "kmeans" in ASCII, apart from
// core's StreamIds, so a caller may pass its run's base seed unchanged.
inline constexpr std::uint64_t kKMeansStream = 0x6b6d65616e73;

struct KMeansOptions {
  Index clusters = 8;    // k, the number of clusters (1 <= k <= n)
  Index n_init = 1;      // restarts from fresh seeds; the lowest inertia wins (sklearn <= 1.3 used 10)
  Index max_iter = 300;  // Lloyd iterations per restart at most
  double tol = 1e-4;     // stop when Σ_j ‖c_j' − c_j‖² <= tol · (mean over coordinates of the data's variance)
  Index local_trials = 0;  // k-means++ candidates per centre; 0: 2 + ⌊ln k⌋
  std::uint64_t seed = 0;  // restart r draws from Rng::stream(seed, {kKMeansStream, r})
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

struct KMeansResult {
  std::vector<Index> labels;          // cluster of each point, in [0, k)
  std::vector<Index> sizes;           // points in each cluster
  Matrix centres;                     // k x d, the mean of each cluster's points (see the header for empty clusters)
  double inertia = 0.0;               // Σ_i ‖x_i − c_{label_i}‖²
  Index iterations = 0;               // Lloyd iterations of the winning restart
  bool converged = false;             // stopped by a criterion of the header, not by max_iter
  Index restart = 0;                  // which restart won (the first on a tie)
  std::vector<double> inertia_trace;  // the winning restart's inertia after each assignment; the last is `inertia`
};

// Runs the restarts (one after another, each on all cores) and returns the
// best. Throws ConfigError for invalid options, DataError for fewer points
// than clusters or no coordinates, NumericalError naming the row and column
// of a NaN or infinite value.
KMeansResult kmeans(const Matrix& data, const KMeansOptions& options);

// The k-means++ seeds (greedy, `trials` candidates per centre; 0: 2 + ⌊ln k⌋),
// k x d. Arguments are assumed checked (as kmeans does); exposed for tests.
Matrix kmeans_plus_plus(const Matrix& data, Index k, Index trials, Rng& rng);

// Lloyd iterations from the given centres (k x d), stopping as described in
// the header with the absolute tolerance `shift_tol` on the total squared
// shift. Arguments are assumed checked; exposed for tests.
KMeansResult lloyd(const Matrix& data, Matrix centres, Index max_iter, double shift_tol);

}  // namespace diffgen
