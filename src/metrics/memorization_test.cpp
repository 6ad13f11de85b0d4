#include "metrics/memorization.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;

// Named tolerances.
constexpr double kRoundoff = 1e-15;     // a few ulps of hand-computed distances of O(1)
using tolerance::kStandardErrors;

Matrix column(std::initializer_list<double> values) {
  Matrix m(static_cast<Index>(values.size()), 1);
  Index i = 0;
  for (double v : values) m(i++, 0) = v;
  return m;
}

Matrix uniform_points(Index n, Index d, double lo, double hi, std::uint64_t id) {
  Rng rng = Rng::stream(2025, {kStreamData, id});
  Matrix m(n, d);
  for (Index k = 0; k < m.size(); ++k) m.data()[k] = rng.uniform(lo, hi);
  return m;
}

TEST(Memorization, CopiesOfTrainingPointsAreMemorized) {
  Matrix training(20, 3);
  Rng rng(11);
  rng.fill_normal(training);
  const std::vector<Index> copied = {5, 0, 19, 7, 7};
  Matrix samples(static_cast<Index>(copied.size()), 3);
  for (std::size_t i = 0; i < copied.size(); ++i) samples.row(static_cast<Index>(i)) = training.row(copied[i]);

  const MemorizationSummary s = memorization(samples, training);
  EXPECT_EQ(s.num_samples, 5);
  EXPECT_EQ(s.num_training, 20);
  EXPECT_EQ(s.memorized, 5);
  EXPECT_EQ(s.memorized_fraction, 1.0);
  EXPECT_EQ(s.memorized_fraction_se, 0.0);
  EXPECT_EQ(s.mean_nn_distance_train, 0.0);
  EXPECT_EQ(s.ratio, Vector::Zero(5));
  for (std::size_t i = 0; i < copied.size(); ++i) EXPECT_EQ(s.nearest_train[static_cast<Index>(i)], copied[i]);
}

TEST(Memorization, DuplicatedTrainingPointCopiedIsStillACopy) {
  // x_(1) = x_(2) = x: 0 / 0, defined as r = 0.
  const Matrix training = column({1.0, 1.0, 5.0});
  const MemorizationSummary s = memorization(column({1.0}), training);
  EXPECT_EQ(s.ratio[0], 0.0);
  EXPECT_EQ(s.memorized, 1);
}

TEST(Memorization, MidpointsBetweenSeparatedTrainingPointsHaveRatioOne) {
  Matrix training(4, 2);
  training << 0, 0, 10, 0, 0, 10, 10, 10;
  Matrix samples(4, 2);
  samples << 5, 0, 0, 5, 10, 5, 5, 10;  // midpoints of the square's sides
  MemorizationOptions everything;
  everything.ratio_threshold = 1.0;  // even the loosest threshold: r < 1 is strict
  for (const auto& options : {MemorizationOptions{}, everything}) {
    const MemorizationSummary s = memorization(samples, training, options);
    EXPECT_EQ(s.ratio, Vector::Ones(4));
    EXPECT_EQ(s.memorized, 0);
    EXPECT_EQ(s.memorized_fraction, 0.0);
    EXPECT_EQ(s.mean_nn_distance_train, 5.0);
    EXPECT_EQ(s.mean_nn_distance_train_se, 0.0);
  }
}

TEST(Memorization, HandComputedOneDimensionalCase) {
  // Training {0, 1, 4}; samples 0.2 (nearest 0 at 0.2, next 1 at 0.8),
  // 2 (nearest 1 at 1, next 0 and 4 both at 2), 3.9 (nearest 4 at 0.1,
  // next 1 at 2.9). Reference {0.25, 3}: distances 0.05, 1, 0.9.
  const Matrix training = column({0.0, 1.0, 4.0});
  const Matrix samples = column({0.2, 2.0, 3.9});
  const Matrix reference = column({0.25, 3.0});
  const MemorizationSummary s = memorization(samples, training, reference);

  EXPECT_NEAR(s.ratio[0], 0.25, kRoundoff);
  EXPECT_NEAR(s.ratio[1], 0.5, kRoundoff);
  EXPECT_NEAR(s.ratio[2], 0.1 / 2.9, kRoundoff);
  EXPECT_EQ(s.nearest_train, (IndexVector(3) << 0, 1, 2).finished());
  EXPECT_EQ(s.memorized, 2);
  EXPECT_DOUBLE_EQ(s.memorized_fraction, 2.0 / 3.0);
  EXPECT_NEAR(s.memorized_fraction_se, std::sqrt(2.0 / 27.0), kRoundoff);

  // Distances 0.2, 1, 0.1: mean 1.3 / 3; squared deviations from it sum to
  // 0.48666..., so se = √(0.48666... / 2 / 3).
  EXPECT_NEAR(s.mean_nn_distance_train, 1.3 / 3.0, kRoundoff);
  const double m = 1.3 / 3.0;
  const double squares = (0.2 - m) * (0.2 - m) + (1.0 - m) * (1.0 - m) + (0.1 - m) * (0.1 - m);
  EXPECT_NEAR(s.mean_nn_distance_train_se, std::sqrt(squares / 6.0), kRoundoff);

  EXPECT_EQ(s.num_reference, 2);
  EXPECT_NEAR(s.nn_distance_reference[0], 0.05, kRoundoff);
  EXPECT_NEAR(s.nn_distance_reference[1], 1.0, kRoundoff);
  EXPECT_NEAR(s.nn_distance_reference[2], 0.9, kRoundoff);
  EXPECT_NEAR(s.mean_nn_distance_reference, 1.95 / 3.0, kRoundoff);
}

