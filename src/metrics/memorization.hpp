// Memorization measures on generated samples (THEORY.md §8).
//
// For a generated point x with nearest and second-nearest training points
// x_(1), x_(2), the nearest-neighbour ratio is r(x) = ‖x − x_(1)‖ / ‖x − x_(2)‖;
// x counts as memorized when r(x) < 1/3 (Yoon et al. 2023, Bonnaire et al.
// 2025): it sits much closer to one training point than to any other. A
// sample that coincides with a training point has r = 0 (also when two
// training points coincide with it: a copy is a copy). Next to the fraction,
// the mean distance to the nearest training point, and, when a second set is
// given (fresh target samples), the mean distance to its nearest point: a
// model that generalizes is about as close to fresh samples as to its
// training set, one that memorizes is much closer to the training set.
// Compare the two only for sets of equal size, as nearest-neighbour distances
// shrink like n^(-1/d).
//
// The fraction alone means little: samples drawn independently of the
// training set from the same smooth density (locally a Poisson process, where
// (d1/d2)^d is uniform on (0, 1)) have P(r < t) = t^d, so in 1-D a perfect
// generalizer scores the threshold itself (1/3). Report it beside the same
// fraction for fresh target samples, and read only the excess.
//
// Exact brute force, O(n m d) for n samples and m reference points, in
// parallel over samples and bit-identical for any thread count (fine for n
// and m up to about 1e4).
#pragma once

#include <string>

#include "core/options.hpp"
#include "core/types.hpp"

namespace diffgen {

using IndexVector = Eigen::Matrix<Index, Eigen::Dynamic, 1>;

struct MemorizationOptions {
  // A sample is memorized when r(x) < ratio_threshold; 1/3 as in the
  // literature. In (0, 1]: r <= 1 always, so 1 counts every sample that is
  // not exactly equidistant from its two nearest training points.
  double ratio_threshold = 1.0 / 3.0;
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// The key memorization.threshold.
const OptionTable<MemorizationOptions>& memorization_options();

struct MemorizationSummary {
  Index num_samples = 0;
  Index num_training = 0;
  Index num_reference = 0;  // 0 without a reference set
  double ratio_threshold = 0.0;

  Index memorized = 0;                     // samples with r(x) < ratio_threshold
  double memorized_fraction = 0.0;         // memorized / num_samples
  double memorized_fraction_se = 0.0;      // binomial √(f (1 − f) / n); 0 when f is 0 or 1
  double mean_nn_distance_train = 0.0;     // mean of ‖x − x_(1)‖ over the samples
  double mean_nn_distance_train_se = 0.0;  // its standard error (sample std / √n)
  // Mean distance to the nearest point of the reference set, and its
  // standard error; NaN without a reference set.
  double mean_nn_distance_reference = 0.0;
  double mean_nn_distance_reference_se = 0.0;
  // The fraction of samples nearer to the training set than to the reference
  // set (ties count ½), and its binomial standard error; NaN without a
  // reference set. Robust where the means are not (a few samples far out in
  // the tails dominate them). For samples independent of both sets, and a
  // reference set drawn like the training set and of its size, it is ½ by
  // exchangeability; a memorizer's tends to 1.
  double closer_to_training_fraction = 0.0;
  double closer_to_training_fraction_se = 0.0;

  // Per sample, in the order of the samples (histograms, and which training
  // points are copied).
  Vector ratio;                  // r(x)
  Vector nn_distance_train;      // ‖x − x_(1)‖
  IndexVector nearest_train;     // row of x_(1) in the training set (the first one on ties)
  Vector nn_distance_reference;  // empty without a reference set
};

// Memorization of `samples` (rows) with respect to `training` (rows).
// Throws ConfigError for invalid options; DataError when there is no sample,
// fewer than 2 training points (the ratio needs two) or the dimensions
// differ; NumericalError naming the row and column of a NaN or infinite
// coordinate.
MemorizationSummary memorization(const Matrix& samples, const Matrix& training,
                                 const MemorizationOptions& options = {});

// As above, plus distances to the nearest point of `reference` (at least one
// point, same dimension), e.g. fresh samples of the target.
MemorizationSummary memorization(const Matrix& samples, const Matrix& training, const Matrix& reference,
                                 const MemorizationOptions& options = {});

}  // namespace diffgen
