#include "clustering/kmeans.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "clustering/data_matrix.hpp"
#include "core/error.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

// Points per parallel chunk: fixed, so the split never depends on the thread
// count; a chunk's product with the centres (512·k·d flops) outweighs its
// scheduling.
constexpr Index kPointChunk = 512;

// The mean over coordinates of the data's variance (divisor n, as numpy's var).
double mean_variance(const Matrix& data) {
  const RowVector mean = chunked_column_means(data, kPointChunk);
  double sum = 0.0;
  for (Index b = 0; b < data.rows(); b += kPointChunk)
    sum += (data.middleRows(b, std::min(kPointChunk, data.rows() - b)).rowwise() - mean).squaredNorm();
  return sum / static_cast<double>(data.rows() * data.cols());
}

// The nearest centre of each point (the lowest index on a tie) and the
// squared distance to it. The comparison uses matrix products on data and
// centres centred by `mean`; the distance kept is summed from differences.
void assign(const Matrix& data, const RowVector& mean, const Matrix& centres, std::vector<Index>& labels,
            Vector& distance) {
  const Matrix c = centres.rowwise() - mean;
  const Vector c_norm = c.rowwise().squaredNorm();
  parallel_for(data.rows(), kPointChunk, [&](Index b, Index e) {
    const Matrix x = data.middleRows(b, e - b).rowwise() - mean;
    const Matrix dot = x * c.transpose();
    for (Index i = 0; i < e - b; ++i) {
      // ‖x − c_j‖² = ‖x‖² + (‖c_j‖² − 2 x·c_j): only the bracket depends on j.
      Index best = 0;
      double best_score = c_norm[0] - 2.0 * dot(i, 0);
      for (Index j = 1; j < c.rows(); ++j) {
        const double score = c_norm[j] - 2.0 * dot(i, j);
        if (score < best_score) {
          best_score = score;
          best = j;
        }
      }
      labels[static_cast<std::size_t>(b + i)] = best;
      distance[b + i] = (data.row(b + i) - centres.row(best)).squaredNorm();
    }
  });
}

// Gives each empty cluster the point farthest from its own centre, taken
// from a cluster with two or more points (the lowest index on a tie; each
// point at most once); `sums` and `counts` are updated as if it moved.
void relocate_empty(const Matrix& data, const std::vector<Index>& labels, const Vector& distance, Matrix& sums,
                    std::vector<Index>& counts) {
  std::vector<char> taken;
  for (std::size_t j = 0; j < counts.size(); ++j) {
    if (counts[j] > 0) continue;
    if (taken.empty()) taken.assign(labels.size(), 0);
    Index far = -1;
    for (Index i = 0; i < data.rows(); ++i) {
      const auto u = static_cast<std::size_t>(i);
      if (!taken[u] && counts[static_cast<std::size_t>(labels[u])] > 1 && (far < 0 || distance[i] > distance[far]))
        far = i;
    }
    if (far < 0) return;
    const auto from = labels[static_cast<std::size_t>(far)];
    taken[static_cast<std::size_t>(far)] = 1;
    sums.row(from) -= data.row(far);
    --counts[static_cast<std::size_t>(from)];
    sums.row(static_cast<Index>(j)) = data.row(far);
    counts[j] = 1;
  }
}

// The mean of each cluster's points (after relocating empty clusters); a
// cluster still empty keeps its centre. Summed serially in point order.
Matrix cluster_means(const Matrix& data, const std::vector<Index>& labels, const Vector& distance,
                     const Matrix& centres) {
  Matrix sums = Matrix::Zero(centres.rows(), centres.cols());
  std::vector<Index> counts(static_cast<std::size_t>(centres.rows()), 0);
  for (Index i = 0; i < data.rows(); ++i) {
    const Index l = labels[static_cast<std::size_t>(i)];
    sums.row(l) += data.row(i);
    ++counts[static_cast<std::size_t>(l)];
  }
  relocate_empty(data, labels, distance, sums, counts);
  Matrix means = centres;
  for (Index j = 0; j < centres.rows(); ++j) {
    const Index count = counts[static_cast<std::size_t>(j)];
    if (count > 0) means.row(j) = sums.row(j) / static_cast<double>(count);
  }
  return means;
}

// Index of a point drawn with probability ∝ its squared distance to the
// nearest centre (uniform when every point sits on a centre).
Index draw_by_distance(const Vector& cumulative, Rng& rng) {
  const double total = cumulative[cumulative.size() - 1];
  if (!(total > 0.0)) return static_cast<Index>(rng.below(static_cast<std::uint64_t>(cumulative.size())));
  const double r = rng.uniform() * total;
  const auto it = std::upper_bound(cumulative.data(), cumulative.data() + cumulative.size(), r);
  return std::min<Index>(it - cumulative.data(), cumulative.size() - 1);
}

