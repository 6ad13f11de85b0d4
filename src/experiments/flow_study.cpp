#include "experiments/flow_study.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "numerics/minimize.hpp"
#include "numerics/quadrature.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

std::vector<double> log_tau_grid(double lo, double hi, Index per_decade) {
  if (!(lo > 0.0) || !(hi >= lo) || !std::isfinite(hi) || per_decade < 1)
    throw ConfigError(fmt::format("tau grid: [{}, {}] with {} per decade (need 0 < lo <= hi, finite, >= 1 per decade)",
                                  lo, hi, per_decade));
  std::vector<double> tau;
  const double l0 = std::log10(lo), l1 = std::log10(hi), d = static_cast<double>(per_decade);
  const Index k0 = static_cast<Index>(std::ceil(l0 * d - 1e-9)), k1 = static_cast<Index>(std::floor(l1 * d + 1e-9));
  for (Index k = k0; k <= k1; ++k) tau.push_back(std::pow(10.0, static_cast<double>(k) / d));
  if (tau.empty()) tau.push_back(lo);
  return tau;
}

namespace {

// The grid index of the smallest value of `field`.
Index argmin(const std::vector<FlowPoint>& g, double FlowPoint::*field) {
  Index k = 0;
  for (Index i = 1; i < static_cast<Index>(g.size()); ++i)
    if (g[i].*field < g[k].*field) k = i;
  return k;
}

}  // namespace

FlowCurve evaluate_flow(const ExactGradientFlow& flow, const QuadraticDsmLoss& loss, const QuadraticDsmLoss* reference,
                        RandomFeatureModel& model, const Target& target, const Sde& sde,
                        const FlowCurveOptions& options, const std::function<void(Index)>& progress) {
  if (model.width() != loss.G.rows())
    throw ConfigError(
        fmt::format("evaluate_flow: the model has {} features, the loss {}", model.width(), loss.G.rows()));
  if (options.tau.empty()) throw ConfigError("evaluate_flow: empty tau grid");
  FlowCurve curve;
  auto A_at = [&](double tau) { return std::isinf(tau) ? flow.minimizer() : flow.at(tau); };
  auto point_at = [&](double tau) {
    const Matrix A = A_at(tau);
    model.coefficients() = A;
    FlowPoint p;
    p.tau = tau;
    try {
      p.kl_a = kl_score_integrated(model, target, sde, options.kl).kl;
    } catch (const NumericalError& e) {
      throw NumericalError(fmt::format("KL (a) of the flow at tau = {} failed: {}", tau, e.what()));
    }
    if (!std::isfinite(p.kl_a)) throw NumericalError(fmt::format("KL (a) of the flow at tau = {} is {}", tau, p.kl_a));
    ++curve.kl_evaluations;
    p.train_loss = loss.value(A);
    p.test_loss = reference ? reference->value(A) : kNaN;
    return p;
  };
  for (double tau : options.tau) {
    curve.grid.push_back(point_at(tau));
    if (progress) progress(1);
  }
  curve.limit = point_at(kInf);
  const auto& g = curve.grid;
  const Index last = static_cast<Index>(g.size()) - 1;
  auto bracket = [&](Index k) {
    return std::pair{std::log(g[std::max<Index>(k - 1, 0)].tau), std::log(g[std::min<Index>(k + 1, last)].tau)};
  };

  // KL (a): golden section inside the grid minimum's bracket; every point
  // evaluated is a candidate, so refining never makes the minimum worse.
  const Index k = argmin(g, &FlowPoint::kl_a);
  curve.best = g[k];
  if (options.refine_steps > 0 && last > 0) {
    const auto [lo, hi] = bracket(k);
    golden_section(
        [&](double log_tau) {
          const FlowPoint p = point_at(std::exp(log_tau));
          if (p.kl_a < curve.best.kl_a) curve.best = p;
          return p.kl_a;
        },
        lo, hi, options.refine_steps);
  }
  if (curve.limit.kl_a < curve.best.kl_a) curve.best = curve.limit;

  // The test loss is a quadratic form, cheap to evaluate: refine it the same
  // way without KL, then evaluate KL once at its minimum.
  if (reference) {
    const Index kt = argmin(g, &FlowPoint::test_loss);
    double tau_best = g[kt].tau, loss_best = g[kt].test_loss;
    if (last > 0) {
      const auto [lo, hi] = bracket(kt);
      const auto test_loss = [&](double log_tau) { return reference->value(flow.at(std::exp(log_tau))); };
      const double tau = std::exp(golden_section(test_loss, lo, hi, 60).x);
      if (const double v = reference->value(flow.at(tau)); v < loss_best) tau_best = tau, loss_best = v;
    }
    if (curve.limit.test_loss <= loss_best) tau_best = kInf;
    curve.best_test = std::isinf(tau_best) ? curve.limit : point_at(tau_best);
  } else {
    curve.best_test = FlowPoint{kNaN, kNaN, kNaN, kNaN};
  }
  return curve;
}

