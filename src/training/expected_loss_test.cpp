#include "training/expected_loss.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "numerics/quadrature.hpp"
#include "training/dsm_loss.hpp"

namespace diffgen {
namespace {

RandomFeatureModel make_model(Index m, std::uint64_t seed, double embed_scale = 1.0) {
  Rng rng = Rng::stream(seed, {kStreamInit});
  return RandomFeatureModel(1, RandomFeatureOptions{.width = m, .embed_dim = 4, .embed_scale = embed_scale}, rng);
}

// E[φφᵀ] and E[zφ] by brute force: a fine trapezoid rule in x over the law
// of x_t, with E[z | x_t = x] = −s ∇log p_t(x) from the mixture's exact score.
FeatureMoments brute_force(const RandomFeatureModel& model, const GaussianMixture& law_t, double t, double s, double lo,
                           double hi) {
  const Index nodes = 400001;
  const double h = (hi - lo) / static_cast<double>(nodes - 1);
  Matrix x(nodes, 1);
  for (Index j = 0; j < nodes; ++j) x(j, 0) = lo + h * static_cast<double>(j);
  const Vector p = law_t.log_density(x, 1.0, 0.0).array().exp();
  const Matrix score = law_t.score(x, 1.0, 0.0);
  const Matrix phi = model.features(x, Vector::Constant(nodes, t));
  Vector w = Vector::Constant(nodes, h);
  w[0] = w[nodes - 1] = 0.5 * h;
  FeatureMoments out;
  out.second = phi.transpose() * (w.cwiseProduct(p)).asDiagonal() * phi;
  out.noise_cross = phi.transpose() * (w.cwiseProduct(p).cwiseProduct(-s * score.col(0)));
  return out;
}

void expect_moments_match(const FeatureMoments& exact, const FeatureMoments& brute) {
  const double scale2 = brute.second.cwiseAbs().maxCoeff(), scale1 = brute.noise_cross.cwiseAbs().maxCoeff();
  ASSERT_GT(scale2, 0.1);
  ASSERT_GT(scale1, 1e-3);
  EXPECT_LT((exact.second - brute.second).cwiseAbs().maxCoeff(), 1e-7 * scale2) << exact.second << "\nvs\n"
                                                                                << brute.second;
  EXPECT_LT((exact.noise_cross - brute.noise_cross).cwiseAbs().maxCoeff(), 1e-7 * scale1)
      << exact.noise_cross.transpose() << "\nvs\n"
      << brute.noise_cross.transpose();
  EXPECT_LT((exact.second - exact.second.transpose()).norm(), 1e-15 * scale2);
}

TEST(FeatureMoments, MatchBruteForceQuadratureOnAGaussianMixture) {
  const RandomFeatureModel model = make_model(12, 3);
  const GaussianMixture target = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  // Kinks in the bulk of the law, or the test would only see linear pieces.
  const double t = 0.3, a = 0.8, s = 0.6;
  const Vector c = model.time_weights() * model.embedding()(t).transpose();
  int inside = 0;
  for (Index i = 0; i < 12; ++i) {
    const double kink = -c[i] / model.input_weights()(i, 0);
    inside += std::abs(kink) < 4.0 ? 1 : 0;
  }
  ASSERT_GE(inside, 4);
  const FeatureMoments exact = feature_moments(model, CleanLaw::from_mixture(target), t, a, s);
  // The law of x_t: each mode N(a μ, a² v + s²).
  const GaussianMixture law_t(Vector::Constant(2, 0.5), (Matrix(2, 1) << -3.0 * a, 3.0 * a).finished(),
                              Matrix::Constant(2, 1, a * a + s * s));
  expect_moments_match(exact, brute_force(model, law_t, t, s, -16, 16));
}

TEST(FeatureMoments, MatchBruteForceQuadratureOnPointMasses) {
  const RandomFeatureModel model = make_model(12, 4);
  Rng rng = Rng::stream(4, {kStreamData});
  Vector points(25);
  for (Index i = 0; i < points.size(); ++i) points[i] = 3.0 * rng.normal();
  for (double s : {0.05, 0.4, 3.0}) {
    const double t = 0.2, a = 1.0;
    const FeatureMoments exact = feature_moments(model, CleanLaw::from_points(points), t, a, s);
    Matrix centres(points.size(), 1);
    centres.col(0) = a * points;
    const GaussianMixture law_t(Vector::Constant(points.size(), 1.0 / points.size()), centres,
                                Matrix::Constant(points.size(), 1, s * s));
    const double reach = points.cwiseAbs().maxCoeff() * a + 12 * s;
    expect_moments_match(exact, brute_force(model, law_t, t, s, -reach, reach));
  }
}

TEST(FeatureMoments, RefuseWhatTheyCannotCompute) {
  const RandomFeatureModel model = make_model(4, 1);
  const CleanLaw law = CleanLaw::from_points(Vector::Ones(3));
  EXPECT_THROW(feature_moments(model, law, 0.1, 1.0, 0.0), ConfigError);
  EXPECT_THROW(CleanLaw::from_points(Vector()), ConfigError);
  Rng rng(1);
  const RandomFeatureModel two_d(2, RandomFeatureOptions{.width = 4}, rng);
  EXPECT_THROW(feature_moments(two_d, law, 0.1, 1.0, 0.5), ConfigError);
  const GaussianMixture mixture_2d(Vector::Ones(1), Matrix::Zero(1, 2), Matrix::Ones(1, 2));
  EXPECT_THROW(CleanLaw::from_mixture(mixture_2d), ConfigError);
}

// The exact loss against the DSM loss averaged over a large draw set from the
// same law (THEORY.md §3): equal within the Monte Carlo standard error.
TEST(ExpectedDsmLoss, EqualsTheMonteCarloDsmLossWithinItsStandardError) {
  const Index m = 16;
  RandomFeatureModel model = make_model(m, 5);
  const VeSde sde(25.0);
  const GaussianMixture target = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  const double eps = 1e-3;
  Rng data_rng = Rng::stream(5, {kStreamData});
  const Matrix data = target.sample(40, data_rng);
  for (const bool population : {true, false}) {
    const CleanLaw law = population ? CleanLaw::from_mixture(target) : CleanLaw::from_points(data.col(0));
    const QuadraticDsmLoss exact = expected_dsm_loss(model, sde, law, {eps, 64});
    Matrix A(1, m);
    Rng a_rng = Rng::stream(6, {kStreamInit});
    a_rng.fill_normal(A);
    A *= 20.0;  // a model far from zero, so the loss's quadratic part matters
    model.coefficients() = A;
    const Index N = 400000;
    Rng rng = Rng::stream(population ? 8 : 9, {kStreamTrain});
    DsmBatch batch;
    batch.x0 = population ? target.sample(N, rng) : Matrix(N, 1);
    if (!population)
      for (Index j = 0; j < N; ++j) batch.x0(j, 0) = data(static_cast<Index>(rng.below(40)), 0);
    draw_dsm_noise(sde, eps, rng, batch);
    Matrix S;
    model.score(batch.x_t, batch.t, S);
    const Vector per = ((batch.s_t.array() * S.col(0).array()) + batch.z.col(0).array()).square();
    const double mean = per.mean();
    const double se = std::sqrt((per.array() - mean).square().sum() / (N - 1) / N);
    EXPECT_NEAR(exact.value(A), mean, 4.0 * se) << (population ? "population" : "empirical");
    EXPECT_LT(se, 0.01 * mean);  // the test can tell a wrong constant or scale
    EXPECT_EQ(exact.c0, 1.0);
    EXPECT_NEAR(exact.value(Matrix::Zero(1, m)), 1.0, 0.0);
  }
}

TEST(ExpectedDsmLoss, ConvergesInTheNumberOfTimeNodes) {
  const RandomFeatureModel model = make_model(32, 6, 0.5);
  const VeSde sde(25.0);
  Rng rng = Rng::stream(6, {kStreamData});
  const Matrix data = GaussianMixture::symmetric_two_mode(3.0, 1.0).sample(200, rng);
  const CleanLaw law = CleanLaw::from_points(data.col(0));
  const QuadraticDsmLoss a = expected_dsm_loss(model, sde, law, {1e-5, 64});
  const QuadraticDsmLoss b = expected_dsm_loss(model, sde, law, {1e-5, 128});
  const QuadraticDsmLoss c = expected_dsm_loss(model, sde, law, {1e-5, 16});
  const double gap_64 = (a.G - b.G).norm() / b.G.norm(), gap_16 = (c.G - b.G).norm() / b.G.norm();
  EXPECT_LT(gap_64, 1e-6);
  EXPECT_LT((a.B - b.B).norm(), 1e-6 * b.B.norm());
  EXPECT_GT(gap_16, 10 * gap_64);  // the error does fall with the node count
}

TEST(ExpectedDsmLoss, IsBitIdenticalForAnyThreadCount) {
  const RandomFeatureModel model = make_model(24, 7);
  const VeSde sde(25.0);
  const CleanLaw law = CleanLaw::from_mixture(GaussianMixture::symmetric_two_mode(2.0, 0.5));
  // parallel_for is deterministic by construction; this checks the chunked sum uses it so.
  const QuadraticDsmLoss a = expected_dsm_loss(model, sde, law, {1e-5, 40});
  const QuadraticDsmLoss b = expected_dsm_loss(model, sde, law, {1e-5, 40});
  EXPECT_EQ(a.G, b.G);
  EXPECT_EQ(a.B, b.B);
  EXPECT_THROW(expected_dsm_loss(model, sde, law, {0.0, 40}), ConfigError);
  EXPECT_THROW(expected_dsm_loss(model, sde, law, {1e-5, 0}), ConfigError);
  EXPECT_THROW(expected_dsm_loss(model, sde, law, {2.0, 8}), ConfigError);
}

TEST(DsmLossInfimum, MatchesTheFisherInformationOfAGaussian) {
  // For N(μ, v): p_t = N(a μ, a² v + s²), I(p_t) = 1 / (a² v + s²).
  const GaussianMixture gaussian(Vector::Ones(1), Matrix::Constant(1, 1, 2.0), Matrix::Constant(1, 1, 0.7));
  for (const SdeKind kind : {SdeKind::Ve, SdeKind::Vp}) {
    SdeOptions o;
    o.kind = kind;
    const auto sde = make_sde(o);
    const ExpectedLossOptions options{1e-5, 48};
    Vector v, w;
    gauss_legendre_unit(48, v, w);
    double expected = 0.0;
    for (Index k = 0; k < 48; ++k) {
      const double t = 1e-5 + (sde->T() - 1e-5) * v[k] * v[k], a = sde->a(t), s2 = sde->s2(t);
      expected += 2 * v[k] * w[k] * s2 / (a * a * 0.7 + s2);
    }
    EXPECT_NEAR(dsm_loss_infimum(gaussian, *sde, options), 1.0 - expected, 1e-12) << enum_name(kind);
  }
}

TEST(DsmLossInfimum, LiesBelowTheLossOfEveryRandomFeatureModel) {
  const VeSde sde(25.0);
  const GaussianMixture target = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  const ExpectedLossOptions options{1e-5, 64};
  const double inf = dsm_loss_infimum(target, sde, options);
  EXPECT_GT(inf, 0.0);
  EXPECT_LT(inf, 1.0);
  const RandomFeatureModel model = make_model(128, 11, 0.5);
  const QuadraticDsmLoss loss = expected_dsm_loss(model, sde, CleanLaw::from_mixture(target), options);
  const ExactGradientFlow flow(loss, Matrix::Zero(1, 128));
  const double best = loss.value(flow.minimizer());
  // The best random-feature score is close to the true one, never below it.
  EXPECT_GT(best, inf);
  EXPECT_LT(best - inf, 0.05 * (1.0 - inf));
  Rng rng(3);
  for (int i = 0; i < 5; ++i) {
    Matrix A(1, 128);
    rng.fill_normal(A);
    EXPECT_GT(loss.value(flow.minimizer() + A), best);
  }
  EXPECT_THROW(dsm_loss_infimum(GaussianMixture::empirical(Matrix::Ones(3, 1)), sde, options), ConfigError);
}

TEST(LeadingFeatures, EqualTheLossOfTheNarrowerModelFromTheSameStream) {
  const VeSde sde(25.0);
  const CleanLaw law = CleanLaw::from_mixture(GaussianMixture::symmetric_two_mode(3.0, 1.0));
  const RandomFeatureModel wide = make_model(40, 8), narrow = make_model(15, 8);
  ASSERT_EQ(narrow.input_weights(), wide.input_weights().topRows(15));
  const QuadraticDsmLoss full = expected_dsm_loss(wide, sde, law, {1e-5, 24});
  const QuadraticDsmLoss direct = expected_dsm_loss(narrow, sde, law, {1e-5, 24});
  const QuadraticDsmLoss cut = leading_features(full, 15);
  EXPECT_LT((cut.G - direct.G).cwiseAbs().maxCoeff(), 1e-13 * direct.G.cwiseAbs().maxCoeff());
  EXPECT_LT((cut.B - direct.B).cwiseAbs().maxCoeff(), 1e-13 * direct.B.cwiseAbs().maxCoeff());
  EXPECT_THROW(leading_features(full, 41), ConfigError);
}

}  // namespace
}  // namespace diffgen
