#include "likelihood/score_integration.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "models/oracles.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen {
namespace {

struct Fixture {
  std::shared_ptr<const Sde> sde = std::make_shared<VeSde>(25.0);
  std::shared_ptr<const GaussianMixture> target =
      std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0));
  std::unique_ptr<TargetScore> oracle = make_population_oracle(target, sde);
};

TEST(ScoreIntegration, PopulationOracleRecoversTheSmoothedTarget) {
  // ∫ ∇log p_t0 = log p_t0 + const, and p_t0 has mass 1 - O(e^-40) on
  // [-12, 12], so the normalized log q is log p_t0 itself.
  Fixture f;
  const ScoreIntegrationSummary q = integrate_score(*f.oracle);
  EXPECT_EQ(q.method, "fine");
  EXPECT_EQ(q.evaluations, 2401);
  const Vector exact = f.target->log_density(q.x, 1.0, f.sde->s(0.065));
  // Where q is not negligible (log p > -30), log q matches to quadrature accuracy.
  double worst = 0.0;
  for (Index i = 0; i < q.x.size(); ++i)
    if (exact[i] > -30.0) worst = std::max(worst, std::abs(q.log_q[i] - exact[i]));
  // h = 0.01: measured 1.8e-8, and the Richardson estimate says the same.
  EXPECT_LT(worst, 1e-7);
  EXPECT_GT(q.quadrature_error, 0.5 * worst);
  EXPECT_LT(q.quadrature_error, 2.0 * worst);
  ASSERT_EQ(q.log_q_coarse.size(), 1201);
}

TEST(ScoreIntegration, RichardsonEstimateTracksTheTrueErrorOnACoarseGrid) {
  // On a grid too coarse for the bumps of p_t0 the estimate must grow with
  // the error (and be of its order).
  Fixture f;
  ScoreIntegrationOptions o;
  o.grid.points = 49;  // h = 0.5
  const ScoreIntegrationSummary q = integrate_score(*f.oracle, o);
  const Vector exact = f.target->log_density(q.x, 1.0, f.sde->s(0.065));
  double worst = 0.0;
  for (Index i = 0; i < q.x.size(); ++i)
    if (exact[i] > -30.0) worst = std::max(worst, std::abs(q.log_q[i] - exact[i]));
  EXPECT_GT(worst, 1e-6);
  EXPECT_GT(q.quadrature_error, 0.1 * worst);
  EXPECT_LT(q.quadrature_error, 10.0 * worst);
}

TEST(ScoreIntegration, PaperGridMatchesTheSmoothedTargetUpToItsRiemannNormalization) {
  // The paper's log q_j are exact integrals of the exact score from -100,
  // normalized by a Riemann sum: log q_j = log p_t0(x_j) - log(0.4 Σ_k p_t0(x_k)).
  Fixture f;
  const ScoreIntegrationSummary q = integrate_score_paper_grid(*f.oracle, 0.065);
  EXPECT_EQ(q.method, "paper-grid");
  ASSERT_EQ(q.x.size(), 51);
  EXPECT_DOUBLE_EQ(q.x[0], -10.0);
  EXPECT_DOUBLE_EQ(q.x[50], 10.0);
  EXPECT_NEAR(q.x[1] - q.x[0], 0.4, 1e-14);
  const Vector log_p = f.target->log_density(q.x, 1.0, f.sde->s(0.065));
  const double log_riemann = std::log(log_p.array().exp().sum() * 0.4);
  // quad's tolerance is relative: 1.49e-8 |∫_{-100}^{x_j} s| ~ 1.49e-8 * 4400 ~ 7e-5.
  for (Index j = 0; j < 51; ++j) EXPECT_NEAR(q.log_q[j], log_p[j] - log_riemann, 1e-4) << q.x[j];
  EXPECT_NEAR(q.log_q.array().exp().sum() * 0.4, 1.0, 1e-12);
  EXPECT_LT(q.quadrature_error, 1e-4);
}

TEST(ScoreIntegration, IdenticalForOneAndTwoThreads) {
  Fixture f;
  ScoreIntegrationOptions o;
  o.grid.points = 4801;  // several parallel chunks
  set_num_threads(1);
  const ScoreIntegrationSummary a = integrate_score(*f.oracle, o);
  set_num_threads(2);
  const ScoreIntegrationSummary b = integrate_score(*f.oracle, o);
  set_num_threads(0);
  EXPECT_EQ(a.log_q, b.log_q);
  EXPECT_EQ(a.quadrature_error, b.quadrature_error);
}

TEST(ScoreIntegration, RejectsBadOptionsAndModels) {
  Fixture f;
  ScoreIntegrationOptions o;
  o.t0 = 0.0;
  EXPECT_THROW(integrate_score(*f.oracle, o), ConfigError);
  o = {};
  o.grid.points = 100;
  try {
    integrate_score(*f.oracle, o);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("grid.points = 100"), std::string::npos) << e.what();
  }
  Matrix data2 = Matrix::Zero(3, 2);
  data2(1, 0) = 1.0;
  const auto oracle2 = make_empirical_oracle(data2, f.sde);
  EXPECT_THROW(integrate_score(*oracle2), ConfigError);
  EXPECT_THROW(integrate_score_paper_grid(*oracle2), ConfigError);
}

}  // namespace
}  // namespace diffgen