double stopping_time(double best_tau, double best_value, double limit_value, double relative) {
  return best_value < limit_value - relative * std::abs(limit_value) ? best_tau : kInf;
}

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

}  // namespace

void add_flow_study_keys(Schema& schema, Index tau_per_decade) {
  schema.add_int("seed", 0, "base seed; seed k of --seeds K uses streams derived from (seed, k)", 0);
  schema.add_double("target.mu", 3.0, "modes at -mu and +mu: the target is ½N(-mu, var) + ½N(mu, var)", 0.0,
                    std::nullopt, true);
  schema.add_double("target.var", 1.0, "variance of each mode", 0.0, std::nullopt, true);
  schema.add_string("sde.kind", "ve", "forward process (THEORY.md §1)", {"ve", "vp", "ou"});
  schema.add_double("sde.sigma", 25.0, "VE: sigma of dx = sigma^t dw", 1.0, std::nullopt, true);
  schema.add_double("sde.beta_min", 0.1, "VP: beta(0)", 0.0, std::nullopt, true);
  schema.add_double("sde.beta_max", 20.0, "VP: beta(1)", 0.0, std::nullopt, true);
  schema.add_double("sde.T", 0.0, "VP/OU horizon T (0: the process's default, VP 1, OU 5; VE is fixed at 1)", 0.0);
  schema.add_double("eps", 1e-5, "smallest diffusion time: the loss averages over t ~ U[eps, T]", 0.0, 1.0, true, true);
  schema.add_int("embed_dim", 4, "width E of the random features' Fourier time embedding (even)", 2, 4096);
  schema.add_double("embed_scale", 0.5,
                    "frequencies of the time embedding are N(0,1)·embed_scale. 0.5, not the reference network's 30: "
                    "with 30 the features oscillate dozens of times over t in [0, 1] and even the population flow's "
                    "best KL (a) is 0.71 (0.0035 at 0.5; gradient-flow, 3 seeds)",
                    0.0, std::nullopt, true);
  schema.add_double("rf.init_std", 0.0, "A(0) has N(0, init_std²) entries; 0: the flow starts from A = 0", 0.0);
  schema.add_string("expectation", "exact",
                    "how the loss's expectations are taken. exact: over t by Gauss–Legendre, over z and x0 in closed "
                    "form (the training set is fixed, t and z are integrated); draws: a fixed draw set "
                    "(draws.per_point (t, z) per training point; draws.population fresh target samples)",
                    {"exact", "draws"});
  schema.add_int("t_nodes", 64,
                 "exact: Gauss–Legendre nodes over t (64 -> 128 moves the best KLs of gradient-flow by <= 1%)", 1,
                 4096);
  schema.add_int("draws.per_point", 10, "draws: (t, z) draws per training point in the empirical loss", 1, 100'000'000);
  schema.add_int("draws.population", 100000,
                 "draws: fresh target samples (one (t, z) each) in the population loss; costs N·m² flops", 1,
                 1'000'000'000);
  schema.add_double("tau.min", 1e-2, "smallest gradient-flow time τ of the grid (dA/dτ = -∇L, L as in THEORY.md §3)",
                    0.0, std::nullopt, true);
  schema.add_double("tau.max", 1e14, "largest τ of the grid (the limit τ = ∞, the minimizer A*, is added)", 0.0,
                    std::nullopt, true);
  schema.add_int("tau.per_decade", tau_per_decade, "τ grid points per decade (log-spaced)", 1, 1000);
  schema.add_int("tau.refine", 12,
                 "golden-section steps on log τ around the grid's KL minimum (best over training; 0: the grid's)", 0,
                 200);
  schema.add_double("kl.t0", 0.065, "KL (a): diffusion time whose score is integrated (Li2023's code: 0.065)", 0.0,
                    std::nullopt, true);
  schema.add_string("kl.reference", "clean", "KL (a) against the clean target p_0 or the smoothed p_t0",
                    {"clean", "smoothed"});
  schema.add_string("kl.method", "fine",
                    "KL (a): converged quadrature on the grid, or Li2023's coarse 51-point grid (to compare only)",
                    {"fine", "paper-grid"});
  schema.add_double("kl.lo", -12.0, "KL grid: lower end");
  schema.add_double("kl.hi", 12.0, "KL grid: upper end");
  schema.add_int("kl.points", 2401, "KL (a) grid nodes (4k + 1)", 9);
}

FlowStudySettings FlowStudySettings::from_config(const Config& c) {
  FlowStudySettings s;
  s.seed = static_cast<std::uint64_t>(c.get_int("seed"));
  s.target_mu = c.get_double("target.mu");
  s.target_var = c.get_double("target.var");
  s.sde.kind = c.get_string("sde.kind");
  s.sde.sigma = c.get_double("sde.sigma");
  s.sde.beta_min = c.get_double("sde.beta_min");
  s.sde.beta_max = c.get_double("sde.beta_max");
  s.sde.T = c.get_double("sde.T");
  require(s.sde.kind != "vp" || s.sde.beta_max >= s.sde.beta_min,
          "sde.beta_max = " + format_value(c.get("sde.beta_max")) +
              " must be >= sde.beta_min = " + format_value(c.get("sde.beta_min")));
  if (auto e = s.sde.validate(); !e.empty()) throw ConfigError(e);
  s.eps = c.get_double("eps");
  const double T = make_sde(s.sde)->T();
  require(s.eps < T, "eps = " + format_value(c.get("eps")) + " must be below the horizon T = " + format_value(T));
  s.features.embed_dim = c.get_int("embed_dim");
  s.features.embed_scale = c.get_double("embed_scale");
  s.features.init_std = c.get_double("rf.init_std");
  require(s.features.embed_dim % 2 == 0, "embed_dim = " + format_value(c.get("embed_dim")) + " must be even");
  if (auto e = s.features.validate(); !e.empty()) throw ConfigError(e);
  s.loss_method = c.get_string("expectation");
  s.t_nodes = c.get_int("t_nodes");
  s.draws_per_point = c.get_int("draws.per_point");
  s.draws_population = c.get_int("draws.population");
  const double tau_min = c.get_double("tau.min"), tau_max = c.get_double("tau.max");
  require(tau_min < tau_max,
          "tau.min = " + format_value(c.get("tau.min")) + " must be below tau.max = " + format_value(c.get("tau.max")));
  s.tau = log_tau_grid(tau_min, tau_max, c.get_int("tau.per_decade"));
  s.refine_steps = c.get_int("tau.refine");
  s.kl.t0 = c.get_double("kl.t0");
  s.kl.reference = c.get_string("kl.reference");
  s.kl.method = c.get_string("kl.method");
  s.kl.grid = Grid{c.get_double("kl.lo"), c.get_double("kl.hi"), c.get_int("kl.points")};
  require(s.kl.t0 >= s.eps && s.kl.t0 <= T, "kl.t0 = " + format_value(c.get("kl.t0")) + " must lie in [eps, T] = [" +
                                                format_value(s.eps) + ", " + format_value(T) +
                                                "]: the score is trained only there");
  require(s.kl.grid.lo < s.kl.grid.hi,
          "kl.lo = " + format_value(c.get("kl.lo")) + " must be below kl.hi = " + format_value(c.get("kl.hi")));
  if (auto e = s.kl.grid.validate("kl"); !e.empty()) throw ConfigError(e);
  if (auto e = s.kl.validate(); !e.empty()) throw ConfigError(e);
  // The grid must hold the target's mass: 6 standard deviations beyond the outer modes.
  const double reach = s.target_mu + 6.0 * std::sqrt(s.target_var);
  require(s.kl.grid.lo <= -reach && s.kl.grid.hi >= reach,
          "kl.lo/kl.hi = [" + format_value(c.get("kl.lo")) + ", " + format_value(c.get("kl.hi")) +
              "] does not cover the target's mass: it needs at least [-" + format_value(reach) + ", " +
              format_value(reach) + "] (target.mu + 6 sqrt(target.var))");
  return s;
}

RandomFeatureModel flow_model(const FlowStudySettings& settings, Index k, Index m) {
  Rng rng = Rng::stream(settings.seed, {kStreamInit, static_cast<std::uint64_t>(k)});
  RandomFeatureOptions options = settings.features;
  options.width = m;
  return RandomFeatureModel(1, options, rng);
}

Vector flow_data(const FlowStudySettings& settings, Index k, Index n) {
  Rng rng = Rng::stream(settings.seed, {kStreamData, static_cast<std::uint64_t>(k)});
  return settings.target().sample(n, rng).col(0);
}

QuadraticDsmLoss empirical_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                const Vector& data, Index k) {
  if (settings.loss_method == "exact")
    return expected_dsm_loss(model, sde, CleanLaw::from_points(data), settings.expected());
  // Point by point: point i's draws are the same in every nested training set.
  Rng rng = Rng::stream(settings.seed, {kStreamTrain, static_cast<std::uint64_t>(k)});
  const Index R = settings.draws_per_point, N = data.size() * R;
  Matrix x0(N, 1), z(N, 1);
  Vector t(N);
  const double T = sde.T();
  for (Index i = 0; i < data.size(); ++i)
    for (Index r = 0; r < R; ++r) {
      const Index j = i * R + r;
      x0(j, 0) = data[i];
      t[j] = rng.uniform(settings.eps, T);
      z(j, 0) = rng.normal();
    }
  return quadratic_dsm_loss_in_blocks(model, sde, x0, t, z);
}

