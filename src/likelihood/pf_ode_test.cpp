#include "likelihood/pf_ode.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "models/oracles.hpp"
#include "targets/gaussian_mixture.hpp"
#include "testing/known_problems.hpp"

namespace diffgen {
namespace {

using known::gaussian_1d;
using known::gaussian_2d_full;

// Named tolerances: the ODE is solved to rtol = atol = 1e-9 where the test
// asks for 1e-6 against a closed form.
constexpr double kClosedFormTolerance = 1e-6;
constexpr double kTightTolerance = 1e-9;

// A score model without a divergence.
class NoDivergence final : public ScoreModel {
 public:
  Index dim() const override { return 1; }
  std::string name() const override { return "no-divergence"; }
  void score(const Matrix& X, const Vector&, Matrix& out) const override { out = -X; }
};

// Exact prior p_T = the target's law at T, as the caller of the brief passes it.
LogDensityFunction exact_prior(const GaussianMixture& target, const Sde& sde) {
  return [&target, &sde](const Matrix& X) { return target.log_density(X, sde.a(sde.T()), sde.s(sde.T())); };
}

void expect_closed_form(const GaussianMixture& target, const Sde& sde, const Matrix& X, const PfOdeOptions& o) {
  const auto oracle = make_population_oracle(std::make_shared<GaussianMixture>(target),
                                             std::shared_ptr<const Sde>(&sde, [](const Sde*) {}));
  const PfOdeSummary r = pf_ode_log_density(*oracle, sde, X, o, exact_prior(target, sde));
  const Vector exact = target.log_density(X, sde.a(o.eps), sde.s(o.eps));
  EXPECT_LT((r.log_density - exact).cwiseAbs().maxCoeff(), kClosedFormTolerance) << sde.name();
  EXPECT_GT(r.steps, 0);
  EXPECT_GT(r.function_evaluations, 6 * r.steps);
}

TEST(PfOde, GaussianExactScoreAndPriorGiveTheClosedForm1d) {
  PfOdeOptions o;
  o.rtol = o.atol = kTightTolerance;
  const auto target = gaussian_1d();
  const Matrix X = Vector::LinSpaced(41, -6.0, 7.0);
  for (const OdeTimeVariable tv : {OdeTimeVariable::Linear, OdeTimeVariable::Log}) {
    o.time_variable = tv;
    expect_closed_form(*target, VeSde(25.0), X, o);
    expect_closed_form(*target, VpSde(), X, o);
  }
}

// A stop request ends a solve at its next chunk, not after the whole solve
// (which can take many seconds on large evaluation sets).
TEST(PfOde, StopRequestEndsTheSolveWithInterrupted) {
  const auto target = gaussian_1d();
  const VpSde sde;
  const auto oracle = make_population_oracle(target, std::shared_ptr<const Sde>(&sde, [](const Sde*) {}));
  const Matrix X = Vector::LinSpaced(41, -6.0, 7.0);
  request_interrupt();
  EXPECT_THROW(pf_ode_log_density(*oracle, sde, X, PfOdeOptions{}, exact_prior(*target, sde)), Interrupted);
  clear_interrupt();
  EXPECT_NO_THROW(pf_ode_log_density(*oracle, sde, X, PfOdeOptions{}, exact_prior(*target, sde)));
}

TEST(PfOde, GaussianExactScoreAndPriorGiveTheClosedForm2dFullCovariance) {
  PfOdeOptions o;
  o.rtol = o.atol = kTightTolerance;
  const auto target = gaussian_2d_full();
  Rng rng(11);
  Matrix X = target->sample(50, rng);
  X.row(0) << 4.0, -3.0;  // one point in the tail
  expect_closed_form(*target, VeSde(25.0), X, o);
  expect_closed_form(*target, VpSde(), X, o);
}

TEST(PfOde, DefaultTolerancesAreAccurateToAFewMillionthsInTheBulk) {
  // rtol = atol = 1e-6: log p is within ~5e-6 where the target has its mass;
  // in the far tails the relative error of x(T) ~ 100 meets the prior's slope
  // x(T)/s(T)², so there the error grows to ~6e-5 (measured at |x| = 12).
  const auto target = std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0));
  const VeSde sde(25.0);
  const auto oracle = make_population_oracle(target, std::make_shared<VeSde>(25.0));
  const Matrix X = Vector::LinSpaced(121, -12.0, 12.0);
  const PfOdeSummary r = pf_ode_log_density(*oracle, sde, X, {}, exact_prior(*target, sde));
  const Vector exact = target->log_density(X, 1.0, sde.s(1e-5));
  for (Index i = 0; i < X.rows(); ++i) {
    const double err = std::abs(r.log_density[i] - exact[i]);
    EXPECT_LT(err, exact[i] > -6.0 ? 1e-5 : 1e-4) << "x = " << X(i, 0);
  }
}

