#include "bounds/path_kl.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "testing/known_problems.hpp"
#include "testing/tolerances.hpp"

namespace diffgen {
namespace {

using known::two_mode_1d;
using known::gaussian_1d;
using known::two_mode;

using tolerance::kStandardErrors;

double log_normal(double x, double m, double v) {
  return -0.5 * (x - m) * (x - m) / v - 0.5 * std::log(2.0 * std::numbers::pi * v);
}

// KL between the two-step paths (Y_1, Y_2) of the comparison process and of
// the sampler, by direct 2-D trapezoid quadrature of the joint densities:
// for ½N(-μ, 1) + ½N(μ, 1) the comparison path is, per component, Gaussian
// with Cov(Y_i, Y_j) = t_i t_j + min(t_i, t_j); the sampler's is the product
// of its two Gaussian transitions.
double direct_two_step_kl(const ConditionalMeanEstimator& f, StepRule rule, double mu, double t1, double t2) {
  const bool cov = rule == StepRule::CovarianceMatched;
  const double d0 = t1, d1 = t2 - t1;
  Matrix m0, c0;
  f.mean_and_covariance(Matrix::Zero(1, 1), 0.0, m0, c0);
  const double mean0 = d0 * m0(0, 0), var0 = d0 + (cov ? d0 * d0 * std::max(c0(0, 0), 0.0) : 0.0);
  const Index P = 1201;
  const double L1 = mu * t1 + 12.0 * std::sqrt(t1 * t1 + t1), L2 = mu * t2 + 12.0 * std::sqrt(t2 * t2 + t2);
  const double h1 = 2.0 * L1 / (P - 1), h2 = 2.0 * L2 / (P - 1);
  Matrix y1(P, 1);
  for (Index i = 0; i < P; ++i) y1(i, 0) = -L1 + h1 * i;
  Matrix m1, c1;
  f.mean_and_covariance(y1, t1, m1, c1);
  const double a11 = t1 * t1 + t1, a22 = t2 * t2 + t2, a12 = t1 * t2 + t1, det = a11 * a22 - a12 * a12;
  double kl = 0.0;
  for (Index i = 0; i < P; ++i) {
    const double wi = (i == 0 || i == P - 1) ? 0.5 * h1 : h1;
    const double v1 = d1 + (cov ? d1 * d1 * std::max(c1(i, 0), 0.0) : 0.0);
    const double lq1 = log_normal(y1(i, 0), mean0, var0);
    for (Index j = 0; j < P; ++j) {
      const double wj = (j == 0 || j == P - 1) ? 0.5 * h2 : h2;
      const double y2 = -L2 + h2 * j;
      double term[2];
      for (int k = 0; k < 2; ++k) {
        const double c = k == 0 ? -mu : mu, e1 = y1(i, 0) - t1 * c, e2 = y2 - t2 * c;
        term[k] = std::log(0.5) - 0.5 * (a22 * e1 * e1 - 2.0 * a12 * e1 * e2 + a11 * e2 * e2) / det -
                  0.5 * std::log(det) - std::log(2.0 * std::numbers::pi);
      }
      const double mx = std::max(term[0], term[1]);
      const double lp = mx + std::log(std::exp(term[0] - mx) + std::exp(term[1] - mx));
      const double lq = lq1 + log_normal(y2, y1(i, 0) + d1 * m1(i, 0), v1);
      const double p = std::exp(lp);
      kl += wi * wj * (p * (lp - lq) - p + std::exp(lq));
    }
  }
  return kl;
}

TEST(PathKl, IdentityEqualsTheDirectKlOfTheTwoStepPath) {
  // The heart of THEORY.md §9: Δ_n = ½ Σ δ_k E‖X - f_k‖² - I(X; Y_{t_n}) (and
  // its covariance-matched analogue) against a brute-force KL of the path.
  auto target = two_mode_1d();
  auto exact = std::make_shared<MixtureDenoiser>(target);
  const PerturbedEstimator perturbed(exact, 0.3);
  for (const auto& [t1, t2] : {std::pair{0.5, 1.5}, std::pair{0.05, 0.3}, std::pair{2.0, 6.0}}) {
    Vector grid(3);
    grid << 0.0, t1, t2;
    const PathKlEvaluator ev(target, grid);
    for (const ConditionalMeanEstimator* f : {static_cast<const ConditionalMeanEstimator*>(exact.get()),
                                              static_cast<const ConditionalMeanEstimator*>(&perturbed)})
      for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched}) {
        const double identity = ev.evaluate(*f, rule, grid).delta_n.value;
        const double direct = direct_two_step_kl(*f, rule, 3.0, t1, t2);
        EXPECT_NEAR(identity, direct, 1e-6) << f->name() << " " << step_rule_name(rule) << " t = " << t1 << ", " << t2;
        EXPECT_GT(identity, 0.0);
      }
  }
}

