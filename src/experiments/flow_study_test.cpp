#include "experiments/flow_study.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "numerics/quadrature.hpp"

namespace diffgen {
namespace {

RandomFeatureModel make_model(Index m, std::uint64_t seed, double embed_scale = 1.0) {
  Rng rng = Rng::stream(seed, {kStreamInit});
  return RandomFeatureModel(1, RandomFeatureOptions{.width = m, .embed_dim = 4, .embed_scale = embed_scale}, rng);
}

TEST(TauGrid, IsLogSpacedWithBothEnds) {
  const auto g = log_tau_grid(1e-2, 1e3, 4);
  ASSERT_EQ(g.size(), 21u);
  EXPECT_DOUBLE_EQ(g.front(), 1e-2);
  EXPECT_DOUBLE_EQ(g.back(), 1e3);
  for (std::size_t i = 1; i < g.size(); ++i) EXPECT_NEAR(g[i] / g[i - 1], std::pow(10.0, 0.25), 1e-12);
  EXPECT_THROW(log_tau_grid(0.0, 1.0, 4), ConfigError);
  EXPECT_THROW(log_tau_grid(2.0, 1.0, 4), ConfigError);
  EXPECT_THROW(log_tau_grid(1.0, 2.0, 0), ConfigError);
}

TEST(EvaluateFlow, FindsTheMinimumOfKlAlongTheFlow) {
  const Index m = 64;
  RandomFeatureModel model = make_model(m, 9, 0.5);
  const auto sde = std::make_shared<VeSde>(25.0);
  const GaussianMixture target = GaussianMixture::symmetric_two_mode(3.0, 1.0);
  Rng rng = Rng::stream(9, {kStreamData});
  const Matrix data = target.sample(100, rng);
  const QuadraticDsmLoss emp = expected_dsm_loss(model, *sde, CleanLaw::from_points(data.col(0)), {1e-5, 32});
  const QuadraticDsmLoss pop = expected_dsm_loss(model, *sde, CleanLaw::from_mixture(target), {1e-5, 32});
  const ExactGradientFlow flow(emp, Matrix::Zero(1, m));
  FlowCurveOptions options;
  options.kl.grid = Grid{-12, 12, 401};
  options.tau = log_tau_grid(1e2, 1e12, 2);
  Index ticks = 0;
  const FlowCurve curve =
      evaluate_flow(flow, emp, &pop, model, target, *sde, options, [&](Index units) { ticks += units; });
  ASSERT_EQ(curve.grid.size(), options.tau.size());
  EXPECT_EQ(ticks, static_cast<Index>(options.tau.size()));
  double grid_min = curve.grid[0].kl_a;
  for (const auto& p : curve.grid) {
    grid_min = std::min(grid_min, p.kl_a);
    const Matrix A = flow.at(p.tau);
    EXPECT_EQ(p.train_loss, emp.value(A));
    EXPECT_EQ(p.test_loss, pop.value(A));
    // Training lowers the training loss below the test loss once it has fitted the n points.
  }
  EXPECT_LE(curve.best.kl_a, grid_min);
  EXPECT_GT(curve.best.tau, options.tau.front() / 1.0001);
  EXPECT_TRUE(std::isinf(curve.limit.tau));
  model.coefficients() = flow.minimizer();
  EXPECT_EQ(curve.limit.kl_a, kl_score_integrated(model, target, *sde, options.kl).kl);
  // The refined minimum is a local minimum on a finer look around it.
  for (double f : {0.9, 1.1}) {
    model.coefficients() = flow.at(curve.best.tau * f);
    EXPECT_GE(kl_score_integrated(model, target, *sde, options.kl).kl, curve.best.kl_a - 1e-12);
  }
  // The grid, the limit, the golden section's 2 + refine_steps points, and KL at the test loss's minimum.
  EXPECT_LE(curve.kl_evaluations, static_cast<Index>(options.tau.size()) + 1 + 2 + options.refine_steps + 1);
  // At the limit the flow has minimized its own loss: the training loss is lowest there.
  EXPECT_LE(curve.limit.train_loss, curve.grid.front().train_loss);
}

}  // namespace
}  // namespace diffgen