TEST(PfOde, GaussianPriorGivesThePushForwardOfTheAffineFlowMap) {
  // For a 1-D Gaussian target the exact flow maps x(ε) to
  // x(T) = a_T μ + k (x - a_ε μ), k = sqrt(v_T / v_ε), v_t = a_t² v + s_t²,
  // so with the default prior N(0, prior_std²): log p = log N(x(T)) + log k.
  const auto target = gaussian_1d();
  for (int which = 0; which < 2; ++which) {
    std::shared_ptr<const Sde> sde =
        which == 0 ? std::shared_ptr<const Sde>(std::make_shared<VeSde>(25.0)) : std::make_shared<VpSde>();
    const auto oracle = make_population_oracle(target, sde);
    PfOdeOptions o;
    o.rtol = o.atol = kTightTolerance;
    const Matrix X = Vector::LinSpaced(25, -5.0, 6.0);
    const PfOdeSummary r = pf_ode_log_density(*oracle, *sde, X, o);
    const double T = sde->T(), mu = 0.5, v = 2.0;
    const double vT = sde->a(T) * sde->a(T) * v + sde->s2(T), ve = sde->a(o.eps) * sde->a(o.eps) * v + sde->s2(o.eps);
    const double k = std::sqrt(vT / ve);
    const Matrix xT = (sde->a(T) * mu + k * (X.array() - sde->a(o.eps) * mu)).matrix();
    const Vector exact = sde->prior_log_density(xT).array() + std::log(k);
    EXPECT_LT((r.latent - xT).cwiseAbs().maxCoeff(), 1e-6) << sde->name();
    EXPECT_LT((r.log_density - exact).cwiseAbs().maxCoeff(), kClosedFormTolerance) << sde->name();
  }
}

TEST(PfOde, IdenticalForOneAndTwoThreads) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle =
      make_population_oracle(std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(3.0)), sde);
  const Matrix X = Vector::LinSpaced(121, -12.0, 12.0);
  set_num_threads(1);
  const PfOdeSummary a = pf_ode_log_density(*oracle, *sde, X);
  set_num_threads(2);
  const PfOdeSummary b = pf_ode_log_density(*oracle, *sde, X);
  set_num_threads(0);
  EXPECT_EQ(a.log_density, b.log_density);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_EQ(a.chunks, 4);
}

TEST(PfOde, RequiresAnExactDivergence) {
  const NoDivergence model;
  try {
    pf_ode_log_density(model, VeSde(25.0), Matrix::Zero(3, 1));
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no-divergence"), std::string::npos) << e.what();
  }
}

TEST(PfOde, MaxStepsGuardNamesTheTime) {
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  PfOdeOptions o;
  o.max_steps = 3;
  try {
    pf_ode_log_density(*oracle, *sde, Matrix::Zero(3, 1), o);
    FAIL() << "no NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_NE(std::string(e.what()).find("at t = "), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), 4);
  }
}

TEST(PfOde, ValidatesOptions) {
  PfOdeOptions o;
  EXPECT_EQ(o.validate(), "");
  o.eps = 0.0;
  EXPECT_NE(o.validate().find("ode.eps"), std::string::npos);
  o = {};
  o.rtol = -1.0;
  EXPECT_NE(o.validate().find("ode.rtol"), std::string::npos);
  o = {};
  o.eps = 2.0;  // beyond T = 1
  auto sde = std::make_shared<VeSde>(25.0);
  const auto oracle = make_population_oracle(gaussian_1d(), sde);
  EXPECT_THROW(pf_ode_log_density(*oracle, *sde, Matrix::Zero(1, 1), o), ConfigError);
}

}  // namespace
}  // namespace diffgen
