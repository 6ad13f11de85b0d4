#include "sampling/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "models/oracles.hpp"
#include "sampling/time_grid.hpp"
#include "targets/gaussian_mixture.hpp"
#include "testing/known_problems.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kMean = 0.5, kVar = 2.0;  // the target N(0.5, 2)
constexpr double kEps = 1e-3;
constexpr Index kPoints = 4000;
using tolerance::kStandardErrors;

// Exact draws from p_T = N(μ, v + s_T²) (VE: a = 1), so the sampler is the only error.
Matrix prior_samples(const Sde& sde, Index n, Rng& rng) {
  Matrix x(n, 1);
  rng.fill_normal(x);
  return (kMean + std::sqrt(kVar + sde.s2(sde.T())) * x.array()).matrix();
}

TEST(SamplerRegistry, Names) {
  EXPECT_THAT(sampler_names(), ElementsAre("euler-maruyama", "pf-ode-heun", "pf-ode-rk45", "ancestral"));
}

TEST(SamplerRegistry, UnknownNameIsAConfigErrorListingTheNames) {
  try {
    make_sampler("ddim");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "sampler.kind = 'ddim' is not allowed (allowed: euler-maruyama, pf-ode-heun, pf-ode-rk45, ancestral)");
  }
  EXPECT_THROW(make_sampler(""), ConfigError);
  EXPECT_THROW(make_sampler("Euler-Maruyama"), ConfigError);
}

// Every sampler of the registry, on the exact score of N(0.5, 2) under VE,
// returns one sample per initial point, finite, with the target's moments.
TEST(SamplerRegistry, EverySamplerRunsOnThePopulationOracle) {
  const auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  const Vector grid = uniform_time_grid(sde->T(), kEps, 200);
  for (const auto& name : sampler_names()) {
    SCOPED_TRACE(name);
    Rng rng(42);
    const Matrix xT = prior_samples(*sde, kPoints, rng);
    Index steps_seen = 0;
    const Matrix x =
        make_sampler(name)(*oracle, *sde, xT, grid, rng, [&](Index, double, const Matrix&) { ++steps_seen; });
    ASSERT_EQ(x.rows(), kPoints);
    ASSERT_EQ(x.cols(), 1);
    EXPECT_TRUE(x.allFinite());
    // p_eps = N(μ, v + s(eps)²); s(eps)² ≈ 1e-3 here.
    const double n = static_cast<double>(kPoints), var = kVar + sde->s2(kEps);
    const double mean = x.mean(), sample_var = (x.array() - mean).square().sum() / (n - 1.0);
    EXPECT_NEAR(mean, kMean, kStandardErrors * std::sqrt(var / n));
    EXPECT_NEAR(sample_var, var, kStandardErrors * var * std::sqrt(2.0 / (n - 1.0)));
    if (name != "pf-ode-rk45") {
      EXPECT_EQ(steps_seen, 200);  // one call per grid step
    }
  }
}

// The PF-ODE of a Gaussian under VE maps quantiles to quantiles:
// x_eps = μ + (x_T - μ) √((v + s_eps²) / (v + s_T²)).
TEST(SamplerRegistry, PfOdeSamplersFollowTheExactFlowMap) {
  const auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  Rng rng(7);
  const Matrix xT = prior_samples(*sde, 50, rng);
  const double ratio = std::sqrt((kVar + sde->s2(kEps)) / (kVar + sde->s2(sde->T())));
  const Matrix exact = (kMean + (xT.array() - kMean) * ratio).matrix();
  // Heun's second-order error on 200 uniform steps is about 2e-4; RK45 meets its own tolerance.
  for (const auto& [name, tolerance] : {std::pair{"pf-ode-heun", 1e-3}, std::pair{"pf-ode-rk45", 1e-6}}) {
    SCOPED_TRACE(name);
    Rng a(1), b(2);  // deterministic: the stream is not used
    const Matrix x = make_sampler(name)(*oracle, *sde, xT, uniform_time_grid(1.0, kEps, 200), a, {});
    EXPECT_LT((x - exact).lpNorm<Eigen::Infinity>(), tolerance);
    EXPECT_EQ(x, make_sampler(name)(*oracle, *sde, xT, uniform_time_grid(1.0, kEps, 200), b, {}));
  }
}

TEST(SamplerRegistry, TimeGridsAreTheGridFunctions) {
  EXPECT_EQ(make_time_grid(TimeGridKind::Uniform, 1.0, 1e-3, 50), uniform_time_grid(1.0, 1e-3, 50));
  EXPECT_EQ(make_time_grid(TimeGridKind::Geometric, 1.0, 1e-3, 50), geometric_time_grid(1.0, 1e-3, 50));
  EXPECT_EQ(make_time_grid(TimeGridKind::Geometric, 2.0, 1e-5, 7), geometric_time_grid(2.0, 1e-5, 7));
  const Vector u = make_time_grid(TimeGridKind::Uniform, 1.0, 0.2, 4);
  ASSERT_EQ(u.size(), 5);
  EXPECT_EQ(u[0], 1.0);
  EXPECT_EQ(u[4], 0.2);
  EXPECT_NEAR(u[2], 0.6, 1e-15);
  EXPECT_NE(make_time_grid(TimeGridKind::Uniform, 1.0, 1e-3, 50),
            make_time_grid(TimeGridKind::Geometric, 1.0, 1e-3, 50));
  EXPECT_THROW(make_time_grid(TimeGridKind::Uniform, 1.0, 1e-3, 0), ConfigError);
}

TEST(SamplerOptionsKeys, DeclareAndReadBack) {
  EXPECT_THAT(sampler_options().keys(), ElementsAre("sampler.kind", "sampler.steps", "sampler.time_grid"));
  Schema s;
  sampler_options().declare(s);
  EXPECT_EQ(s.find("sampler.kind")->default_value, Value(std::string("euler-maruyama")));
  EXPECT_EQ(s.find("sampler.kind")->choices, sampler_names());
  EXPECT_EQ(s.find("sampler.steps")->default_value, Value(std::int64_t{200}));
  EXPECT_EQ(s.find("sampler.time_grid")->default_value, Value(std::string("geometric")));
  EXPECT_THAT(s.find("sampler.time_grid")->choices, ElementsAre("geometric", "uniform"));
  Config c(s);
  const SamplerOptions d = sampler_options().read(c);
  EXPECT_EQ(d.kind, "euler-maruyama");
  EXPECT_EQ(d.steps, 200);
  EXPECT_EQ(d.time_grid, TimeGridKind::Geometric);
  c.set("sampler.kind", "ancestral");
  c.set("sampler.steps", "50");
  c.set("sampler.time_grid", "uniform");
  const SamplerOptions o = sampler_options().read(c);
  EXPECT_EQ(o.kind, "ancestral");
  EXPECT_EQ(o.steps, 50);
  EXPECT_EQ(o.time_grid, TimeGridKind::Uniform);
  EXPECT_THAT(
      [&] {
        try {
          c.set("sampler.kind", "ddim");
        } catch (const ConfigError& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      AllOf(HasSubstr("sampler.kind = 'ddim'"), HasSubstr("euler-maruyama, pf-ode-heun, pf-ode-rk45, ancestral")));
  EXPECT_THROW(c.set("sampler.steps", "0"), ConfigError);
  EXPECT_THROW(c.set("sampler.time_grid", "cosine"), ConfigError);
}

}  // namespace
}  // namespace diffgen
