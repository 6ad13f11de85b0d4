#include "metrics/model_density.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "models/oracles.hpp"
#include "targets/swiss_roll.hpp"
#include "testing/known_problems.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

// What the PF-ODE solver (rtol = atol = 1e-6) may leave in a mean
// log-density over a few dozen points.
constexpr double kSolverTolerance = 1e-4;

Matrix draws(const Target& target, Index n, std::uint64_t seed) {
  Rng rng(seed);
  return target.sample(n, rng);
}

// The target's exact log p_T at the SDE's horizon, as the PF-ODE's prior.
LogDensityFunction exact_prior(const Target& target, const Sde& sde) {
  const double a = sde.a(sde.T()), s = sde.s(sde.T());
  return [&target, a, s](const Matrix& x) { return target.log_density(x, a, s); };
}

// A score model with only a score (as a network with an estimated divergence).
class ScoreOnly final : public ScoreModel {
 public:
  explicit ScoreOnly(const ScoreModel& inner) : inner_(inner) {}
  Index dim() const override { return inner_.dim(); }
  std::string name() const override { return "score-only"; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override { inner_.score(X, t, out); }

 private:
  const ScoreModel& inner_;
};

// A model whose score is NaN: the ODE cannot be integrated.
class NanScore final : public ScoreModel {
 public:
  Index dim() const override { return 2; }
  std::string name() const override { return "nan-score"; }
  void score(const Matrix& X, const Vector&, Matrix& out) const override {
    out = Matrix::Constant(X.rows(), X.cols(), std::numeric_limits<double>::quiet_NaN());
  }
  bool has_exact_divergence() const override { return true; }
  void divergence(const Matrix& X, const Vector&, Vector& out) const override { out = Vector::Zero(X.rows()); }
};

TEST(ModelDensityErrors, PopulationOracleWithTheExactPriorHasNoKlAndTheTargetsEntropy) {
  const auto target = known::full_covariance_2d();
  const auto sde = std::make_shared<VpSde>(0.1, 20.0, 1.0);
  const auto oracle = make_population_oracle(target, sde);
  const Matrix test = draws(*target, 40, 11);
  const PfOdeOptions options;
  const ModelDensityErrors e = model_density_errors(*oracle, *sde, *target, test, options, exact_prior(*target, *sde));
  EXPECT_NEAR(e.kl.value, 0.0, kSolverTolerance);
  // The NLL is then the Monte Carlo estimate of the target's entropy at ε
  // (and at ε = 1e-5 of the clean target's, to well below the solver's error).
  const Vector log_p_eps = target->log_density(test, sde->a(options.eps), sde->s(options.eps));
  EXPECT_NEAR(e.nll.value, -log_p_eps.mean(), kSolverTolerance);
  EXPECT_NEAR(e.nll.value, -target->log_density(test).mean(), kSolverTolerance);
  const Estimate entropy = mean_estimate(-log_p_eps);
  EXPECT_NEAR(e.nll.standard_error, entropy.standard_error, kSolverTolerance);
  EXPECT_GT(e.nll.standard_error, 0.0);
  EXPECT_GT(e.function_evaluations, 0);
  EXPECT_GT(e.steps, 0);
}

TEST(ModelDensityErrors, PopulationOracleWithTheGaussianPriorHasThePriorMismatchAsKl) {
  // At T = 0.2 the VP SDE leaves p_T far from N(0, I) (a(T) = 0.81). The flow
  // of the exact score maps p_ε onto p_T, and the KL is invariant under that
  // invertible map, so KL(p_ε ‖ p_θ) = KL(p_T ‖ N(0, I)) (THEORY.md §5).
  const auto target = known::full_covariance_2d();
  const auto sde = std::make_shared<VpSde>(0.1, 20.0, 0.2);
  const auto oracle = make_population_oracle(target, sde);
  const ModelDensityErrors e = model_density_errors(*oracle, *sde, *target, draws(*target, 400, 12));
  Rng rng(13);
  const Estimate mismatch = prior_mismatch(*target, *sde, sde->T(), 20000, rng);
  EXPECT_GT(mismatch.value, 0.5);  // far from the solver's error, so the check means something
  EXPECT_NEAR(e.kl.value, mismatch.value,
              tolerance::kStandardErrors * std::hypot(e.kl.standard_error, mismatch.standard_error));
  // The same test points with the exact prior: the mismatch is all of the KL.
  const ModelDensityErrors exact =
      model_density_errors(*oracle, *sde, *target, draws(*target, 400, 12), {}, exact_prior(*target, *sde));
  EXPECT_NEAR(exact.kl.value, 0.0, kSolverTolerance);
}

TEST(ModelDensityErrors, SwissRollMixturesPopulationOracleHasNoKlWithTheExactPrior) {
  // The target the Swiss-roll experiments use for exact test errors: 20
  // narrow components along a spiral, a harder flow than two broad ones.
  const auto target = std::make_shared<GaussianMixture>(swiss_roll_mixture());
  const auto sde = std::make_shared<VpSde>(0.1, 20.0, 1.0);
  const auto oracle = make_population_oracle(target, sde);
  const ModelDensityErrors e =
      model_density_errors(*oracle, *sde, *target, draws(*target, 32, 18), {}, exact_prior(*target, *sde));
  EXPECT_NEAR(e.kl.value, 0.0, kSolverTolerance);
  // The NLL estimates its entropy, which for K equal-weight components of one
  // covariance C lies between H(N(0, C)) and H(N(0, C)) + log K.
  const double component_entropy = 1.0 + std::log(2.0 * std::numbers::pi * target->covariance(0)(0, 0));
  const double margin = tolerance::kStandardErrors * e.nll.standard_error;
  EXPECT_GT(e.nll.value, component_entropy - margin);
  EXPECT_LT(e.nll.value, component_entropy + std::log(20.0) + margin);
}

TEST(ModelDensityErrors, RefusesModelsWithoutExactDivergenceAndMismatchedDimensions) {
  const auto target = known::full_covariance_2d();
  const auto sde = std::make_shared<VpSde>();
  const auto oracle = make_population_oracle(target, sde);
  const Matrix test = draws(*target, 8, 14);
  EXPECT_THROW(model_density_errors(ScoreOnly(*oracle), *sde, *target, test), ConfigError);
  EXPECT_THROW(model_density_errors(*oracle, *sde, *target, Matrix::Zero(8, 3)), ConfigError);
  EXPECT_THROW(model_density_errors(*oracle, *sde, *known::gaussian_1d(), test), ConfigError);
  EXPECT_THROW(model_density_errors(*oracle, *sde, *target, test.topRows(1)), ConfigError);
  try {
    model_density_errors(*oracle, *sde, *target, Matrix::Zero(8, 3));
    FAIL() << "no error";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("3 columns"), std::string::npos) << err.what();
  }
}

