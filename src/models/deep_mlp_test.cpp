#include "models/deep_mlp.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

std::shared_ptr<const Sde> vp() {
  return std::make_shared<const VpSde>(0.1, 20.0, 1.0);
}

DeepMlpOptions small(TimeFeature feature, OutputParametrization output) {
  DeepMlpOptions o;
  o.hidden = {7, 5};
  o.time_feature = feature;
  o.output = output;
  return o;
}

Matrix points(Index n, Index d, std::uint64_t seed) {
  Rng rng(seed);
  Matrix x(n, d);
  rng.fill_normal(x);
  return x;
}

Vector times(Index n) {
  Vector t(n);
  for (Index b = 0; b < n; ++b) t[b] = 0.05 + 0.9 * static_cast<double>(b) / static_cast<double>(n);
  return t;
}

TEST(DeepMlp, LayoutAndPyTorchInitialization) {
  Rng rng(1);
  const DeepMlp m(2, DeepMlpOptions{}, vp(), rng);
  // (2 + 1) → 128 → 128 → 128 → 2: 3·128 + 128 + 2·(128·128 + 128) + 128·2 + 2.
  EXPECT_EQ(m.num_parameters(), 3 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 2 + 2);
  // The first layer's weights lie in ±1/√3, the others' in ±1/√128.
  EXPECT_LE(m.parameters().head(3 * 128 + 128).cwiseAbs().maxCoeff(), 1.0 / std::sqrt(3.0));
  EXPECT_GT(m.parameters().head(3 * 128 + 128).cwiseAbs().maxCoeff(), 0.9 / std::sqrt(3.0));
  EXPECT_LE(m.parameters().tail(128 * 2 + 2).cwiseAbs().maxCoeff(), 1.0 / std::sqrt(128.0));
  Rng fourier_rng(1);
  DeepMlpOptions f;
  f.time_feature = TimeFeature::Fourier;
  EXPECT_EQ(DeepMlp(2, f, vp(), fourier_rng).input_width(), 2 + 4);
}

TEST(DeepMlp, OutputParametrizationsDivideByTheirFactor) {
  const auto sde = vp();
  const Matrix x = points(4, 2, 2);
  const Vector t = times(4);
  Matrix s0, s1, s2;
  for (auto [output, out] : {std::pair{OutputParametrization::Score, &s0},
                             std::pair{OutputParametrization::ScoreTimesStd, &s1},
                             std::pair{OutputParametrization::GTimesScore, &s2}}) {
    Rng rng(3);  // the same weights for all three
    DeepMlp(2, small(TimeFeature::Raw, output), sde, rng).score(x, t, *out);
  }
  for (Index b = 0; b < 4; ++b) {
    EXPECT_NEAR((s1.row(b) * sde->s(t[b]) - s0.row(b)).norm(), 0.0, 1e-14);
    EXPECT_NEAR((s2.row(b) * std::sqrt(sde->g2(t[b])) - s0.row(b)).norm(), 0.0, 1e-14);
  }
}

// Central differences of the score, summed over the diagonal.
TEST(DeepMlp, ExactDivergenceMatchesFiniteDifferences) {
  for (auto feature : {TimeFeature::Raw, TimeFeature::Fourier}) {
    Rng rng(4);
    const DeepMlp m(3, small(feature, OutputParametrization::GTimesScore), vp(), rng);
    const Matrix x = points(5, 3, 5);
    const Vector t = times(5);
    const Vector div = m.divergence(x, t.mean());
    const double h = 1e-5;
    for (Index b = 0; b < 5; ++b) {
      double fd = 0.0;
      for (Index j = 0; j < 3; ++j) {
        Matrix up = x.row(b), down = x.row(b);
        up(0, j) += h;
        down(0, j) -= h;
        fd += (m.score(up, t.mean())(0, j) - m.score(down, t.mean())(0, j)) / (2.0 * h);
      }
      EXPECT_NEAR(div[b], fd, 1e-6 * std::max(1.0, std::abs(fd))) << b;
    }
  }
}

// The gradient of a quadratic loss on the score against central differences
// in every parameter.
TEST(DeepMlp, GradientMatchesFiniteDifferences) {
  Rng rng(6);
  DeepMlp m(2, small(TimeFeature::Fourier, OutputParametrization::ScoreTimesStd), vp(), rng);
  const Matrix x = points(6, 2, 7), target = points(6, 2, 8);
  const Vector t = times(6);
  const LossHead head = [&](const Matrix& S, Matrix& dS) {
    dS = (S - target) / static_cast<double>(S.rows());
    return 0.5 * (S - target).squaredNorm() / static_cast<double>(S.rows());
  };
  Vector grad, unused;
  m.loss_and_gradient(x, t, head, grad);
  ASSERT_EQ(grad.size(), m.num_parameters());
  const double h = 1e-6;
  for (Index i = 0; i < m.num_parameters(); ++i) {
    const double keep = m.parameters()[i];
    m.parameters()[i] = keep + h;
    const double up = m.loss_and_gradient(x, t, head, unused);
    m.parameters()[i] = keep - h;
    const double down = m.loss_and_gradient(x, t, head, unused);
    m.parameters()[i] = keep;
    EXPECT_NEAR(grad[i], (up - down) / (2.0 * h), 1e-6 * std::max(1.0, std::abs(grad[i]))) << "parameter " << i;
  }
}

