#include "sampling/score_denoiser.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "models/oracles.hpp"
#include "testing/known_problems.hpp"

namespace diffgen {
namespace {

using known::two_mode_1d;
using known::all_sdes;

TEST(ScoreModelDenoiser, SdeTimeInvertsTheSignalToNoiseRatio) {
  for (const auto& sde : all_sdes()) {
    const ScoreModelDenoiser f(make_population_oracle(two_mode_1d(), sde), sde);
    for (double tau : {1e-4, 0.01, 0.3, 0.9}) {
      const double t = sde->a(tau) * sde->a(tau) / sde->s2(tau);
      EXPECT_NEAR(f.sde_time(t), tau, 1e-12 * (1.0 + tau)) << sde->name();
    }
    // Outside the model's range the ends are used.
    EXPECT_EQ(f.sde_time(0.0), sde->T());
    EXPECT_EQ(f.sde_time(1e30), 1e-5);
    EXPECT_NEAR(f.t_min(), sde->a(sde->T()) * sde->a(sde->T()) / sde->s2(sde->T()), 1e-15);
  }
}

TEST(ScoreModelDenoiser, PopulationOracleGivesTheExactConditionalMean) {
  // Tweedie with the exact score of p_τ must reproduce the closed form E[X | Y_t = y].
  for (const auto& target : {two_mode_1d(), known::full_covariance_2d()}) {
    const MixtureDenoiser exact(target);
    for (const auto& sde : all_sdes()) {
      const ScoreModelDenoiser f(make_population_oracle(target, sde), sde);
      for (double t : {0.5, 4.0, 100.0}) {
        if (t < f.t_min()) continue;
        Matrix Y(3, target->dim());
        for (Index i = 0; i < Y.rows(); ++i)
          for (Index j = 0; j < Y.cols(); ++j) Y(i, j) = t * (0.7 * i - 1.0 + 0.3 * j) + std::sqrt(t) * (0.5 - j);
        const Matrix want = exact.mean(Y, t), got = f.mean(Y, t);
        EXPECT_LT((want - got).cwiseAbs().maxCoeff(), 1e-9 * (1.0 + want.cwiseAbs().maxCoeff()))
            << sde->name() << " t = " << t << " d = " << target->dim();
      }
    }
  }
}

TEST(ScoreModelDenoiser, CovarianceFromDivergenceAndFromDifferencesMatchesTheExactOne) {
  // d = 1 uses the model's exact divergence, d = 2 central differences of the score.
  for (const auto& target : {two_mode_1d(), known::full_covariance_2d()}) {
    const MixtureDenoiser exact(target);
    for (const auto& sde : all_sdes()) {
      const ScoreModelDenoiser f(make_population_oracle(target, sde), sde);
      for (double t : {0.5, 4.0, 30.0}) {
        if (t < f.t_min()) continue;
        Matrix Y(2, target->dim());
        Y.setConstant(0.3 * t);
        Y(1, 0) = -1.2 * t;
        Matrix m0, c0, m1, c1;
        exact.mean_and_covariance(Y, t, m0, c0);
        f.mean_and_covariance(Y, t, m1, c1);
        const double tol = target->dim() == 1 ? 1e-9 : 1e-6;
        EXPECT_LT((c0 - c1).cwiseAbs().maxCoeff(), tol * (1.0 + c0.cwiseAbs().maxCoeff()))
            << sde->name() << " t = " << t << " d = " << target->dim();
        EXPECT_LT((m0 - m1).cwiseAbs().maxCoeff(), 1e-9 * (1.0 + m0.cwiseAbs().maxCoeff()));
      }
    }
  }
}

TEST(ScoreModelDenoiser, BelowTheModelsRangeItAnswersAtTheHorizon) {
  // VE with σ = 25 reaches only t >= 1/s(1)² ≈ 0.0103; at t = 0 (y = 0) the
  // estimate is E[X | x_T = 0], close to E[X] = 0 for a symmetric target.
  auto sde = std::make_shared<VeSde>(25.0);
  const ScoreModelDenoiser f(make_population_oracle(two_mode_1d(), sde), sde);
  EXPECT_NEAR(f.t_min(), 1.0 / sde->s2(1.0), 1e-12);
  EXPECT_NEAR(f.mean(Matrix::Zero(1, 1), 0.0)(0, 0), 0.0, 1e-12);
  EXPECT_THROW(ScoreModelDenoiser(make_population_oracle(two_mode_1d(), sde), sde, 2.0), ConfigError);
}

TEST(DenoiserScoreModel, ExactDenoiserGivesThePopulationScoreAndDivergence) {
  // The way back: (a f_t(y) - x) / s² with the closed-form E[X | Y_t] is ∇log p_τ.
  for (const auto& target : {two_mode_1d(), known::full_covariance_2d()}) {
    auto exact = std::make_shared<MixtureDenoiser>(target);
    for (const auto& sde : all_sdes()) {
      const DenoiserScoreModel model(exact, sde);
      const auto oracle = make_population_oracle(target, sde);
      Matrix X(3, target->dim());
      X.setConstant(0.4);
      X(1, 0) = -2.0;
      X(2, 0) = 3.5;
      Vector t(3);
      t << 0.01, 0.3, 0.9;
      Matrix s0, s1;
      Vector d0, d1;
      oracle->score_and_divergence(X, t, s0, d0);
      model.score_and_divergence(X, t, s1, d1);
      EXPECT_LT((s0 - s1).cwiseAbs().maxCoeff(), 1e-8 * (1.0 + s0.cwiseAbs().maxCoeff())) << sde->name();
      EXPECT_LT((d0 - d1).cwiseAbs().maxCoeff(), 1e-7 * (1.0 + d0.cwiseAbs().maxCoeff())) << sde->name();
      EXPECT_TRUE(model.has_exact_divergence());
    }
  }
}

}  // namespace
}  // namespace diffgen
