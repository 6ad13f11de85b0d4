#include "sde/sde.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace diffgen {
namespace {

TEST(VeSde, CheckValuesOfTheory) {
  // THEORY.md §1 check values for sigma = 25.
  VeSde ve(25.0);
  EXPECT_NEAR(ve.s(0.065), 0.284100, 5e-7);
  EXPECT_NEAR(ve.s(1.0), 9.845215, 5e-7);
  EXPECT_NEAR(ve.s(1e-5), 0.0031623, 5e-8);
  EXPECT_NEAR(ve.prior_std(), 9.845215, 5e-7);
  EXPECT_DOUBLE_EQ(ve.g2(0.5), 25.0);
  EXPECT_DOUBLE_EQ(ve.a(0.3), 1.0);
}

// For a linear SDE the kernel moments obey a' = b a and (s²)' = 2 b s² + g².
void check_moment_odes(const Sde& sde) {
  const double h = 1e-6;
  for (double t : {0.01, 0.2, 0.5, 0.9}) {
    const double da = (sde.a(t + h) - sde.a(t - h)) / (2 * h);
    const double ds2 = (sde.s2(t + h) - sde.s2(t - h)) / (2 * h);
    EXPECT_NEAR(da, sde.drift_rate(t) * sde.a(t), 1e-7) << sde.name() << " t=" << t;
    EXPECT_NEAR(ds2, 2 * sde.drift_rate(t) * sde.s2(t) + sde.g2(t), 1e-6 * (1 + sde.g2(t))) << sde.name() << " t=" << t;
  }
  EXPECT_EQ(sde.a(0.0), 1.0);
  EXPECT_EQ(sde.s2(0.0), 0.0);
}

TEST(Sde, KernelMomentsSolveTheirOdes) {
  check_moment_odes(VeSde(25.0));
  check_moment_odes(VpSde(0.1, 20.0));
  check_moment_odes(OuSde(5.0));
}

TEST(VpSde, ClosedForms) {
  VpSde vp(0.1, 20.0);
  const double t = 0.4;
  const double a = std::exp(-0.25 * t * t * 19.9 - 0.5 * t * 0.1);
  EXPECT_NEAR(vp.a(t), a, 1e-15);
  EXPECT_NEAR(vp.s2(t), 1 - a * a, 1e-15);
  EXPECT_NEAR(vp.beta(t), 0.1 + 0.4 * 19.9, 1e-15);
  EXPECT_NEAR(vp.beta_integral(1.0), 0.1 + 0.5 * 19.9, 1e-15);
}

TEST(OuSde, ClosedForms) {
  OuSde ou(5.0);
  EXPECT_NEAR(ou.a(0.7), std::exp(-0.7), 1e-15);
  EXPECT_NEAR(ou.s2(0.7), 1 - std::exp(-1.4), 1e-15);
  EXPECT_EQ(ou.T(), 5.0);
}

TEST(Sde, PriorLogDensityIsGaussian) {
  VeSde ve(25.0);
  Matrix X(2, 2);
  X << 0.0, 0.0, 3.0, -4.0;
  const double v = ve.prior_std() * ve.prior_std();
  const Vector lp = ve.prior_log_density(X);
  EXPECT_NEAR(lp[0], -std::log(2 * std::numbers::pi * v), 1e-12);
  EXPECT_NEAR(lp[1], -std::log(2 * std::numbers::pi * v) - 25.0 / (2 * v), 1e-12);
}

TEST(Sde, PriorSamplesHaveThePriorVariance) {
  VeSde ve(25.0);
  Rng rng(5);
  const Matrix X = ve.sample_prior(40000, 1, rng);
  const double var = X.array().square().mean();
  const double v = ve.prior_std() * ve.prior_std();
  EXPECT_NEAR(var, v, 5 * v * std::sqrt(2.0 / 40000));
}

TEST(SdeOptions, RejectsBadSettings) {
  SdeOptions o;
  o.sigma = 0.5;
  EXPECT_THROW(make_sde(o), ConfigError);
  o = SdeOptions{};
  o.kind = SdeKind::Vp;
  EXPECT_EQ(make_sde(o)->name(), "vp");
  o.eps = 1.0;  // not below the horizon
  EXPECT_THROW(make_sde(o), ConfigError);
}

TEST(SdeOptions, KeysDeclareTheStructsDefaultsAndReadBack) {
  Schema schema;
  SdeOptions defaults;
  defaults.sigma = 5.0;
  sde_options().declare(schema, defaults);
  ASSERT_NE(schema.find("sde.kind"), nullptr);
  EXPECT_EQ(std::get<std::string>(schema.find("sde.kind")->default_value), "ve");
  EXPECT_EQ(std::get<double>(schema.find("sde.sigma")->default_value), 5.0);
  Config config(schema);
  config.set("sde.kind", "vp");
  config.set("sde.eps", "0.001");
  const SdeOptions read = sde_options().read(config);
  EXPECT_EQ(read.kind, SdeKind::Vp);
  EXPECT_EQ(read.eps, 0.001);
  EXPECT_EQ(read.sigma, 5.0);
  EXPECT_THROW(config.set("sde.kind", "vpp"), ConfigError);
}

}  // namespace
}  // namespace diffgen