TEST(PathKl, OneStepIsTheKlOfTheFirstMarginal) {
  // n = 1: the path is Y_{t_1} alone; KL(mixture ‖ N(t E[X], t + t² c)) by 1-D quadrature.
  auto target = two_mode_1d();
  const MixtureDenoiser exact(target);
  const double t = 1.3;
  Vector grid(2);
  grid << 0.0, t;
  const PathKlEvaluator ev(target, grid);
  for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched}) {
    const double v = t + (rule == StepRule::CovarianceMatched ? t * t * 10.0 : 0.0);  // Var X = 1 + 9
    const Index P = 20001;
    const double L = 3.0 * t + 15.0 * std::sqrt(t * t + t), h = 2.0 * L / (P - 1);
    Matrix y(P, 1);
    for (Index i = 0; i < P; ++i) y(i, 0) = -L + h * i;
    const Vector lp = target->log_density(y, t, std::sqrt(t));
    double kl = 0.0;
    for (Index i = 0; i < P; ++i) kl += h * std::exp(lp[i]) * (lp[i] - log_normal(y(i, 0), 0.0, v));
    EXPECT_NEAR(ev.evaluate(exact, rule, grid).delta_n.value, kl, 1e-9) << step_rule_name(rule);
  }
}

TEST(PathKl, GaussianTargetClosedForms) {
  // X ~ N(μ, σ²): M(t) = σ²/(1 + tσ²), I(X; Y_t) = ½ log(1 + tσ²); the
  // covariance-matched path KL is exactly 0, the mean-only one is
  // ½ Σ [δ_k σ²/(1 + t_k σ²) - log((1 + t_{k+1} σ²)/(1 + t_k σ²))].
  const double var = 2.0;
  auto target = gaussian_1d(0.4, var);
  const MixtureDenoiser exact(target);
  const Vector grid = discrete_time_geometric_grid(30.0, 0.01, 12);
  const PathKlEvaluator ev(target, grid);
  const PathKl cov = ev.evaluate(exact, StepRule::CovarianceMatched, grid);
  const PathKl mean = ev.evaluate(exact, StepRule::MeanOnly, grid);
  EXPECT_NEAR(cov.delta_n.value, 0.0, 1e-12);
  double want = 0.0;
  for (Index k = 0; k + 1 < grid.size(); ++k)
    want += 0.5 * ((grid[k + 1] - grid[k]) * var / (1.0 + grid[k] * var) -
                   std::log((1.0 + grid[k + 1] * var) / (1.0 + grid[k] * var)));
  EXPECT_NEAR(mean.delta_n.value, want, 1e-11);
  EXPECT_GT(mean.delta_n.value, 1e-3);
  for (Index k = 0; k < grid.size(); ++k) EXPECT_NEAR(mean.mmse[k].value, var / (1.0 + grid[k] * var), 1e-12);
  const auto I = ev.mutual_information();
  for (Index k = 0; k < grid.size(); ++k) EXPECT_NEAR(I[k].value, 0.5 * std::log1p(grid[k] * var), 1e-11);
  EXPECT_NEAR(mean.mutual_information.value, 0.5 * std::log1p(30.0 * var), 1e-11);
}