TEST(Memorization, ThresholdIsConfigurable) {
  const Matrix training = column({0.0, 1.0, 4.0});
  const Matrix samples = column({0.2, 2.0, 3.9});  // ratios 0.25, 0.5, 0.034
  MemorizationOptions loose, strict;
  loose.ratio_threshold = 0.6;
  strict.ratio_threshold = 0.2;
  EXPECT_EQ(memorization(samples, training, loose).memorized, 3);
  EXPECT_EQ(memorization(samples, training, strict).memorized, 1);
  EXPECT_EQ(memorization(samples, training, strict).ratio_threshold, 0.2);
}

TEST(Memorization, WithoutReferenceItsDistancesAreAbsent) {
  const MemorizationSummary s = memorization(column({0.5}), column({0.0, 1.0}));
  EXPECT_EQ(s.num_reference, 0);
  EXPECT_EQ(s.nn_distance_reference.size(), 0);
  EXPECT_TRUE(std::isnan(s.mean_nn_distance_reference));
  EXPECT_TRUE(std::isnan(s.closer_to_training_fraction));
}

TEST(Memorization, CloserToTrainingFractionCountsTiesAsHalf) {
  // Samples 0.1 (training 0 is nearer), 0.9 (reference 1 is nearer), 0.5 (a tie).
  const MemorizationSummary s = memorization(column({0.1, 0.9, 0.5}), column({0.0, -1.0}), column({1.0}));
  EXPECT_DOUBLE_EQ(s.closer_to_training_fraction, 0.5);
  EXPECT_DOUBLE_EQ(s.closer_to_training_fraction_se, std::sqrt(0.25 / 3.0));
  const MemorizationSummary copies = memorization(column({0.0, -1.0}), column({0.0, -1.0}), column({0.5}));
  EXPECT_EQ(copies.closer_to_training_fraction, 1.0);
  EXPECT_EQ(copies.closer_to_training_fraction_se, 0.0);
}

// Training and reference sets drawn alike and of equal size, samples
// independent of both: nearer to either with probability ½ (exchangeability),
// in any dimension.
TEST(Memorization, IndependentSamplesAreNearerToTheTrainingSetHalfTheTime) {
  for (const Index d : {1, 3}) {
    const Matrix training = uniform_points(2000, d, 0.0, 1.0, 40 + static_cast<std::uint64_t>(d));
    const Matrix reference = uniform_points(2000, d, 0.0, 1.0, 50 + static_cast<std::uint64_t>(d));
    const Matrix samples = uniform_points(4000, d, 0.0, 1.0, 60 + static_cast<std::uint64_t>(d));
    const MemorizationSummary s = memorization(samples, training, reference);
    EXPECT_NEAR(s.closer_to_training_fraction, 0.5, kStandardErrors * std::sqrt(0.25 / 4000.0)) << "d = " << d;
  }
}

// For points of a smooth density, locally a Poisson process, (d1/d2)^d is
// uniform on (0, 1): P(r < t) = t^d. Samples independent of the training
// set thus have a memorized fraction of (1/3)^d: 1/3 in 1-D, 1/9 in 2-D.
TEST(Memorization, IndependentSamplesGiveTheKnownFraction) {
  for (const Index d : {1, 2}) {
    const Matrix training = uniform_points(4000, d, 0.0, 1.0, 10 + static_cast<std::uint64_t>(d));
    // Away from the edges, where the process is not locally homogeneous.
    const Matrix samples = uniform_points(4000, d, 0.1, 0.9, 20 + static_cast<std::uint64_t>(d));
    const MemorizationSummary s = memorization(samples, training);
    const double expected = std::pow(1.0 / 3.0, static_cast<double>(d));
    const double se = std::sqrt(expected * (1.0 - expected) / 4000.0);
    EXPECT_NEAR(s.memorized_fraction, expected, kStandardErrors * se) << "d = " << d;
    EXPECT_NEAR(s.memorized_fraction_se, se, 0.1 * se);
  }
}

// The baseline of the early-stopping experiment: in 1-D, P(r < t) = t for
// any threshold t, so fresh samples score the threshold itself.
TEST(Memorization, InOneDimensionFreshSamplesScoreTheThresholdItself) {
  const Matrix training = uniform_points(4000, 1, 0.0, 1.0, 31);
  const Matrix samples = uniform_points(4000, 1, 0.1, 0.9, 32);
  for (const double t : {0.1, 0.5, 0.8}) {
    MemorizationOptions o;
    o.ratio_threshold = t;
    const MemorizationSummary s = memorization(samples, training, o);
    EXPECT_NEAR(s.memorized_fraction, t, kStandardErrors * std::sqrt(t * (1.0 - t) / 4000.0)) << t;
  }
}