TEST(ModelDensityErrors, ASolveThatFailsIsANumericalErrorNamingTheModel) {
  const auto target = known::full_covariance_2d();
  const auto sde = std::make_shared<VpSde>();
  const Matrix test = draws(*target, 8, 15);
  try {
    model_density_errors(NanScore(), *sde, *target, test);
    FAIL() << "no error";
  } catch (const NumericalError& err) {
    EXPECT_NE(std::string(err.what()).find("nan-score"), std::string::npos) << err.what();
  }
  // Too few steps allowed: the ODE gives up.
  const auto oracle = make_population_oracle(target, sde);
  PfOdeOptions few;
  few.max_steps = 2;
  EXPECT_THROW(model_density_errors(*oracle, *sde, *target, test, few), NumericalError);
}

TEST(PriorMismatch, SingleGaussianHasTheClosedFormKl) {
  // Target N(μ, c I) in 2-D: p_T = N(a μ, σ² I), σ² = a² c + s², and
  // KL(N(m, σ² I) ‖ N(0, I)) = ½ (d σ² + ‖m‖² − d − d log σ²).
  Matrix mean(1, 2);
  mean << 1.5, -0.5;
  const double c = 0.3;
  const GaussianMixture target(Vector::Ones(1), mean, Matrix::Constant(1, 2, c));
  for (const double T : {0.2, 0.5}) {
    const VpSde sde(0.1, 20.0, T);
    const double a = sde.a(T), var = a * a * c + sde.s2(T);
    const double exact = 0.5 * (2.0 * var + a * a * mean.squaredNorm() - 2.0 - 2.0 * std::log(var));
    Rng rng(16);
    const Estimate kl = prior_mismatch(target, sde, T, 20000, rng);
    EXPECT_GT(kl.standard_error, 0.0);
    EXPECT_NEAR(kl.value, exact, tolerance::kStandardErrors * kl.standard_error) << "T = " << T;
  }
}

TEST(PriorMismatch, RefusesBadTimesAndTooFewDraws) {
  const auto target = known::full_covariance_2d();
  const VpSde sde;
  Rng rng(17);
  EXPECT_THROW(prior_mismatch(*target, sde, 0.0, 100, rng), ConfigError);
  EXPECT_THROW(prior_mismatch(*target, sde, std::nan(""), 100, rng), ConfigError);
  EXPECT_THROW(prior_mismatch(*target, sde, 1.0, 1, rng), ConfigError);
}

}  // namespace
}  // namespace diffgen