TEST(PathKl, GaussianTargetInTwoDimensionsIsExactDrawByDraw) {
  // For a Gaussian the posterior covariance does not depend on y, so every
  // Monte Carlo draw gives the same, exact, value: 0 for the covariance-matched step.
  SquareMatrix C(2, 2);
  C << 1.5, 0.6, 0.6, 0.8;
  Matrix mu(1, 2);
  mu << 1.0, -0.5;
  auto target = std::make_shared<GaussianMixture>(Vector::Ones(1), mu, std::vector<SquareMatrix>{C});
  const MixtureDenoiser exact(target);
  const Vector grid = discrete_time_uniform_grid(5.0, 10);
  PathKlOptions o;
  o.mmse.samples = 100;
  const PathKlEvaluator ev(target, grid, o);
  const PathKl cov = ev.evaluate(exact, StepRule::CovarianceMatched, grid);
  // (up to the central difference of dm/dt in the control variate)
  EXPECT_NEAR(cov.delta_n.value, 0.0, 1e-9);
  EXPECT_LT(cov.delta_n.standard_error, 1e-10);
  double want = 0.0;
  for (Index k = 0; k + 1 < grid.size(); ++k) {
    SquareMatrix A0 = grid[k] * C, A1 = grid[k + 1] * C;
    A0.diagonal().array() += 1.0;
    A1.diagonal().array() += 1.0;
    want +=
        0.5 * ((grid[k + 1] - grid[k]) * (C * A0.inverse()).trace() - std::log(A1.determinant() / A0.determinant()));
  }
  EXPECT_NEAR(ev.evaluate(exact, StepRule::MeanOnly, grid).delta_n.value, want, 1e-10);
}

TEST(PathKl, BoundsHoldAndTheEstimationTermIsKnown) {
  // Δ_n ≤ grid bound ≤ bound, and with f = E[X | y] + ε u the estimation
  // term is ½ Σ δ_k ε² = ½ t_n ε² (ε_k² = ε² at every step).
  auto target = two_mode_1d();
  auto exact = std::make_shared<MixtureDenoiser>(target);
  const double eps = 0.1;
  const PerturbedEstimator perturbed(exact, eps);
  const Vector fine = discrete_time_uniform_grid(20.0, 64);
  const PathKlEvaluator ev(target, fine);
  for (const ConditionalMeanEstimator* f : {static_cast<const ConditionalMeanEstimator*>(exact.get()),
                                            static_cast<const ConditionalMeanEstimator*>(&perturbed)})
    for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched})
      for (Index n : {4, 16, 64}) {
        const PathKl r = ev.evaluate(*f, rule, discrete_time_uniform_grid(20.0, n));
        EXPECT_LE(r.delta_n.value, r.bound_grid.value * (1 + 1e-12)) << f->name() << n;
        EXPECT_LE(r.bound_grid.value, r.bound.value * (1 + 1e-12)) << f->name() << n;
        const double est = f == exact.get() ? 0.0 : 0.5 * 20.0 * eps * eps;
        EXPECT_NEAR(r.estimation.value, est, 1e-12);
        for (const auto& e2 : r.eps2) EXPECT_NEAR(e2.value, f == exact.get() ? 0.0 : eps * eps, 1e-12);
        // The identity's split: Δ_n = discretization + estimation for the mean-only step.
        if (rule == StepRule::MeanOnly) {
          EXPECT_NEAR(r.delta_n.value, r.discretization.value + r.estimation.value, 1e-10);
        }
        EXPECT_DOUBLE_EQ(r.delta_max, 20.0 / n);
      }
}

TEST(PathKl, DiscretizationIsTheRulesOwnPathKlOfTheExactEstimator) {
  // On N(μ, σ²) the covariance-matched step with the exact estimator is exact
  // (discretization 0) while the mean-only one has the closed form of
  // GaussianTargetClosedForms; on the two-mode mixture, in d = 1 (quadrature)
  // and d = 2 (Monte Carlo, the same draws and control variate), the
  // discretization term of the exact estimator is its Δ_n, rule by rule.
  const double var = 2.0;
  auto gauss = gaussian_1d(0.4, var);
  const Vector grid = discrete_time_uniform_grid(20.0, 8);
  const PathKlEvaluator on_gauss(gauss, grid);
  const MixtureDenoiser exact_gauss(gauss);
  double mean_only = 0.0;
  for (Index k = 0; k + 1 < grid.size(); ++k)
    mean_only += 0.5 * ((grid[k + 1] - grid[k]) * var / (1.0 + grid[k] * var) -
                        std::log((1.0 + grid[k + 1] * var) / (1.0 + grid[k] * var)));
  EXPECT_NEAR(on_gauss.evaluate(exact_gauss, StepRule::CovarianceMatched, grid).discretization.value, 0.0, 1e-12);
  EXPECT_NEAR(on_gauss.evaluate(exact_gauss, StepRule::MeanOnly, grid).discretization.value, mean_only, 1e-11);
  for (Index d : {1, 2}) {
    auto target = two_mode(d);
    const MixtureDenoiser exact(target);
    PathKlOptions o;
    o.mmse.samples = 200;
    const PathKlEvaluator ev(target, grid, o);
    for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched}) {
      const PathKl r = ev.evaluate(exact, rule, grid);
      EXPECT_NEAR(r.discretization.value, r.delta_n.value, tolerance::kRoundoff * r.delta_n.value)
          << "d = " << d << " " << step_rule_name(rule);
      EXPECT_GT(r.discretization.value, 0.0);
    }
  }
}

