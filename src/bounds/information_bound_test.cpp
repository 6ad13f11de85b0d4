#include "bounds/information_bound.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numbers>

#include "core/error.hpp"
#include "core/io.hpp"
#include "data/points_file.hpp"
#include "core/parallel.hpp"
#include "numerics/quadrature.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

// A small training set in d = 1 or 2, drawn once from a fixed stream.
Matrix training_set(Index m, Index d, std::uint64_t seed = 7) {
  Rng rng(seed);
  Matrix x(m, d);
  rng.fill_normal(x);
  return 2.0 * x;
}

TEST(BetaIntegral, ClosedFormAndTheAuthorsSums) {
  const VpSde sde(0.1, 20.0, 2.0);
  // B(T) = β_min T + ½ T² (β_max − β_min): at T = 1, 0.1 + 9.95.
  EXPECT_NEAR(beta_integral(sde, 1.0, BetaIntegral::ClosedForm), 10.05, tolerance::kRoundoff);
  // Left Riemann over 1000 steps of a linear β: B(T) − ½ δ T (β_max − β_min), δ = T/1000.
  for (double T : {0.2, 1.0, 1.8})
    EXPECT_NEAR(beta_integral(sde, T, BetaIntegral::LeftRiemann),
                sde.beta_integral(T) - 0.5 * (T / 1000.0) * T * 19.9, 1e-10)
        << T;
  // The inclusive sum of N + 1 points is the trapezoid rule plus half the two
  // end points: (T/N) Σ_{k=0..N} β(kT/N) = B(T) + (T/N)(β(0) + β(T))/2.
  // N = int(T/1e-3) is 1000 T except at T = 1.4, where it is 1399.
  for (double T : {0.2, 1.0, 1.4, 2.0}) {
    const double n = T == 1.4 ? 1399.0 : std::round(1000.0 * T);
    EXPECT_NEAR(beta_integral(sde, T, BetaIntegral::InclusiveSum),
                sde.beta_integral(T) + T / n * 0.5 * (sde.beta(0.0) + sde.beta(T)), 1e-9)
        << T;
  }
  EXPECT_THROW(beta_integral(sde, 0.0, BetaIntegral::ClosedForm), ConfigError);
}

// The values computed by running the authors' code (notes/chen2025-code.md,
// table E.1), to the five decimals printed there.
TEST(BetaIntegral, MatchesTheAuthorsCodesPrintedValues) {
  const VpSde sde(0.1, 20.0, 2.0);
  struct Row {
    double T, a, v, closed, left, inclusive;
  };
  for (const Row& r : {Row{0.2, 0.811395, 0.341638, 0.41800, 0.41760, 0.42009},
                       Row{1.0, 0.006572, 0.999957, 10.0500, 10.04005, 10.06005},
                       Row{1.4, 5.4e-5, 1.0, 19.642, 19.62250, 19.65604},
                       Row{2.0, 2.1e-9, 1.0, 40.000, 39.96020, 40.02000}}) {
    EXPECT_NEAR(sde.a(r.T), r.a, 5e-7 + 0.01 * r.a) << r.T;
    EXPECT_NEAR(sde.s2(r.T), r.v, 5e-7) << r.T;
    EXPECT_NEAR(beta_integral(sde, r.T, BetaIntegral::ClosedForm), r.closed, 5e-4) << r.T;
    EXPECT_NEAR(beta_integral(sde, r.T, BetaIntegral::LeftRiemann), r.left, 5e-6) << r.T;
    EXPECT_NEAR(beta_integral(sde, r.T, BetaIntegral::InclusiveSum), r.inclusive, 5e-6) << r.T;
  }
}

TEST(EncoderTerm, ClosedFormKlAndItsTwoMeans) {
  Matrix x(2, 2);
  x << 1.0, 0.0, 0.0, 2.0;
  const double a = 0.5, v = 0.75;
  // KL(N(μ, v I) ‖ N(0, I)) = ½(‖μ‖² + d v − d − d ln v).
  const double kl0 = 0.5 * (0.25 + 1.5 - 2.0 - 2.0 * std::log(0.75));
  const double kl1 = 0.5 * (1.0 + 1.5 - 2.0 - 2.0 * std::log(0.75));
  const Vector kl = encoder_kls(x, a, v);
  EXPECT_NEAR(kl[0], kl0, tolerance::kRoundoff);
  EXPECT_NEAR(kl[1], kl1, tolerance::kRoundoff);
  EXPECT_NEAR(encoder_term(x, a, v, EncoderTermForm::MeanKl), 0.5 * (kl0 + kl1), tolerance::kRoundoff);
  EXPECT_NEAR(encoder_term(x, a, v, EncoderTermForm::MeanRootKl), 0.5 * (std::sqrt(kl0) + std::sqrt(kl1)),
              tolerance::kRoundoff);
  // a = 0, v = 1: the encoder is the prior itself.
  EXPECT_NEAR(encoder_term(x, 0.0, 1.0, EncoderTermForm::MeanRootKl), 0.0, tolerance::kRoundoff);
  EXPECT_THROW(encoder_kls(x, a, 0.0), ConfigError);
}