QuadraticDsmLoss population_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                 Index k) {
  const GaussianMixture target = settings.target();
  if (settings.loss_method == "exact")
    return expected_dsm_loss(model, sde, CleanLaw::from_mixture(target), settings.expected());
  Rng rng = Rng::stream(settings.seed, {kStreamPopulation, static_cast<std::uint64_t>(k)});
  const Index N = settings.draws_population;
  const Matrix x0 = target.sample(N, rng);
  Matrix z(N, 1);
  Vector t(N);
  const double T = sde.T();
  for (Index j = 0; j < N; ++j) {
    t[j] = rng.uniform(settings.eps, T);
    z(j, 0) = rng.normal();
  }
  return quadratic_dsm_loss_in_blocks(model, sde, x0, t, z);
}

nlohmann::json flow_spread_json(const Spread& s) {
  if (s.count == 0) return nlohmann::json{{"count", 0}, {"mean", nullptr}};
  return nlohmann::json{{"count", s.count}, {"mean", s.mean}, {"sd", s.sd},
                        {"ci95", s.ci95},   {"min", s.min},   {"max", s.max}};
}

std::string flow_pm(const Spread& s, int digits) {
  if (s.count == 0) return "-";
  if (s.count < 2) return format_significant(s.mean, digits);
  return format_significant(s.mean, digits) + " ± " + format_significant(s.ci95, 2);
}

std::vector<double> log10_of(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values) out.push_back(std::isfinite(v) && v > 0.0 ? std::log10(v) : kNaN);
  return out;
}

}  // namespace diffgen
