#include "metrics/memorization.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

// Samples per parallel chunk: fixed, so the split never depends on the
// thread count; large enough that a chunk (64 m d flops) outweighs its
// scheduling.
constexpr Index kSampleChunk = 64;

void require_finite(const Matrix& points, const char* what) {
  for (Index i = 0; i < points.rows(); ++i) {
    for (Index j = 0; j < points.cols(); ++j) {
      if (!std::isfinite(points(i, j))) {
        throw NumericalError(
            fmt::format("memorization: {} {}, coordinate {} is {}", what, i, j, format_double(points(i, j))));
      }
    }
  }
}

void require_shape(const Matrix& points, Index min_rows, Index dim, const char* what) {
  if (points.rows() < min_rows) {
    throw DataError(fmt::format("memorization: the {} set has {} point{}, needs at least {}", what, points.rows(),
                                points.rows() == 1 ? "" : "s", min_rows));
  }
  if (points.cols() != dim) {
    throw DataError(fmt::format("memorization: the {} set has dimension {}, the samples have dimension {}", what,
                                points.cols(), dim));
  }
}

// Squared distances from each sample to its nearest and second-nearest
// point of `points`, and the nearest one's row (the first on ties).
void nearest_two(const Matrix& samples, const Matrix& points, Vector& first, Vector& second, IndexVector* nearest) {
  const Index n = samples.rows(), m = points.rows();
  first.resize(n);
  second.resize(n);
  if (nearest) nearest->resize(n);
  parallel_for(n, kSampleChunk, [&](Index begin, Index end) {
    for (Index i = begin; i < end; ++i) {
      const auto x = samples.row(i);
      double best = std::numeric_limits<double>::infinity(), runner_up = best;
      Index arg = 0;
      for (Index j = 0; j < m; ++j) {
        // The difference, not ‖x‖² + ‖y‖² − 2 x·y: exact zeros for copies,
        // exact ties for equidistant points.
        const double d2 = (points.row(j) - x).squaredNorm();
        if (d2 < best) {
          runner_up = best;
          best = d2;
          arg = j;
        } else if (d2 < runner_up) {
          runner_up = d2;
        }
      }
      first[i] = best;
      second[i] = runner_up;
      if (nearest) (*nearest)[i] = arg;
    }
  });
}

// Mean and its standard error (sample standard deviation / √n), summed in
// index order so the result does not depend on the threads.
void mean_and_se(const Vector& x, double& mean, double& se) {
  const Index n = x.size();
  double sum = 0.0;
  for (Index i = 0; i < n; ++i) sum += x[i];
  mean = sum / static_cast<double>(n);
  if (n < 2) {
    se = 0.0;
    return;
  }
  double squares = 0.0;
  for (Index i = 0; i < n; ++i) squares += (x[i] - mean) * (x[i] - mean);
  se = std::sqrt(squares / static_cast<double>(n - 1) / static_cast<double>(n));
}

MemorizationSummary run(const Matrix& samples, const Matrix& training, const Matrix* reference,
                        const MemorizationOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (samples.rows() == 0) throw DataError("memorization: there are no samples");
  const Index d = samples.cols();
  require_shape(training, 2, d, "training");
  if (reference) require_shape(*reference, 1, d, "reference");
  require_finite(samples, "sample");
  require_finite(training, "training point");
  if (reference) require_finite(*reference, "reference point");

  MemorizationSummary s;
  s.num_samples = samples.rows();
  s.num_training = training.rows();
  s.ratio_threshold = options.ratio_threshold;

  Vector first, second;
  nearest_two(samples, training, first, second, &s.nearest_train);
  s.nn_distance_train = first.cwiseSqrt();
  s.ratio.resize(s.num_samples);
  for (Index i = 0; i < s.num_samples; ++i) {
    // A copy has r = 0, also when x_(2) is a copy too (0 / 0).
    s.ratio[i] = first[i] == 0.0 ? 0.0 : std::sqrt(first[i]) / std::sqrt(second[i]);
    if (s.ratio[i] < options.ratio_threshold) ++s.memorized;
  }
  const double n = static_cast<double>(s.num_samples);
  s.memorized_fraction = static_cast<double>(s.memorized) / n;
  s.memorized_fraction_se = std::sqrt(s.memorized_fraction * (1.0 - s.memorized_fraction) / n);
  mean_and_se(s.nn_distance_train, s.mean_nn_distance_train, s.mean_nn_distance_train_se);

  if (reference) {
    s.num_reference = reference->rows();
    nearest_two(samples, *reference, first, second, nullptr);
    s.nn_distance_reference = first.cwiseSqrt();
    mean_and_se(s.nn_distance_reference, s.mean_nn_distance_reference, s.mean_nn_distance_reference_se);
    double closer = 0.0;
    for (Index i = 0; i < s.num_samples; ++i) {
      const double dt = s.nn_distance_train[i], dr = s.nn_distance_reference[i];
      closer += dt < dr ? 1.0 : dt == dr ? 0.5 : 0.0;
    }
    s.closer_to_training_fraction = closer / n;
    const double f = s.closer_to_training_fraction;
    s.closer_to_training_fraction_se = std::sqrt(f * (1.0 - f) / n);
  } else {
    s.mean_nn_distance_reference = std::numeric_limits<double>::quiet_NaN();
    s.mean_nn_distance_reference_se = std::numeric_limits<double>::quiet_NaN();
    s.closer_to_training_fraction = std::numeric_limits<double>::quiet_NaN();
    s.closer_to_training_fraction_se = std::numeric_limits<double>::quiet_NaN();
  }
  return s;
}

}  // namespace

std::string MemorizationOptions::validate() const {
  if (!(ratio_threshold > 0.0 && ratio_threshold <= 1.0)) {
    return fmt::format("ratio_threshold = {} must be in (0, 1]", format_double(ratio_threshold));
  }
  return {};
}

MemorizationSummary memorization(const Matrix& samples, const Matrix& training, const MemorizationOptions& options) {
  return run(samples, training, nullptr, options);
}

MemorizationSummary memorization(const Matrix& samples, const Matrix& training, const Matrix& reference,
                                 const MemorizationOptions& options) {
  return run(samples, training, &reference, options);
}

const OptionTable<MemorizationOptions>& memorization_options() {
  static const auto table = [] {
    OptionTable<MemorizationOptions> t;
    t.add("memorization.threshold", [](MemorizationOptions& o) -> auto& { return o.ratio_threshold; },
          "memorization: a sample is a copy when its nearest training point is this many times closer than the "
          "second nearest",
          {.min = 0.0, .max = 1.0, .min_exclusive = true});
    return t;
  }();
  return table;
}

}  // namespace diffgen