TEST(PathKl, NestedGridsGiveTheSameAsTheirOwnEvaluator) {
  auto target = two_mode_1d();
  const MixtureDenoiser exact(target);
  const PathKlEvaluator fine(target, discrete_time_geometric_grid(50.0, 1e-3, 64));
  const Vector coarse = discrete_time_geometric_grid(50.0, 1e-3, 8);
  const PathKlEvaluator own(target, coarse);
  for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched}) {
    const double a = fine.evaluate(exact, rule, coarse).delta_n.value,
                 b = own.evaluate(exact, rule, coarse).delta_n.value;
    EXPECT_NEAR(a, b, 1e-9 * b) << step_rule_name(rule);
  }
  // A grid with a point the evaluator lacks, or not starting at 0, is refused.
  Vector off = coarse;
  off[3] *= 1.001;
  EXPECT_THROW(fine.evaluate(exact, StepRule::MeanOnly, off), ConfigError);
  Vector late(2);
  late << 0.5, 50.0;
  EXPECT_THROW(fine.evaluate(exact, StepRule::MeanOnly, late), ConfigError);
  EXPECT_THROW(PathKlEvaluator(target, late), ConfigError);
}

TEST(PathKl, MonteCarloInEightDimensionsAgreesWithTheExactReduction) {
  // The d = 8 two-mode mixture is the 1-D mixture along u plus seven
  // independent N(0, 1) coordinates, whose covariance-matched Δ is 0 and
  // mean-only Δ is the Gaussian closed form: Δ_8 = Δ_1 + 7 Δ_Gauss.
  auto t8 = two_mode(8), t1 = two_mode_1d();
  const MixtureDenoiser f8(t8), f1(t1);
  const Vector grid = discrete_time_geometric_grid(100.0, 1e-3, 32);
  PathKlOptions o;
  o.mmse.samples = 2000;
  const PathKlEvaluator ev8(t8, grid, o), ev1(t1, grid);
  double gauss = 0.0;
  for (Index k = 0; k + 1 < grid.size(); ++k)
    gauss += 0.5 * ((grid[k + 1] - grid[k]) / (1.0 + grid[k]) - std::log((1.0 + grid[k + 1]) / (1.0 + grid[k])));
  for (StepRule rule : {StepRule::MeanOnly, StepRule::CovarianceMatched}) {
    const PathKl r8 = ev8.evaluate(f8, rule, grid), r1 = ev1.evaluate(f1, rule, grid);
    const double want = r1.delta_n.value + (rule == StepRule::MeanOnly ? 7.0 * gauss : 0.0);
    EXPECT_NEAR(r8.delta_n.value, want, kStandardErrors * r8.delta_n.standard_error) << step_rule_name(rule);
    EXPECT_GT(r8.delta_n.standard_error, 0.0);
    EXPECT_LT(r8.delta_n.standard_error, 0.3 * want);
    EXPECT_NEAR(r8.mutual_information.value, r1.mutual_information.value + 3.5 * std::log(101.0),
                kStandardErrors * r8.mutual_information.standard_error);
  }
}

TEST(PathKl, CovarianceMatchedNeedsACovariance) {
  struct MeanOnly final : ConditionalMeanEstimator {
    Index dim() const override { return 1; }
    std::string name() const override { return "mean-only"; }
    void mean(const Matrix& Y, double, Matrix& m) const override { m = Matrix::Zero(Y.rows(), 1); }
  };
  const PathKlEvaluator ev(two_mode_1d(), discrete_time_uniform_grid(1.0, 2));
  EXPECT_THROW(ev.evaluate(MeanOnly{}, StepRule::CovarianceMatched, discrete_time_uniform_grid(1.0, 2)), ConfigError);
  EXPECT_GT(ev.evaluate(MeanOnly{}, StepRule::MeanOnly, discrete_time_uniform_grid(1.0, 2)).estimation.value, 0.0);
}

}  // namespace
}  // namespace diffgen
