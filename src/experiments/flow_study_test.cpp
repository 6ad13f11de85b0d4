// The machinery of the flow studies (gradient-flow, rates): the τ grid, KL
// along the exact gradient flow and its refined minimum, the stopping time,
// the exact JSON round trip of a curve, nested training sets and narrower
// models made of a wider one's features, and the settings' checks. Also
// covers flow_study_settings.cpp.
#include "experiments/flow_study.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "experiments/experiment.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;
constexpr double kInf = std::numeric_limits<double>::infinity();

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

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

TEST(StoppingTime, IsTheBestTimeOnlyWhenStoppingThereBeatsTheLimit) {
  EXPECT_EQ(stopping_time(1e3, 0.5, 1.0), 1e3);
  EXPECT_EQ(stopping_time(1e3, 1.0, 1.0), kInf);            // no better than the end
  EXPECT_EQ(stopping_time(1e3, 0.99995, 1.0), kInf);        // better by less than 0.1%
  EXPECT_EQ(stopping_time(1e3, 0.998, 1.0), 1e3);           // better by 0.2%
  EXPECT_EQ(stopping_time(1e3, 0.998, 1.0, 0.01), kInf);    // ... but not by 1%
  EXPECT_EQ(stopping_time(1e13, -2.0, -1.0), 1e13);         // negative values (a loss minus its infimum can be)
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
  // The test loss's minimum is no higher than any grid point's.
  for (const auto& p : curve.grid) EXPECT_LE(curve.best_test.test_loss, p.test_loss);
  // The grid, the limit, the golden section's 2 + refine_steps points, and KL at the test loss's minimum.
  EXPECT_LE(curve.kl_evaluations, static_cast<Index>(options.tau.size()) + 1 + 2 + options.refine_steps + 1);
  // At the limit the flow has minimized its own loss: the training loss is lowest there.
  EXPECT_LE(curve.limit.train_loss, curve.grid.front().train_loss);
}

TEST(FlowCurveJson, RoundTripsEveryDoubleAndInfinity) {
  FlowCurve c;
  c.grid = {{1e-2, 0.1 + 0.2, 1.0 / 3.0, -0.0}, {1e14, 5e-324, 1e300, std::nan("")}};
  c.best = {3.7, 0.01, 0.2, 0.3};
  c.best_test = {5.1, 0.02, 0.25, 0.28};
  c.limit = {kInf, 0.05, 0.1, 0.4};
  c.kl_evaluations = 17;
  const FlowCurve back = flow_curve_from_json(flow_curve_to_json(c));
  ASSERT_EQ(back.grid.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i)
    for (const auto m : {&FlowPoint::tau, &FlowPoint::kl_a, &FlowPoint::train_loss, &FlowPoint::test_loss})
      EXPECT_TRUE(same_bits(back.grid[i].*m, c.grid[i].*m)) << i;
  EXPECT_TRUE(same_bits(back.limit.tau, kInf));
  EXPECT_EQ(back.best.tau, 3.7);
  EXPECT_EQ(back.best_test.test_loss, 0.28);
  EXPECT_EQ(back.kl_evaluations, 17);
}

FlowStudySettings settings_of(const std::string& experiment, std::vector<std::string> assignments = {}) {
  Config config(find_experiment(experiment)->schema());
  for (const auto& a : assignments) config.set_from_assignment(a);
  return flow_study_settings(config, {});
}

TEST(FlowData, SmallerTrainingSetsAreNestedInLargerOnes) {
  const FlowStudySettings s = settings_of("rates");
  const Vector small = flow_data(s, 1, 20), large = flow_data(s, 1, 50);
  EXPECT_EQ(small, large.head(20));
  EXPECT_NE(flow_data(s, 2, 20), small);  // another seed, another set
}

TEST(FlowModel, ANarrowerModelIsTheWiderOnesFirstFeatures) {
  const FlowStudySettings s = settings_of("rates");
  const RandomFeatureModel wide = flow_model(s, 0, 32), narrow = flow_model(s, 0, 8);
  Matrix x(5, 1);
  x.col(0) = Vector::LinSpaced(5, -3.0, 3.0);
  const Vector t = Vector::Constant(5, 0.3);
  EXPECT_EQ(narrow.features(x, t), wide.features(x, t).leftCols(8));
}

TEST(FlowStudySettings, TheGridIsBuiltAndContradictionsNameTheKeys) {
  const FlowStudySettings s = settings_of("gradient-flow", {"tau.min=1", "tau.max=1e4", "tau.per_decade=2"});
  EXPECT_EQ(s.tau.size(), 9u);
  const auto refused = [](const std::vector<std::string>& assignments, const std::string& key) {
    try {
      settings_of("gradient-flow", assignments);
      ADD_FAILURE() << key << ": accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr(key));
    }
  };
  refused({"tau.min=1e5", "tau.max=1e4"}, "tau.min");
  refused({"kl.t0=2"}, "kl.t0");
  refused({"kl.lo=1", "kl.hi=0"}, "kl.lo");
  refused({"kl.lo=-2", "kl.hi=2"}, "kl.lo");  // misses the target's mass
  // Li2023's fixed grid [-10, 10] misses modes at +-20 whatever kl.lo/kl.hi say.
  refused({"target.mu=20", "kl.lo=-30", "kl.hi=30", "kl.method=paper-grid"}, "kl.method = paper-grid");
}

}  // namespace
}  // namespace diffgen