TEST(DeepMlp, BadOptionsAndInputsAreRefused) {
  Rng rng(9);
  DeepMlpOptions o;
  o.hidden = {};
  EXPECT_THROW(DeepMlp(2, o, vp(), rng), ConfigError);
  o.hidden = {8};
  o.time_feature = TimeFeature::Fourier;
  o.embed_dim = 3;
  EXPECT_THROW(DeepMlp(2, o, vp(), rng), ConfigError);
  const DeepMlp m(9, DeepMlpOptions{{4}}, vp(), rng);
  EXPECT_FALSE(m.has_exact_divergence());
  EXPECT_THROW(m.divergence(points(2, 9, 1), 0.5), std::logic_error);
  EXPECT_THROW(m.score(points(2, 3, 1), 0.5), std::logic_error);
}

TEST(DeepMlp, CloneHasTheSameScores) {
  Rng rng(10);
  DeepMlp m(2, small(TimeFeature::Fourier, OutputParametrization::GTimesScore), vp(), rng);
  const auto copy = m.clone();
  const Matrix x = points(3, 2, 11);
  EXPECT_EQ(m.score(x, 0.3), copy->score(x, 0.3));
}

// The authors' network (3 × 128, raw t, g-times-score) on a full batch of 200.
struct ChenBatch {
  Matrix x = points(200, 2, 12), target = points(200, 2, 13);
  Vector t = times(200);
  LossHead head = [this](const Matrix& S, Matrix& dS) {
    dS = (S - target) / static_cast<double>(S.rows());
    return 0.5 * (S - target).squaredNorm() / static_cast<double>(S.rows());
  };
};

// The batch is split into chunks of rows whose gradients are added: the
// gradient of 200 rows is the row-weighted sum of the gradients of any split
// (here 37 + 163 rows, across the chunk bounds), to rounding, and the scores
// and the loss are those of score().
TEST(DeepMlp, ChunkedGradientIsTheWholeBatchGradient) {
  Rng rng(15);
  DeepMlp m(2, DeepMlpOptions{}, vp(), rng);
  ChenBatch batch;
  ASSERT_GT(DeepMlp::training_chunk_rows(200), 1);
  ASSERT_LT(DeepMlp::training_chunk_rows(200), 200);
  Vector grad, part1, part2;
  const double loss = m.loss_and_gradient(batch.x, batch.t, batch.head, grad);
  Matrix S;
  m.score(batch.x, batch.t, S);
  EXPECT_NEAR(loss, 0.5 * (S - batch.target).squaredNorm() / 200.0, 1e-13 * loss);
  auto half = [&](Index begin, Index rows, Vector& g) {
    ChenBatch part;
    part.x = batch.x.middleRows(begin, rows);
    part.target = batch.target.middleRows(begin, rows);
    part.t = batch.t.segment(begin, rows);
    m.loss_and_gradient(part.x, part.t, part.head, g);
    g *= static_cast<double>(rows) / 200.0;
  };
  half(0, 37, part1);
  half(37, 163, part2);
  EXPECT_LE((grad - part1 - part2).cwiseAbs().maxCoeff(), 1e-13 * grad.cwiseAbs().maxCoeff());
}

// Threads share the chunks; which thread runs a chunk changes nothing.
TEST(DeepMlp, GradientIsBitIdenticalForAnyThreadCount) {
  Rng rng(16);
  DeepMlp m(2, DeepMlpOptions{}, vp(), rng);
  ChenBatch batch;
  Vector reference, grad;
  const int before = num_threads();
  set_num_threads(1);
  const double loss = m.loss_and_gradient(batch.x, batch.t, batch.head, reference);
  for (int threads : {2, 3, 4}) {
    set_num_threads(threads);
    EXPECT_EQ(m.loss_and_gradient(batch.x, batch.t, batch.head, grad), loss) << threads;
    EXPECT_EQ(grad, reference) << threads;
  }
  set_num_threads(before);
}

// score() and divergence() walk the batch in blocks of rows: rows on either
// side of a block bound get what they get in a batch of their own.
TEST(DeepMlp, BlocksOfRowsGiveTheScoresAndDivergencesOfSmallerBatches) {
  Rng rng(17);
  const DeepMlp m(2, DeepMlpOptions{}, vp(), rng);
  const Matrix x = points(150, 2, 18);
  const Vector t = times(150);
  Matrix all, part;
  Vector div_all, div_part;
  m.score(x, t, all);
  m.divergence(x, t, div_all);
  for (auto [begin, rows] : {std::pair<Index, Index>{0, 37}, {37, 113}, {60, 8}, {149, 1}}) {
    m.score(x.middleRows(begin, rows), t.segment(begin, rows), part);
    m.divergence(x.middleRows(begin, rows), t.segment(begin, rows), div_part);
    for (Index b = 0; b < rows; ++b) {
      EXPECT_NEAR((all.row(begin + b) - part.row(b)).norm(), 0.0, 1e-13 * all.row(begin + b).norm()) << begin + b;
      EXPECT_NEAR(div_all[begin + b], div_part[b], 1e-12 * std::abs(div_all[begin + b])) << begin + b;
    }
  }
}

}  // namespace
}  // namespace diffgen
