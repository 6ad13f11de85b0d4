#include "sde/probability_flow.hpp"
#include "testing/known_problems.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

namespace diffgen {
namespace {

using known::all_sdes;

// For data N(μ, σ0² I) the law at t is N(a μ, v I), v(t) = a² σ0² + s², its
// score −(x − a μ)/v, and the probability flow is affine:
// x(t) = a(t) μ + (x(t0) − a(t0) μ) √(v(t) / v(t0)).
struct GaussianData {
  double mu = 0.7, var0 = 0.5;
  double v(const Sde& sde, double t) const { return sde.a(t) * sde.a(t) * var0 + sde.s2(t); }
  double flow(const Sde& sde, double x0, double t0, double t) const {
    return sde.a(t) * mu + (x0 - sde.a(t0) * mu) * std::sqrt(v(sde, t) / v(sde, t0));
  }
};

TEST(ProbabilityFlow, VelocityIsTheTimeDerivativeOfTheGaussianFlowMap) {
  const GaussianData g;
  for (const auto& sde : all_sdes()) {
    for (double t : {0.05, 0.3, 0.9}) {
      Matrix x(3, 1);
      x << -2.0, 0.1, 4.0;
      Matrix score = -(x.array() - sde->a(t) * g.mu) / g.v(*sde, t);
      Matrix v;
      probability_flow_velocity(*sde, t, x, score, v);
      const double h = 1e-5 * t;
      for (Index i = 0; i < x.rows(); ++i) {
        const double fd = (g.flow(*sde, x(i, 0), t, t + h) - g.flow(*sde, x(i, 0), t, t - h)) / (2.0 * h);
        EXPECT_NEAR(v(i, 0), fd, 1e-7 * (1.0 + std::abs(fd))) << sde->name() << " t = " << t;
      }
      // The factor jac scales the whole velocity.
      Matrix v3;
      probability_flow_velocity(*sde, t, x, score, v3, 3.0);
      EXPECT_LT((v3 - 3.0 * v).cwiseAbs().maxCoeff(), 1e-13 * v.cwiseAbs().maxCoeff()) << sde->name();
    }
  }
}

TEST(ProbabilityFlow, DivergenceOfTheGaussianVelocity) {
  // In R^d with score −(x − a μ)/v: ∇·s = −d / v, so ∇·v = d b + ½ g² d / v,
  // which is d/dt of log det of the flow map, (d/2) v'/v = (d/2)(2 b v + g²)/v.
  const GaussianData g;
  const Index d = 3;
  for (const auto& sde : all_sdes()) {
    const double t = 0.4, v = g.v(*sde, t);
    const Vector score_div = Vector::Constant(2, -static_cast<double>(d) / v);
    Vector div;
    probability_flow_divergence(*sde, t, d, score_div, div);
    ASSERT_EQ(div.size(), 2);
    const double h = 1e-5, dlogv = (std::log(g.v(*sde, t + h)) - std::log(g.v(*sde, t - h))) / (2.0 * h);
    EXPECT_NEAR(div[0], 0.5 * d * dlogv, 1e-6 * (1.0 + std::abs(div[0]))) << sde->name();
    EXPECT_EQ(div[0], div[1]);
  }
}

TEST(ProbabilityFlow, ReverseSdeDriftStepIsAnEulerStepBackwardInTime) {
  // x − [b x − g² s] Δt: the reverse SDE's drift, b x − g² s, differs from the
  // probability-flow velocity by −½ g² s.
  for (const auto& sde : all_sdes()) {
    const double t = 0.6, dt = 1e-3;
    Matrix x(2, 2), score(2, 2);
    x << 1.0, -2.0, 0.5, 3.0;
    score << -0.3, 0.8, 1.5, -0.2;
    Matrix v;
    probability_flow_velocity(*sde, t, x, score, v);
    const Matrix drift = v - 0.5 * sde->g2(t) * score;
    Matrix y = x;
    reverse_sde_drift_step(*sde, t, dt, score, y);
    EXPECT_LT((y - (x - dt * drift)).cwiseAbs().maxCoeff(), 1e-13 * (1.0 + sde->g2(t))) << sde->name();
  }
}

}  // namespace
}  // namespace diffgen