// KL((1/m) Σ_j N(μ_j, v) ‖ N(0, 1)) in 1-D by quadrature.
double mixture_prior_kl(const Matrix& x, double a, double v) {
  const Index n = 200001;
  const double lo = -30.0, hi = 30.0, h = (hi - lo) / static_cast<double>(n - 1);
  Vector f(n);
  for (Index k = 0; k < n; ++k) {
    const double z = lo + h * static_cast<double>(k);
    double q = 0.0;
    for (Index j = 0; j < x.rows(); ++j)
      q += std::exp(-0.5 * (z - a * x(j, 0)) * (z - a * x(j, 0)) / v) / std::sqrt(2.0 * std::numbers::pi * v);
    q /= static_cast<double>(x.rows());
    const double log_phi = -0.5 * z * z - 0.5 * std::log(2.0 * std::numbers::pi);
    f[k] = q > 0.0 ? q * (std::log(q) - log_phi) : 0.0;
  }
  return simpson(f, h);
}

// The identity behind term1 (THEORY.md §7): term1 + (1/m) Σ_i KL(E_T(x_i) ‖
// N(0, I)) = KL((1/m) Σ_j E_T(x_j) ‖ N(0, I)), the right side by quadrature.
TEST(MixtureTerm, PlusTheEncoderKlsIsTheMixturesKlToThePrior) {
  const Matrix x = training_set(20, 1);
  for (double T : {0.2, 0.6, 1.0}) {
    const VpSde sde(0.1, 20.0, 2.0);
    const double a = sde.a(T), v = sde.s2(T);
    Rng rng(11);
    MixtureTermOptions o;
    o.draws = 4000;
    const Estimate t1 = mixture_term(x, a, v, o, rng);
    const double lhs = t1.value + encoder_term(x, a, v, EncoderTermForm::MeanKl);
    EXPECT_GT(t1.standard_error, 0.0);
    EXPECT_NEAR(lhs, mixture_prior_kl(x, a, v), tolerance::kStandardErrors * t1.standard_error) << "T = " << T;
  }
}

TEST(MixtureTerm, LiesBetweenMinusLogMAndZero) {
  const Matrix x = training_set(30, 2);
  MixtureTermOptions o;
  o.draws = 200;
  for (double T : {0.05, 0.5, 1.8}) {
    const VpSde sde(0.1, 20.0, 2.0);
    Rng rng(3);
    const Estimate t1 = mixture_term(x, sde.a(T), sde.s2(T), o, rng);
    EXPECT_LE(t1.value, tolerance::kStandardErrors * t1.standard_error) << T;
    EXPECT_GE(t1.value, -std::log(30.0) - tolerance::kStandardErrors * t1.standard_error) << T;
  }
  // At a small T the encoders barely overlap: term1 → −log m. The paired
  // Monte Carlo log p meets it draw by draw (log q >= log p − log m for every
  // z, so it cannot fall below); the exact entropy replaces log p by its mean,
  // so it meets it within its standard error.
  const VpSde sde(0.1, 20.0, 2.0);
  Rng r1(5), r2(5);
  const Estimate exact = mixture_term(x, sde.a(0.01), sde.s2(0.01), o, r1);
  EXPECT_NEAR(exact.value, -std::log(30.0), tolerance::kStandardErrors * exact.standard_error + 1e-3);
  o.exact_entropy = false;
  const Estimate paired = mixture_term(x, sde.a(0.01), sde.s2(0.01), o, r2);
  EXPECT_GE(paired.value, -std::log(30.0) - 1e-12);
  EXPECT_NEAR(paired.value, exact.value,
              tolerance::kStandardErrors * std::hypot(paired.standard_error, exact.standard_error));
}