TEST(Memorization, NearCopiesAreMemorizedAndCloserToTrainingThanToFreshSamples) {
  const Index n = 300, d = 2;
  Matrix training(n, d), fresh(n, d), noise(n, d);
  Rng rng(5);
  rng.fill_normal(training);
  rng.fill_normal(fresh);
  rng.fill_normal(noise);
  const Matrix copies = training + 1e-3 * noise;
  const MemorizationSummary memorizing = memorization(copies, training, fresh);
  EXPECT_EQ(memorizing.memorized_fraction, 1.0);
  EXPECT_LT(memorizing.mean_nn_distance_train, 0.01 * memorizing.mean_nn_distance_reference);
  EXPECT_EQ(memorizing.closer_to_training_fraction, 1.0);

  // Fresh samples of the same law are, on average, as close to the training
  // set as to another fresh set of the same size.
  Matrix other(n, d);
  rng.fill_normal(other);
  const MemorizationSummary generalizing = memorization(other, training, fresh);
  const double se = std::hypot(generalizing.mean_nn_distance_train_se, generalizing.mean_nn_distance_reference_se);
  EXPECT_NEAR(generalizing.mean_nn_distance_train, generalizing.mean_nn_distance_reference, kStandardErrors * se);
  EXPECT_LT(generalizing.memorized_fraction, 0.25);
}

TEST(Memorization, MatchesASortedBruteForceReference) {
  const Matrix training = uniform_points(157, 3, -1.0, 1.0, 30);
  const Matrix samples = uniform_points(211, 3, -1.0, 1.0, 31);
  const MemorizationSummary s = memorization(samples, training);
  for (Index i = 0; i < samples.rows(); ++i) {
    std::vector<std::pair<double, Index>> d;
    for (Index j = 0; j < training.rows(); ++j) d.emplace_back((training.row(j) - samples.row(i)).norm(), j);
    std::sort(d.begin(), d.end());
    EXPECT_EQ(s.nearest_train[i], d[0].second);
    EXPECT_EQ(s.nn_distance_train[i], d[0].first);
    EXPECT_EQ(s.ratio[i], d[0].first / d[1].first);
  }
}

TEST(Memorization, IdenticalForAnyThreadCount) {
  const Matrix training = uniform_points(500, 4, 0.0, 1.0, 40);
  const Matrix samples = uniform_points(1000, 4, 0.0, 1.0, 41);
  const Matrix reference = uniform_points(500, 4, 0.0, 1.0, 42);
  const int before = num_threads();
  set_num_threads(1);
  const MemorizationSummary one = memorization(samples, training, reference);
  set_num_threads(7);
  const MemorizationSummary seven = memorization(samples, training, reference);
  set_num_threads(before);
  EXPECT_EQ(one.ratio, seven.ratio);
  EXPECT_EQ(one.nearest_train, seven.nearest_train);
  EXPECT_EQ(one.nn_distance_reference, seven.nn_distance_reference);
  EXPECT_EQ(one.mean_nn_distance_train, seven.mean_nn_distance_train);
  EXPECT_EQ(one.mean_nn_distance_reference_se, seven.mean_nn_distance_reference_se);
  EXPECT_EQ(one.memorized, seven.memorized);
}

TEST(Memorization, BadInputIsRefusedWithItsExitCode) {
  const Matrix training = column({0.0, 1.0});
  const auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      return std::to_string(e.exit_code()) + " " + e.what();
    }
    return "no error";
  };
  EXPECT_THAT(message([&] { memorization(column({0.5}), column({0.0})); }),
              HasSubstr("3 memorization: the training set has 1 point, needs at least 2"));
  EXPECT_THAT(message([&] { memorization(Matrix::Zero(1, 2), training); }),
              HasSubstr("3 memorization: the training set has dimension 1, the samples have dimension 2"));
  EXPECT_THAT(message([&] { memorization(Matrix(0, 1), training); }),
              HasSubstr("3 memorization: there are no samples"));
  EXPECT_THAT(message([&] { memorization(column({0.5}), training, Matrix(0, 1)); }),
              HasSubstr("3 memorization: the reference set has 0 points, needs at least 1"));
  EXPECT_THAT(message([&] {
                memorization(column({0.5, std::nan("")}), training);
              }),
              HasSubstr("4 memorization: sample 1, coordinate 0 is nan"));
  EXPECT_THAT(message([&] {
                memorization(column({0.5}), column({0.0, -std::numeric_limits<double>::infinity()}));
              }),
              HasSubstr("4 memorization: training point 1, coordinate 0 is -inf"));
  for (const double bad : {0.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    MemorizationOptions options;
    options.ratio_threshold = bad;
    EXPECT_THAT(message([&] { memorization(column({0.5}), training, options); }), HasSubstr("2 ratio_threshold = "));
    EXPECT_THAT(options.validate(), HasSubstr("must be in (0, 1]"));
  }
  EXPECT_TRUE(MemorizationOptions{}.validate().empty());
}

}  // namespace
}  // namespace diffgen
