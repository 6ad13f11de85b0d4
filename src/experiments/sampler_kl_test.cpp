#include "experiments/sampler_kl.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/config.hpp"
#include "core/error.hpp"

namespace diffgen {
namespace {

TEST(SamplerKlSettings, DefaultsAndListParsing) {
  SamplerKlExperiment e;
  Config c(e.schema());
  const SamplerKlSettings s = SamplerKlSettings::from_config(c);
  EXPECT_EQ(s.steps.size(), 8u);
  EXPECT_EQ(s.steps.back(), 1024);
  EXPECT_EQ(s.dimensions, (std::vector<Index>{1, 8}));
  c.set("steps", "64, 8 ,8");
  EXPECT_EQ(SamplerKlSettings::from_config(c).steps, (std::vector<Index>{8, 64}));
  c.set("rules", "covariance");
  EXPECT_EQ(SamplerKlSettings::from_config(c).rules, (std::vector<StepRule>{StepRule::CovarianceMatched}));
  c.set("grid.t_min", "1000");
  EXPECT_THROW(e.validate(c), ConfigError);
}

}  // namespace
}  // namespace diffgen