TEST(MixtureTerm, SameStreamSameNumbersForAnyThreadCount) {
  const Matrix x = training_set(40, 2);
  MixtureTermOptions o;
  o.draws = 50;
  Rng r1(9), r2(9);
  set_num_threads(1);
  const Estimate one = mixture_term(x, 0.6, 0.64, o, r1);
  set_num_threads(2);
  const Estimate two = mixture_term(x, 0.6, 0.64, o, r2);
  EXPECT_EQ(one.value, two.value);
  EXPECT_EQ(one.standard_error, two.standard_error);
}

TEST(GeneratorTermAndBound, AssembleAsTheAuthorsDo) {
  // term3 = L √(∫β / (2m)): L = 2, ∫β = 8, m = 4 gives 2.
  EXPECT_NEAR(generator_term(2.0, 8.0, 4), 2.0, tolerance::kRoundoff);
  EXPECT_THROW(generator_term(-1.0, 8.0, 4), ConfigError);
  BoundTerms b;
  b.term1 = {-1.0, 0.03};
  b.term2 = 0.5;
  b.term3 = 0.25;
  b.sm_loss = {0.7, 0.04};
  b.R = 5.0;
  EXPECT_NEAR(b.bound().value, -1.0 + std::numbers::sqrt2 * 5.0 * 0.75 + 0.7, tolerance::kRoundoff);
  EXPECT_NEAR(b.bound().standard_error, 0.05, tolerance::kRoundoff);
}

// The data-only terms on the Swiss-roll sample ../shared/data/swissroll-m200.csv
// (m = 200) against the values computed independently for it
// (swissroll-m200-terms.json): both term1 variants (E_T variance v_T, and the
// toy code's σ_T used as the variance) within their Monte Carlo errors, and
// the closed-form parts to rounding.
TEST(InformationBound, DataOnlyTermsOfTheSwissRollSampleMatchTheRecordedValues) {
  const auto shared = std::filesystem::path(DIFFGEN_SOURCE_DIR) / ".." / "shared" / "data";
  const Matrix x = load_points(shared / "swissroll-m200.csv");
  ASSERT_EQ(x.rows(), 200);
  const auto recorded = nlohmann::json::parse(read_text_file(shared / "swissroll-m200-terms.json"));
  const VpSde sde(0.1, 20.0, 2.0);
  MixtureTermOptions o;
  o.draws = 200;
  o.exact_entropy = true;
  for (const auto& row : recorded.at("rows")) {
    const double T = row.at("T"), a = sde.a(T), v = sde.s2(T), sd = std::sqrt(v);
    SCOPED_TRACE(fmt::format("T = {}", T));
    EXPECT_NEAR(a, row.at("a").get<double>(), 1e-12);
    EXPECT_NEAR(v, row.at("v").get<double>(), 1e-12);
    EXPECT_NEAR(beta_integral(sde, T, BetaIntegral::ClosedForm), row.at("B").get<double>(), 1e-12);
    EXPECT_NEAR(beta_integral(sde, T, BetaIntegral::LeftRiemann), row.at("beta_integral_left_riemann_1000").get<double>(),
                1e-12);
    EXPECT_NEAR(std::sqrt(beta_integral(sde, T, BetaIntegral::ClosedForm) / 400.0), row.at("c3_closed").get<double>(),
                1e-12);
    EXPECT_NEAR(encoder_term(x, a, v, EncoderTermForm::MeanKl), row.at("term2_mean_kl").get<double>(), 1e-12);
    EXPECT_NEAR(encoder_term(x, a, v, EncoderTermForm::MeanRootKl), row.at("term2_mean_sqrt_kl").get<double>(), 1e-12);
    EXPECT_NEAR(encoder_term(x, a, sd, EncoderTermForm::MeanRootKl), row.at("term2_mean_sqrt_kl_std").get<double>(),
                1e-12);
    for (const auto& [variance, key] : {std::pair{v, "term1_var"}, std::pair{sd, "term1_std"}}) {
      Rng rng(31);
      const Estimate t1 = mixture_term(x, a, variance, o, rng);
      const double se = std::hypot(t1.standard_error, row.at(std::string(key) + "_se").get<double>());
      EXPECT_NEAR(t1.value, row.at(key).get<double>(), tolerance::kStandardErrors * se) << key;
    }
  }
}

}  // namespace
}  // namespace diffgen