// Squared distances from every point to the point `centre`.
Vector distances_to(const Matrix& data, Index centre) {
  Vector out(data.rows());
  parallel_for(data.rows(), kPointChunk, [&](Index b, Index e) {
    for (Index i = b; i < e; ++i) out[i] = (data.row(i) - data.row(centre)).squaredNorm();
  });
  return out;
}

}  // namespace

std::string KMeansOptions::validate() const {
  if (clusters < 1) return fmt::format("clusters = {} must be >= 1", clusters);
  if (n_init < 1) return fmt::format("n_init = {} must be >= 1", n_init);
  if (max_iter < 1) return fmt::format("max_iter = {} must be >= 1", max_iter);
  if (!(tol >= 0.0) || !std::isfinite(tol)) return fmt::format("tol = {} must be >= 0 and finite", tol);
  if (local_trials < 0) return fmt::format("local_trials = {} must be >= 0 (0: 2 + floor(ln k))", local_trials);
  return {};
}

Matrix kmeans_plus_plus(const Matrix& data, Index k, Index trials, Rng& rng) {
  const Index n = data.rows();
  if (trials <= 0) trials = 2 + static_cast<Index>(std::log(static_cast<double>(k)));
  Matrix centres(k, data.cols());
  const Index first = static_cast<Index>(rng.below(static_cast<std::uint64_t>(n)));
  centres.row(0) = data.row(first);
  Vector closest = distances_to(data, first);  // D(x)², to the nearest centre so far
  Vector cumulative(n);
  Matrix trial(n, trials);  // D(x)² if candidate t were added
  std::vector<Index> candidate(static_cast<std::size_t>(trials));
  for (Index c = 1; c < k; ++c) {
    // Draw the candidates ∝ D², then keep the one that leaves the least total D².
    std::partial_sum(closest.data(), closest.data() + n, cumulative.data());
    for (auto& id : candidate) id = draw_by_distance(cumulative, rng);
    parallel_for(n, kPointChunk, [&](Index b, Index e) {
      for (Index i = b; i < e; ++i)
        for (Index t = 0; t < trials; ++t)
          trial(i, t) =
              std::min(closest[i], (data.row(i) - data.row(candidate[static_cast<std::size_t>(t)])).squaredNorm());
    });
    Index best = 0;
    double best_total = 0.0;
    for (Index t = 0; t < trials; ++t) {
      const double total = trial.col(t).sum();
      if (t == 0 || total < best_total) {
        best_total = total;
        best = t;
      }
    }
    centres.row(c) = data.row(candidate[static_cast<std::size_t>(best)]);
    closest = trial.col(best);
  }
  return centres;
}

KMeansResult lloyd(const Matrix& data, Matrix centres, Index max_iter, double shift_tol) {
  const RowVector mean = chunked_column_means(data, kPointChunk);
  KMeansResult r;
  r.labels.assign(static_cast<std::size_t>(data.rows()), 0);
  Vector distance(data.rows());
  std::vector<Index> previous;
  bool unchanged = false;
  for (Index it = 1; it <= max_iter; ++it) {
    assign(data, mean, centres, r.labels, distance);
    r.inertia_trace.push_back(distance.sum());
    r.iterations = it;
    // No label changed: the centres are already these labels' means.
    if (r.labels == previous) {
      unchanged = r.converged = true;
      break;
    }
    Matrix next = cluster_means(data, r.labels, distance, centres);
    const double shift = (next - centres).squaredNorm();
    centres = std::move(next);
    previous = r.labels;
    if (shift <= shift_tol) {
      r.converged = true;
      break;
    }
  }
  // Labels for the final centres, so that the two agree.
  if (!unchanged) {
    assign(data, mean, centres, r.labels, distance);
    r.inertia_trace.push_back(distance.sum());
  }
  r.inertia = r.inertia_trace.back();
  r.centres = std::move(centres);
  r.sizes.assign(static_cast<std::size_t>(r.centres.rows()), 0);
  for (Index l : r.labels) ++r.sizes[static_cast<std::size_t>(l)];
  return r;
}

KMeansResult kmeans(const Matrix& data, const KMeansOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError("k-means: " + err);
  if (data.cols() < 1) throw DataError("k-means: the data have no coordinates");
  if (data.rows() < options.clusters)
    throw DataError(fmt::format("k-means: {} clusters need at least {} points, the data have {}", options.clusters,
                                options.clusters, data.rows()));
  require_finite_points(data, "k-means");
  const double shift_tol = options.tol * mean_variance(data);
  KMeansResult best;
  for (Index restart = 0; restart < options.n_init; ++restart) {
    Rng rng = Rng::stream(options.seed, {kKMeansStream, static_cast<std::uint64_t>(restart)});
    KMeansResult r =
        lloyd(data, kmeans_plus_plus(data, options.clusters, options.local_trials, rng), options.max_iter, shift_tol);
    r.restart = restart;
    if (restart == 0 || r.inertia < best.inertia) best = std::move(r);
  }
  return best;
}

}  // namespace diffgen
