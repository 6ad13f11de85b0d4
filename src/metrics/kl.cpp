#include "metrics/kl.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numbers>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/limits.hpp"
#include "core/parallel.hpp"
#include "likelihood/score_integration.hpp"

namespace diffgen {
namespace {

void require_1d_target(const Target& target, const char* what) {
  if (target.dim() != 1)
    throw ConfigError(std::string(what) + " needs a 1-D target; this one has dimension " +
                      std::to_string(target.dim()));
}

// p (log p - log q) at one node; 0 where p underflows (p log p -> 0).
double kl_integrand(double log_p, double log_q, double x) {
  const double p = std::exp(log_p);
  if (p == 0.0) return 0.0;
  if (!std::isfinite(log_p) || !std::isfinite(log_q))
    throw NumericalError("KL: log p = " + format_double(log_p) + ", log q = " + format_double(log_q) +
                         " at x = " + format_double(x));
  return p * (log_p - log_q);
}

Vector kl_integrand(const ConstStridedVector& x, const ConstStridedVector& log_p, const ConstStridedVector& log_q) {
  Vector g(x.size());
  for (Index i = 0; i < g.size(); ++i) g[i] = kl_integrand(log_p[i], log_q[i], x[i]);
  return g;
}

// log p_ref at x: the clean target (t = 0) or its law at time t.
Vector reference_log_density(const Target& target, const Sde& sde, KlReference reference, double t,
                             const Vector& x) {
  if (reference == KlReference::Clean) return target.log_density(x, 1.0, 0.0);
  return target.log_density(x, sde.a(t), sde.s(t));
}

}  // namespace

KlGridSummary kl_on_grid(const Grid& grid, const Vector& log_p, const Vector& log_q, const Vector& log_q_coarse) {
  if (auto err = grid.validate("grid"); !err.empty()) throw ConfigError(err);
  const Grid coarse = grid.coarse();
  if (log_p.size() != grid.points || log_q.size() != grid.points || log_q_coarse.size() != coarse.points)
    throw ConfigError("KL: log p, log q and log q_2h have " + std::to_string(log_p.size()) + ", " +
                      std::to_string(log_q.size()) + ", " + std::to_string(log_q_coarse.size()) +
                      " values for a grid of " + std::to_string(grid.points) + " nodes");
  KlGridSummary out;
  // Simpson on the grid, and again with step 2h on every other node: both are
  // 4th order, so their difference / 15 estimates the error of the first.
  const Vector x = grid.nodes();
  const double kl_h = simpson(kl_integrand(x, log_p, log_q), grid.step());
  const double kl_2h = simpson(kl_integrand(every_other(x), every_other(log_p), log_q_coarse), coarse.step());
  out.kl = kl_h;
  out.quadrature_error = std::abs(kl_h - kl_2h) / 15.0;
  out.target_mass_outside = 1.0 - simpson(log_p.array().exp().matrix(), grid.step());
  out.model_mass_on_grid = simpson(log_q.array().exp().matrix(), grid.step());
  return out;
}

KlGridSummary kl_on_grid(const Grid& grid, const Vector& log_p, const Vector& log_q) {
  if (log_q.size() != grid.points)
    throw ConfigError("KL: log q has " + std::to_string(log_q.size()) + " values for a grid of " +
                      std::to_string(grid.points) + " nodes");
  return kl_on_grid(grid, log_p, log_q, Vector(every_other(log_q)));
}

std::string KlOptions::validate() const {
  if (!(t0 > 0.0) || !std::isfinite(t0))
    return "t0 = " + format_double(t0) + " is not allowed (need a finite diffusion time > 0)";
  return grid.validate("grid");
}

Grid KlOptions::evaluation_grid() const {
  return method == KlMethod::PaperGrid ? Grid{kPaperGridLo, kPaperGridHi, kPaperGridPoints} : grid;
}

std::string kl_coverage_error(const KlOptions& options, double reach) {
  const Grid g = options.evaluation_grid();
  if (g.lo <= -reach && g.hi >= reach) return "";
  const std::string need = fmt::format("it needs at least [-{}, {}] (target.mu + 6 sqrt(target.var))",
                                       format_double(reach), format_double(reach));
  if (options.method == KlMethod::PaperGrid)
    return fmt::format(
        "kl.method = paper-grid integrates on Li2023's fixed grid [{}, {}], which does not cover the target's mass: "
        "{}; use kl.method = fine with kl.lo/kl.hi covering it",
        format_double(g.lo), format_double(g.hi), need);
  return fmt::format("kl.lo/kl.hi = [{}, {}] does not cover the target's mass: {}", format_double(g.lo),
                     format_double(g.hi), need);
}

KlSummary kl_score_integrated(const ScoreModel& model, const Target& target, const Sde& sde, const KlOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (!(options.t0 <= sde.T()))
    throw ConfigError("t0 = " + format_double(options.t0) +
                      " is not allowed (need t0 <= T = " + format_double(sde.T()) + ")");
  require_1d_target(target, "KL (score-integrated)");
  KlSummary out;
  out.definition = "score-integrated";
  out.method = enum_name(options.method);
  out.reference = enum_name(options.reference);
  out.model_time = options.t0;
  out.reference_time = options.reference == KlReference::Clean ? 0.0 : options.t0;

  if (options.method == KlMethod::Fine) {
    const ScoreIntegrationSummary q = integrate_score(model, {options.t0, options.grid});
    out.x = q.x;
    out.log_q = q.log_q;
    out.log_p = reference_log_density(target, sde, options.reference, options.t0, q.x);
    const KlGridSummary g = kl_on_grid(options.grid, out.log_p, q.log_q, q.log_q_coarse);
    out.kl = g.kl;
    out.target_mass_outside = g.target_mass_outside;
    out.model_mass_on_grid = g.model_mass_on_grid;
    out.quadrature_error = g.quadrature_error;
    out.evaluations = q.evaluations;
    out.log_q_coarse = q.log_q_coarse;
    return out;
  }

  // paper-grid: the Riemann sums of Li2023's code, KL = Σ_j p_j (log p_j - log q_j) 0.4.
  const ScoreIntegrationSummary q = integrate_score_paper_grid(model, options.t0);
  out.x = q.x;
  out.log_q = q.log_q;
  out.log_p = reference_log_density(target, sde, options.reference, options.t0, q.x);
  double kl = 0.0, mass_p = 0.0, mass_q = 0.0;
  for (Index j = 0; j < q.x.size(); ++j) {
    kl += kl_integrand(out.log_p[j], out.log_q[j], q.x[j]);
    mass_p += std::exp(out.log_p[j]);
    mass_q += std::exp(out.log_q[j]);
  }
  out.kl = kl * kPaperGridStep;
  out.target_mass_outside = 1.0 - mass_p * kPaperGridStep;
  out.model_mass_on_grid = mass_q * kPaperGridStep;
  out.quadrature_error = q.quadrature_error;
  out.evaluations = q.evaluations;
  return out;
}

KlGridSummary kl_against_learned(const KlSummary& learned, const Vector& log_r) {
  const Index n = learned.x.size();
  if (n < 2 || learned.log_q.size() != n || log_r.size() != n)
    throw ConfigError("KL against the learned density: " + std::to_string(log_r.size()) + " reference values and " +
                      std::to_string(learned.log_q.size()) + " learned values for a grid of " + std::to_string(n) +
                      " nodes");
  if (learned.method == "paper-grid") {
    // The Riemann sums of Li2023's code, as in kl_score_integrated.
    KlGridSummary out;
    double kl = 0.0, mass_r = 0.0, mass_q = 0.0;
    for (Index j = 0; j < n; ++j) {
      kl += kl_integrand(log_r[j], learned.log_q[j], learned.x[j]);
      mass_r += std::exp(log_r[j]);
      mass_q += std::exp(learned.log_q[j]);
    }
    out.kl = kl * kPaperGridStep;
    out.target_mass_outside = 1.0 - mass_r * kPaperGridStep;
    out.model_mass_on_grid = mass_q * kPaperGridStep;
    out.quadrature_error = learned.quadrature_error;
    return out;
  }
  // The nodes are lo + (hi - lo) i / (n - 1), so the grid is rebuilt exactly.
  const Grid grid{learned.x[0], learned.x[n - 1], n};
  if (learned.log_q_coarse.size() > 0) return kl_on_grid(grid, log_r, learned.log_q, learned.log_q_coarse);
  return kl_on_grid(grid, log_r, learned.log_q);
}

double mass_fraction_above(const Vector& x, const Vector& log_q, double c) {
  const Index n = x.size();
  if (n < 2 || log_q.size() != n)
    throw ConfigError("mass fraction: " + std::to_string(log_q.size()) + " log-density values for " +
                      std::to_string(n) + " nodes (need at least 2)");
  double total = 0.0, above = 0.0;
  for (Index i = 0; i + 1 < n; ++i) {
    const double q0 = std::exp(log_q[i]), q1 = std::exp(log_q[i + 1]), h = x[i + 1] - x[i];
    total += 0.5 * (q0 + q1) * h;
    if (x[i] >= c) {
      above += 0.5 * (q0 + q1) * h;
    } else if (x[i + 1] > c) {
      // The part of the cell above c, q linear in between.
      const double qc = q0 + (q1 - q0) * (c - x[i]) / h;
      above += 0.5 * (qc + q1) * (x[i + 1] - c);
    }
  }
  if (!(total > 0.0) || !std::isfinite(total)) return std::numeric_limits<double>::quiet_NaN();
  return above / total;
}

std::string KlPfOdeOptions::validate() const {
  if (auto err = grid.validate("grid"); !err.empty()) return err;
  return ode.validate();
}

KlSummary kl_pf_ode(const ScoreModel& model, const Target& target, const Sde& sde, const KlPfOdeOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  require_1d_target(target, "KL (PF-ODE)");
  KlSummary out;
  out.definition = "pf-ode";
  out.method = "rk45";
  out.reference = enum_name(options.reference);
  out.prior = enum_name(options.prior);
  out.model_time = options.ode.eps;
  out.reference_time = options.reference == KlReference::Clean ? 0.0 : options.ode.eps;
  out.x = options.grid.nodes();

  // log p_T: the SDE's Gaussian prior, or the target's exact law at T.
  LogDensityFunction log_prior;
  if (options.prior == KlPrior::Exact) {
    const double aT = sde.a(sde.T()), sT = sde.s(sde.T());
    log_prior = [&target, aT, sT](const Matrix& X) { return target.log_density(X, aT, sT); };
  }
  const PfOdeSummary pf = pf_ode_log_density(model, sde, out.x, options.ode, log_prior);
  out.log_q = pf.log_density;
  out.log_p = reference_log_density(target, sde, options.reference, options.ode.eps, out.x);
  const KlGridSummary g = kl_on_grid(options.grid, out.log_p, out.log_q);
  out.kl = g.kl;
  out.target_mass_outside = g.target_mass_outside;
  out.model_mass_on_grid = g.model_mass_on_grid;
  out.quadrature_error = g.quadrature_error;

  // The solver's share: every other node again with tighter tolerances.
  PfOdeOptions tight = options.ode;
  tight.rtol *= kSolverCheckFactor;
  tight.atol *= kSolverCheckFactor;
  const Grid coarse = options.grid.coarse();
  const Vector xc = coarse.nodes();
  const PfOdeSummary check = pf_ode_log_density(model, sde, xc, tight, log_prior);
  const Vector log_pc = every_other(out.log_p);
  const double kl_tol = simpson(kl_integrand(xc, log_pc, every_other(out.log_q)), coarse.step());
  const double kl_tight = simpson(kl_integrand(xc, log_pc, check.log_density), coarse.step());
  out.solver_error = kSolverErrorSafety * std::abs(kl_tol - kl_tight) / (1.0 - kSolverCheckFactor);

  out.evaluations = pf.point_evaluations + check.point_evaluations;
  out.ode_steps = pf.steps + check.steps;
  out.ode_rejected_steps = pf.rejected_steps + check.rejected_steps;
  return out;
}

namespace {

// KL(p_T ‖ prior) for log p_T given as a function of the nodes; `reach` is
// the largest |x| of the clean density's bulk, `narrowest` the smallest
// standard deviation of p_T's components.
KlGridSummary kl_against_prior(const std::function<Vector(const Vector&)>& log_p_T, const Sde& sde, double reach,
                               double narrowest) {
  const double T = sde.T();
  const double half_width = std::abs(sde.a(T)) * reach + 12.0 * std::max(sde.s(T), sde.prior_std());
  const double h = std::min(narrowest, sde.prior_std()) / 16.0;
  const Index intervals = 4 * std::max<Index>(2, checked_count(2.0 * half_width / h / 4.0, kMaxGridPoints / 4,
                                                               "KL against the prior: grid"));
  const Grid grid{-half_width, half_width, intervals + 1};
  const Vector x = grid.nodes();
  return kl_on_grid(grid, log_p_T(x), sde.prior_log_density(x));
}

}  // namespace

KlGridSummary kl_prior_mismatch(const Target& target, const Sde& sde, double reach) {
  require_1d_target(target, "the prior mismatch");
  if (!(reach > 0.0) || !std::isfinite(reach))
    throw ConfigError("prior mismatch: reach = " + format_double(reach) + " is not allowed (need a finite reach > 0)");
  const double aT = sde.a(sde.T()), sT = sde.s(sde.T());
  return kl_against_prior([&](const Vector& x) { return target.log_density(x, aT, sT); }, sde, reach, sT);
}

KlGridSummary kl_prior_mismatch(const Vector& data, const Sde& sde) {
  if (data.size() == 0) throw ConfigError("prior mismatch: no data points");
  const double aT = sde.a(sde.T()), sT = sde.s(sde.T());
  return kl_against_prior([&](const Vector& x) { return empirical_mixture_log_density(data, aT, sT, x); }, sde,
                          data.cwiseAbs().maxCoeff(), sT);
}

double kl_smoothing_floor(const Target& target, double a, double s, const Grid& grid) {
  if (auto err = grid.validate("grid"); !err.empty()) throw ConfigError(err);
  require_1d_target(target, "the smoothing floor");
  if (!(s > 0.0) || !std::isfinite(s) || !std::isfinite(a))
    throw ConfigError("smoothing floor: s = " + format_double(s) + ", a = " + format_double(a) +
                      " is not allowed (need finite a, s > 0)");
  const Vector x = grid.nodes();
  return kl_on_grid(grid, target.log_density(x, 1.0, 0.0), target.log_density(x, a, s)).kl;
}

Vector empirical_mixture_log_density(const Vector& data, double a, double s, const Vector& x) {
  if (data.size() == 0) throw ConfigError("empirical mixture: no data points");
  if (!(s > 0.0) || !std::isfinite(s) || !std::isfinite(a))
    throw ConfigError("empirical mixture: s = " + format_double(s) + ", a = " + format_double(a) +
                      " is not allowed (need finite a, s > 0)");
  std::vector<double> centres(data.size());
  for (Index i = 0; i < data.size(); ++i) centres[i] = a * data[i];
  std::sort(centres.begin(), centres.end());
  const double n = static_cast<double>(centres.size());
  const double log_norm = -std::log(n) - 0.5 * std::log(2.0 * std::numbers::pi * s * s);
  const double inv_2s2 = 0.5 / (s * s);
  // Terms more than e^-40 below the largest change log q by < n e^-40: skip them.
  constexpr double kCut = 40.0;
  Vector out(x.size());
  parallel_for(x.size(), 4096, [&](Index b, Index e) {
    for (Index i = b; i < e; ++i) {
      const double xi = x[i];
      // Nearest centre, then the window of centres within reach of it.
      const auto it = std::lower_bound(centres.begin(), centres.end(), xi);
      double d2 = std::numeric_limits<double>::infinity();
      if (it != centres.end()) d2 = std::min(d2, (*it - xi) * (*it - xi));
      if (it != centres.begin()) d2 = std::min(d2, (*(it - 1) - xi) * (*(it - 1) - xi));
      const double reach = std::sqrt(d2 + kCut / inv_2s2);
      const auto first = std::lower_bound(centres.begin(), centres.end(), xi - reach);
      const auto last = std::upper_bound(centres.begin(), centres.end(), xi + reach);
      // log-sum-exp relative to the nearest centre's term.
      double sum = 0.0;
      for (auto c = first; c != last; ++c) sum += std::exp(-((*c - xi) * (*c - xi) - d2) * inv_2s2);
      out[i] = log_norm - d2 * inv_2s2 + std::log(sum);
    }
  });
  return out;
}

KlGridSummary kl_empirical_floor(const Target& target, const Vector& data, double a, double s, double lo, double hi) {
  require_1d_target(target, "the empirical floor");
  if (!(s > 0.0) || !std::isfinite(s))
    throw ConfigError("empirical floor: s = " + format_double(s) + " is not allowed (need a finite s > 0)");
  // Step <= s/8 resolves every bump of the mixture (and <= 0.01 the target);
  // intervals rounded up to a multiple of 4 for Simpson + Richardson.
  constexpr double kStepsPerBandwidth = 8.0;
  const double h = std::min(s / kStepsPerBandwidth, 0.01);
  const Index intervals = 4 * checked_count((hi - lo) / h / 4.0, kMaxGridPoints / 4, "empirical floor: grid");
  const Grid grid{lo, hi, std::max<Index>(intervals, 8) + 1};
  if (auto err = grid.validate("grid"); !err.empty()) throw ConfigError(err);
  const Vector x = grid.nodes();
  return kl_on_grid(grid, target.log_density(x, 1.0, 0.0), empirical_mixture_log_density(data, a, s, x));
}

const OptionTable<KlOptions>& kl_options() {
  using O = KlOptions;
  static const auto table = [] {
    OptionTable<O> t;
    t.add("kl.t0", [](O& o) -> auto& { return o.t0; },
          "KL (a): diffusion time whose score is integrated (Li2023's code: 0.065)",
          {.min = 0.0, .min_exclusive = true});
    t.add("kl.reference", [](O& o) -> auto& { return o.reference; },
          "KL (a) against the clean target p_0 or the smoothed p_t0");
    t.add("kl.method", [](O& o) -> auto& { return o.method; },
          "KL (a): converged quadrature on the grid, or Li2023's coarse 51-point grid (to compare only)");
    t.add("kl.lo", [](O& o) -> auto& { return o.grid.lo; }, "KL grid: lower end");
    t.add("kl.hi", [](O& o) -> auto& { return o.grid.hi; }, "KL grid: upper end");
    t.add("kl.points", [](O& o) -> auto& { return o.grid.points; }, "KL (a) grid nodes (4k + 1)", {.min = 9});
    return t;
  }();
  return table;
}

const OptionTable<KlPfOdeOptions>& kl_ode_options() {
  using O = KlPfOdeOptions;
  static const auto table = [] {
    OptionTable<O> t;
    t.add("kl.ode.reference", [](O& o) -> auto& { return o.reference; },
          "KL (b) against the clean target p_0 or the smoothed p_eps");
    t.add("kl.ode.prior", [](O& o) -> auto& { return o.prior; },
          "KL (b): the sampler's prior N(0, s(T)^2) or the target's exact p_T");
    t.add("kl.ode.points", [](O& o) -> auto& { return o.grid.points; }, "KL (b) grid nodes (4k + 1) on [kl.lo, kl.hi]",
          {.min = 9});
    t.add("kl.ode.rtol", [](O& o) -> auto& { return o.ode.rtol; }, "KL (b): relative tolerance of the RK45 solver",
          {.min = 0.0, .max = 1.0, .min_exclusive = true});
    t.add("kl.ode.atol", [](O& o) -> auto& { return o.ode.atol; }, "KL (b): absolute tolerance of the RK45 solver",
          {.min = 0.0, .max = 1.0, .min_exclusive = true});
    return t;
  }();
  return table;
}

}  // namespace diffgen
