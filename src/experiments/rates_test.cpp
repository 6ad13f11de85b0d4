// rates: the fitted quantities on flows with known power laws (every slope
// is recovered exactly, a censored stopping time is left out), and a small
// run whose floors equal their independent computations. Also covers
// rates_report.cpp and rates_plots.cpp (through the run's outputs).
#include "experiments/rates.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/io.hpp"
#include "experiments/run.hpp"
#include "metrics/kl.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
// KL (a) by score integration on 401 nodes against its closed form.
constexpr double kScoreIntegration = 1e-7;
constexpr double kExactFit = 1e-9;  // slopes of exact power laws, up to rounding

// Three seeds whose curves follow power laws exactly: best KL c_k n^-0.4 over
// a reference (the population flow) of 0, stopping time 100 n^0.4, score
// error 2 c_k n^-0.4 (test-loss minimum at 10 n); population flows at the
// smoothing floor + c_k m^-0.8.
RatesResults power_law_results(const FlowStudySettings& s) {
  RatesResults r;
  r.infimum = 0.5;
  r.smoothing_floor = 0.001;
  for (const double c : {1.0, 1.5, 0.7}) {
    RatesSeed seed;
    seed.reference.best = {1e3, 0.0, 0.0, r.infimum};
    seed.reference.best_test = {1e3, 0.0, 0.0, r.infimum};
    seed.reference_done = true;
    for (const Index n : s.n_values) {
      const double x = static_cast<double>(n);
      FlowCurve curve;
      curve.best = {100.0 * std::pow(x, 0.4), c * std::pow(x, -0.4), 0.0, r.infimum + 3.0 * c * std::pow(x, -0.4)};
      curve.best_test = {10.0 * x, 0.0, 0.0, r.infimum + 2.0 * c * std::pow(x, -0.4)};
      curve.limit = {std::numeric_limits<double>::infinity(), 2.0 * curve.best.kl_a, 0.0,
                     r.infimum + 4.0 * c * std::pow(x, -0.4)};
      seed.n_curves.push_back(curve);
      seed.n_done.push_back(1);
    }
    for (const Index m : s.m_values) {
      FlowCurve curve;
      const double e = c * std::pow(static_cast<double>(m), -0.8);
      curve.best = {1e9, r.smoothing_floor + e, 0.0, r.infimum + e};
      curve.best_test = curve.best;
      curve.limit = curve.best;
      seed.m_curves.push_back(curve);
      seed.m_done.push_back(1);
    }
    r.seeds.push_back(seed);
  }
  return r;
}

FlowStudySettings rates_settings(std::vector<std::string> assignments = {}) {
  Config config(find_experiment("rates")->schema());
  for (const auto& a : assignments) config.set_from_assignment(a);
  return flow_study_settings(config, {});
}

TEST(RatesQuantities, RecoverTheSlopesOfExactPowerLaws) {
  const FlowStudySettings s = rates_settings();
  const auto q = rates_quantities(s, power_law_results(s));
  for (const auto& [key, slope] : std::vector<std::pair<std::string, double>>{{"best_kl_n", -0.4},
                                                                              {"excess_kl_n", -0.4},
                                                                              {"excess_score_error_n", -0.4},
                                                                              {"best_kl_m", std::nan("")},
                                                                              {"excess_kl_m", -0.8},
                                                                              {"score_error_m", -0.8},
                                                                              {"tau_kl_n", 0.4},
                                                                              {"tau_test_n", 1.0}}) {
    const SeedSlopes& fit = find_quantity(q, key).fit;
    if (std::isnan(slope)) continue;  // the floor bends best_kl_m: no exact power law
    EXPECT_NEAR(fit.headline_slope(), slope, kExactFit) << key;
    EXPECT_EQ(fit.slope.count, 3) << key;
    EXPECT_NEAR(fit.of_mean.slope, slope, kExactFit) << key;
  }
  EXPECT_THAT(rates_slope_text(find_quantity(q, "excess_kl_m").fit), ::testing::StartsWith("-0.8 "));
}

TEST(RatesQuantities, ASeedWithoutAStoppingTimeIsCensoredNotFitted) {
  const FlowStudySettings s = rates_settings();
  RatesResults r = power_law_results(s);
  // Seed 1 at the largest n: training to the end is as good as stopping.
  r.seeds[1].n_curves.back().limit.kl_a = r.seeds[1].n_curves.back().best.kl_a;
  const auto q = rates_quantities(s, r);
  const auto& tau = find_quantity(q, "tau_kl_n");
  EXPECT_TRUE(std::isnan(tau.per_seed[1].back()));
  // Still fitted on its other n (partial fits for times), to the same slope.
  EXPECT_NEAR(tau.fit.headline_slope(), 0.4, kExactFit);
}

TEST(RatesRun, TheFloorsEqualTheirIndependentComputations) {
  const TempDir temp;
  const fs::path& dir = temp.path();
  Config config(find_experiment("rates")->schema());
  for (const char* a : {"n_values=[20, 40, 80]", "m_values=[8, 16, 32]", "model.random_features.width=16",
                        "t_nodes=8", "tau.min=1.0", "tau.max=1e6", "tau.per_decade=1", "kl.points=401"})
    config.set_from_assignment(a);
  RunOptions options;
  options.out_dir = dir;
  run_experiment(*find_experiment("rates"), config, options);
  const Json summary = Json::parse(read_text_file(dir / "summary.json"));
  const FlowStudySettings s = flow_study_settings(config, {});
  const auto sde = make_sde(s.sde);
  const GaussianMixture target = s.target();
  // The floor is KL (a) of the exact score, by the score integration every
  // model is measured with; the closed form differs by that route's
  // quadrature error (4e-9 on 401 nodes).
  EXPECT_NEAR(summary.at("smoothing_floor").get<double>(),
              kl_smoothing_floor(target, 1.0, sde->s(s.kl.t0), s.kl.grid), kScoreIntegration);
  EXPECT_EQ(summary.at("dsm_loss_infimum").get<double>(), dsm_loss_infimum(target, *sde, s.expected()));
  EXPECT_EQ(summary.at("fits").size(), 8u);
  const std::string report = read_text_file(dir / "report.md");
  EXPECT_THAT(report, HasSubstr("Theorem 1"));
  EXPECT_THAT(report, ::testing::Not(HasSubstr("{{")));
}

}  // namespace
}  // namespace diffgen
