// KL(p_target ‖ p_learned) for 1-D targets (THEORY.md §5), with both
// definitions of the learned density: (a) the score integrated at t_0 and
// (b) the density the probability-flow ODE generates; plus the closed-form
// reference floors every experiment reports next to them.
#pragma once

#include <string>

#include "core/options.hpp"
#include "likelihood/pf_ode.hpp"
#include "models/score_model.hpp"
#include "numerics/quadrature.hpp"
#include "sde/sde.hpp"
#include "targets/target.hpp"

namespace diffgen {

struct KlGridSummary {
  double kl = 0.0;                   // Simpson's ∫_grid p (log p - log q)
  double target_mass_outside = 0.0;  // 1 - ∫_grid p (p normalized on the real line)
  double model_mass_on_grid = 0.0;   // ∫_grid q
  double quadrature_error = 0.0;     // Richardson: |KL_h - KL_2h| / 15
};

// KL(p ‖ q) = ∫ p (log p - log q) on the grid by Simpson's rule, from log p
// and log q at the grid nodes. Where p underflows to 0 the integrand is 0;
// a non-finite log q where p > 0 throws NumericalError naming x.
KlGridSummary kl_on_grid(const Grid& grid, const Vector& log_p, const Vector& log_q);

// As kl_on_grid, with the Richardson partner log q_2h (on every other node)
// computed separately, so the error estimate covers the computation of log q too.
KlGridSummary kl_on_grid(const Grid& grid, const Vector& log_p, const Vector& log_q, const Vector& log_q_coarse);

struct KlSummary {
  double kl = 0.0;
  std::string definition;       // "score-integrated" (a) | "pf-ode" (b)
  std::string method;           // (a): "fine" | "paper-grid"; (b): "rk45"
  std::string reference;        // "clean" (p_0) | "smoothed" (p at model_time)
  std::string prior;            // (b): "gaussian" | "exact"; (a): empty
  double model_time = 0.0;      // t_0 (a) or ε (b)
  double reference_time = 0.0;  // 0 for clean, model_time for smoothed
  double target_mass_outside = 0.0;
  double model_mass_on_grid = 0.0;
  // fine / (b): Richardson |KL_h - KL_2h| / 15; paper-grid: the largest
  // Gauss–Kronrod error estimate of log q_j (the Riemann sum's own error is
  // not estimated).
  double quadrature_error = 0.0;
  // (b) only: the PF-ODE solver's share of the error, estimated by solving
  // again with tolerances kSolverCheckFactor times tighter (see kl_pf_ode).
  double solver_error = 0.0;
  // Everything known about how far kl may be from the exact KL of this
  // quadrature's densities: the quadrature and, for (b), the solver estimate.
  double error() const { return quadrature_error + solver_error; }
  Index evaluations = 0;  // score (and, for (b), divergence) evaluations of single points
  Index ode_steps = 0;    // (b): accepted steps summed over chunks
  Index ode_rejected_steps = 0;
  Vector x, log_p, log_q;  // the grid and both log-densities on it (for plots)
  // fine: log q computed again with step 2h on every other node (the
  // Richardson partner of log_q), so that kl_against_learned can estimate the
  // error of a KL against another reference; empty for paper-grid and (b).
  Vector log_q_coarse;
};

// The reference density of a KL: the clean target p_0, or its law at the
// model's time (p_t0 for (a), p_ε for (b)).
enum class KlReference { Clean, Smoothed };
// Definition (a)'s quadrature: converged (fine) or Li2023's coarse grid.
enum class KlMethod { Fine, PaperGrid };
// Definition (b)'s prior: the SDE's N(0, prior_std²) or the target's exact p_T.
enum class KlPrior { Gaussian, Exact };

template <>
struct EnumNames<KlReference> {
  static constexpr std::array table{std::pair{KlReference::Clean, std::string_view("clean")},
                                    std::pair{KlReference::Smoothed, std::string_view("smoothed")}};
};
template <>
struct EnumNames<KlMethod> {
  static constexpr std::array table{std::pair{KlMethod::Fine, std::string_view("fine")},
                                    std::pair{KlMethod::PaperGrid, std::string_view("paper-grid")}};
};
template <>
struct EnumNames<KlPrior> {
  static constexpr std::array table{std::pair{KlPrior::Gaussian, std::string_view("gaussian")},
                                    std::pair{KlPrior::Exact, std::string_view("exact")}};
};

struct KlOptions {
  double t0 = 0.065;  // time of the integrated score
  KlReference reference = KlReference::Clean;
  // fine: converged quadrature on `grid` | paper-grid: Li2023's coarse version
  // (on the population oracle it gives 0.00144609 against the floor
  // KL(p_0 ‖ p_t0) = 0.00144611: both densities are smooth at spacing 0.4).
  KlMethod method = KlMethod::Fine;
  Grid grid{};  // fine only: default [-12, 12], 2401 nodes (h = 0.01)
  std::string validate() const;
  // The nodes the KL is integrated on: `grid` for fine, Li2023's fixed
  // [-10, 10] (51 nodes) for paper-grid.
  Grid evaluation_grid() const;
};

// Empty when the grid the KL of `options` is integrated on holds the target's
// mass, i.e. reaches +-reach (the outer modes plus 6 standard deviations,
// where the mass beyond is < 1e-9); otherwise a message naming the keys
// (kl.lo/kl.hi, or kl.method for the fixed paper grid). Every method passes
// this one check: a grid that misses the mass gives a KL near 0 for any model.
std::string kl_coverage_error(const KlOptions& options, double reach);

// Definition (a): KL(p_ref ‖ q) with q the score-integrated density at t_0
// (likelihood/score_integration.hpp). Needs a 1-D model and target.
KlSummary kl_score_integrated(const ScoreModel& model, const Target& target, const Sde& sde,
                              const KlOptions& options = {});

// KL(r ‖ q) for another reference density r, with q the learned density of a
// definition-(a) evaluation `learned` and log r given at its nodes
// (learned.x). Same quadrature as the evaluation itself: Simpson with the
// Richardson estimate for fine, the Riemann sum (step 0.4) for paper-grid.
// The memorization measure of THEORY.md §8 uses r = p_emp,t0, the empirical
// oracle's density (1/n) Σ_i N(a(t0) x_i, s(t0)²): a model that memorizes
// the training set approaches it (KL(p_emp,t0 ‖ q) → 0), one that
// generalizes stays closer to the target than to it.
KlGridSummary kl_against_learned(const KlSummary& learned, const Vector& log_r);

// The fraction of q's mass on x > c, with log q at the increasing nodes x:
// the trapezoid rule on both sides, q interpolated linearly inside the cell
// that holds c (0 when c >= x.back(), 1 when c < x.front()). A ratio of two
// sums under the same rule, so a density symmetric about c on a grid
// symmetric about c gives exactly ½. For a two-mode target at ±mu and c = 0
// it is the learned weight of the right mode (Li2023 Figs. 4–5).
double mass_fraction_above(const Vector& x, const Vector& log_q, double c = 0.0);

struct KlPfOdeOptions {
  KlReference reference = KlReference::Clean;
  KlPrior prior = KlPrior::Gaussian;
  // Default [-12, 12] with 241 nodes (h = 0.1). Freshly initialized networks
  // need only 121 (Richardson error ~1e-6), but trained 16-unit networks put
  // PF-ODE peaks about 0.2 wide on the modes: at h = 0.1 their error estimate
  // is ~1.5e-3 on KLs of 0.3–0.6 (early-stopping, 5 seeds), at h = 0.2 it is
  // an order larger. quadrature_error reports it for every evaluation.
  Grid grid{-12.0, 12.0, 241};
  PfOdeOptions ode{};
  std::string validate() const;
};

// The keys of definition (a): kl.t0, kl.reference, kl.method, kl.lo, kl.hi,
// kl.points; and of (b): kl.ode.reference, kl.ode.prior, kl.ode.points,
// kl.ode.rtol, kl.ode.atol (its grid spans kl.lo to kl.hi: the reader sets
// grid.lo and grid.hi from definition (a)'s; its eps is the SDE's).
const OptionTable<KlOptions>& kl_options();
const OptionTable<KlPfOdeOptions>& kl_ode_options();

// How much tighter the second solve of kl_pf_ode is. The global error of an
// adaptive Dormand–Prince solve shrinks about in proportion to its
// tolerances, so KL_tol - KL_tight ≈ (1 - factor) × the error of KL_tol.
inline constexpr double kSolverCheckFactor = 0.1;
// The check runs on every other node, whose chunks of the batched solve
// differ from the full grid's, so it can miss part of the full grid's error
// (on the population oracle by up to 1.7 times); solver_error is this many
// times the difference. Measured on the population oracle (VE, exact prior,
// tolerances 1e-3 ... 1e-7) the true deviation is 0.29-0.39 of it.
inline constexpr double kSolverErrorSafety = 3.0;

// Definition (b): KL(p_ref ‖ p_ε) with p_ε the PF-ODE's output density at the
// grid nodes (likelihood/pf_ode.hpp). Needs a 1-D target and a model with an
// exact divergence. Besides the Richardson quadrature_error it estimates the
// solver's error: log p_ε is computed again on every other node with
// tolerances kSolverCheckFactor times tighter, and solver_error is
// kSolverErrorSafety times the change of the step-2h Simpson KL divided by
// (1 - kSolverCheckFactor). That second solve costs about 0.8 times the first.
KlSummary kl_pf_ode(const ScoreModel& model, const Target& target, const Sde& sde, const KlPfOdeOptions& options = {});

// The prior mismatch of definition (b): KL(p_T ‖ N(0, prior_std²)) between a
// density's law at the SDE's end time T and the SDE's Gaussian prior, by
// Simpson on a grid that spans p_T and the prior with step ≤ s(T)/16. The
// PF-ODE is invertible, so the output of the exact score's PF-ODE started
// from the Gaussian prior is exactly this far (in KL) from p_ε: with
// kl.ode.prior = gaussian a perfect learner's KL (b) is this mismatch, up to
// the tiny smoothing floor KL(p_0 ‖ p_ε).
// For the target: p_T = its law at (a(T), s(T)); `reach` bounds the clean
// target's bulk (|x| <= reach holds all but a negligible mass).
KlGridSummary kl_prior_mismatch(const Target& target, const Sde& sde, double reach);
// For the training set (1-D data): p_T = (1/n) Σ N(a(T) x_i, s(T)²), the law
// at T of the memorized set, which its PF-ODE would need as prior.
KlGridSummary kl_prior_mismatch(const Vector& data, const Sde& sde);

// KL(p_0 ‖ p_(a,s)) between the clean target and its law at (a, s), by
// Simpson on the grid: the smoothing floor of a perfect learner.
double kl_smoothing_floor(const Target& target, double a, double s, const Grid& grid = {});

// log of (1/n) Σ_i N(x; a x_i, s²) at every x, for 1-D data: the exact density
// of the empirical oracle at a time with (a(t), s(t)) = (a, s). Each point
// sums only the data within the window where terms matter (the others are
// below e^-40 of the largest), so the cost is nearly independent of n.
Vector empirical_mixture_log_density(const Vector& data, double a, double s, const Vector& x);

// KL(p_0 ‖ (1/n) Σ_i N(a x_i, s²)): the memorization floor (the empirical
// oracle's exact density). Computed by quadrature, not by the PF-ODE: at
// s(1e-5) ≈ 0.003 the mixture is a comb of bumps that a KL grid must resolve.
// The grid covers [lo, hi] with step <= s / 8 (and <= 0.01): on the two-mode
// target with n = 1000 the Richardson estimate (quadrature_error) is below
// 1e-6 of the KL at every s measured (s(t) for t = 1e-5 ... 0.065).
KlGridSummary kl_empirical_floor(const Target& target, const Vector& data, double a, double s, double lo = -12.0,
                                 double hi = 12.0);

}  // namespace diffgen
