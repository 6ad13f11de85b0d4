// The growth exponent of mode-shift's best KL (a) against the mode distance:
// per-seed fits on synthetic curves whose minima follow known power laws, the
// spread over seeds, and the wording of each kind of interval.
#include "experiments/mode_shift_growth.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "numerics/statistics.hpp"

namespace diffgen {
namespace {

constexpr double kExact = 1e-12;  // a power law through exact points: rounding only
const std::vector<double> kDistances{2, 4, 6, 8, 10, 12};

// A training curve whose minimum, at epoch 2, is `best`: above it before and after.
SeedResult curve_with_minimum(double best) {
  SeedResult s;
  for (Index e = 0; e < 4; ++e) {
    StudyRow r;
    r.epoch = e;
    r.kl_a = e == 2 ? best : best * (2.0 + static_cast<double>(e));
    s.rows.push_back(r);
  }
  return s;
}

// results[v][k]: seed k's best KL (a) at distance v is c_k d^exponents[k].
GridResults power_law_grid(const std::vector<double>& exponents) {
  GridResults results(kDistances.size());
  for (std::size_t v = 0; v < kDistances.size(); ++v)
    for (std::size_t k = 0; k < exponents.size(); ++k)
      results[v].push_back(curve_with_minimum(0.01 * (1.0 + k) * std::pow(kDistances[v], exponents[k])));
  return results;
}

TEST(ModeShiftGrowth, RecoversEachSeedsExponentAndTheirSpread) {
  const SeedSlopes fit = fit_best_kl_growth(kDistances, power_law_grid({0.2, 0.3, 0.4}));
  ASSERT_EQ(fit.per_seed.size(), 3u);
  EXPECT_NEAR(fit.per_seed[0].slope, 0.2, kExact);
  EXPECT_NEAR(fit.per_seed[1].slope, 0.3, kExact);
  EXPECT_NEAR(fit.per_seed[2].slope, 0.4, kExact);
  EXPECT_EQ(fit.slope.count, 3);
  EXPECT_NEAR(fit.slope.mean, 0.3, kExact);
  EXPECT_NEAR(fit.slope.sd, 0.1, kExact);
  // t(0.975, 2) · sd / √3.
  EXPECT_NEAR(fit.slope.ci95, 4.302652729911275 * 0.1 / std::sqrt(3.0), 1e-9);
  EXPECT_EQ(growth_exponent_text(fit), "0.3 ± 0.25");
  EXPECT_EQ(growth_per_seed_text(fit), "0.2, 0.3, 0.4");
  EXPECT_EQ(growth_reading(fit), "the best KL grows, as d^b with b between 0.052 and 0.55");
}

TEST(ModeShiftGrowth, AnIntervalAroundZeroCannotTellNoGrowthFromMildGrowth) {
  // Slopes -0.3, 0, 0.3: mean 0, sd 0.3, half-width 4.303 · 0.3 / √3 = 0.745.
  const SeedSlopes fit = fit_best_kl_growth(kDistances, power_law_grid({-0.3, 0.0, 0.3}));
  EXPECT_NEAR(fit.slope.mean, 0.0, kExact);
  EXPECT_EQ(growth_reading(fit), "growth slower than d^0.75 — no growth cannot be told from mild growth");
}

TEST(ModeShiftGrowth, AFallIsWordedByItsInterval) {
  const SeedSlopes fit = fit_best_kl_growth(kDistances, power_law_grid({-1.0, -1.1, -0.9}));
  EXPECT_EQ(growth_reading(fit), "the best KL falls, as d^b with b between -1.2 and -0.75");
}

TEST(ModeShiftGrowth, OneSeedHasNoInterval) {
  const SeedSlopes fit = fit_best_kl_growth(kDistances, power_law_grid({0.5}));
  EXPECT_NEAR(fit.slope.mean, 0.5, kExact);
  EXPECT_EQ(growth_exponent_text(fit), "0.5");
  EXPECT_EQ(growth_reading(fit), "one seed, so no interval exists: growth cannot be told from no growth");
  EXPECT_EQ(growth_json(fit)["count"], 1);
}

TEST(ModeShiftGrowth, ASeedWithoutABestKlAtSomeDistanceIsLeftOut) {
  GridResults results = power_law_grid({0.2, 0.3, 0.4});
  for (auto& r : results[4][1].rows) r.kl_a = std::nan("");  // seed 1 never measured at d = 10
  const SeedSlopes fit = fit_best_kl_growth(kDistances, results);
  EXPECT_EQ(fit.slope.count, 2);
  EXPECT_EQ(fit.seeds_left_out, 1);
  EXPECT_NEAR(fit.slope.mean, 0.3, kExact);
  EXPECT_EQ(growth_per_seed_text(fit), "0.2, -, 0.4");
  const nlohmann::json j = growth_json(fit);
  EXPECT_TRUE(j["per_seed"][1].is_null());
  EXPECT_NEAR(j["per_seed"][2].get<double>(), 0.4, kExact);
  EXPECT_EQ(j["seeds_left_out"], 1);
  EXPECT_NE(growth_reading(fit).find("1 seed left out"), std::string::npos) << growth_reading(fit);
}

TEST(ModeShiftGrowth, TheSummaryHoldsTheIntervalOverSeedsAndTheSeedMeanFit) {
  const SeedSlopes fit = fit_best_kl_growth(kDistances, power_law_grid({0.2, 0.3, 0.4}));
  const nlohmann::json j = growth_json(fit);
  for (const char* key : {"count", "mean", "sd", "ci95", "min", "max", "per_seed", "seed_mean_curve_fit", "reading"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_NEAR(j["ci95"].get<double>(), fit.slope.ci95, kExact);
  EXPECT_NEAR(j["min"].get<double>(), 0.2, kExact);
  EXPECT_EQ(j["seed_mean_curve_fit"]["points"], 6);
  EXPECT_EQ(j["reading"], growth_reading(fit));
}

}  // namespace
}  // namespace diffgen
