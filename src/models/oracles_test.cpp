#include "models/oracles.hpp"

#include <gtest/gtest.h>

namespace diffgen {
namespace {

TEST(Oracles, PopulationOracleIsTheTargetScoreAtTheKernel) {
  auto target = std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0, 1.0));
  auto sde = std::make_shared<VpSde>();
  auto oracle = make_population_oracle(target, sde);
  Matrix X(3, 1);
  X << -2.0, 0.1, 4.0;
  Vector t(3);
  t << 0.1, 0.1, 0.7;  // two rows share a time, one differs
  Matrix S;
  oracle->score(X, t, S);
  for (Index i = 0; i < 3; ++i) {
    const Matrix xi = X.row(i);
    EXPECT_DOUBLE_EQ(S(i, 0), target->score(xi, sde->a(t[i]), sde->s(t[i]))(0, 0));
  }
  Vector div;
  oracle->divergence(X, t, div);
  EXPECT_DOUBLE_EQ(div[2], target->score_divergence(X.row(2), sde->a(0.7), sde->s(0.7))[0]);
  EXPECT_TRUE(oracle->has_exact_divergence());
}

TEST(Oracles, EmpiricalOracleOfOnePointIsAGaussianScore) {
  Matrix data(1, 2);
  data << 1.0, -2.0;
  auto sde = std::make_shared<VeSde>(25.0);
  auto oracle = make_empirical_oracle(data, sde);
  Matrix X(1, 2);
  X << 0.5, 0.5;
  const double t = 0.3, s2 = sde->s2(t);
  const Matrix S = oracle->score(X, t);
  EXPECT_NEAR(S(0, 0), -(0.5 - 1.0) / s2, 1e-12);
  EXPECT_NEAR(S(0, 1), -(0.5 + 2.0) / s2, 1e-12);
  EXPECT_NEAR(oracle->divergence(X, t)[0], -2.0 / s2, 1e-12);
}

}  // namespace
}  // namespace diffgen
