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
  if (settings.expectation == Expectation::Exact)
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
      t[j] = rng.uniform(settings.sde.eps, T);
      z(j, 0) = rng.normal();
    }
  return quadratic_dsm_loss_in_blocks(model, sde, x0, t, z);
}

QuadraticDsmLoss population_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                 Index k) {
  const GaussianMixture target = settings.target();
  if (settings.expectation == Expectation::Exact)
    return expected_dsm_loss(model, sde, CleanLaw::from_mixture(target), settings.expected());
  Rng rng = Rng::stream(settings.seed, {kStreamPopulation, static_cast<std::uint64_t>(k)});
  const Index N = settings.draws_population;
  const Matrix x0 = target.sample(N, rng);
  Matrix z(N, 1);
  Vector t(N);
  const double T = sde.T();
  for (Index j = 0; j < N; ++j) {
    t[j] = rng.uniform(settings.sde.eps, T);
    z(j, 0) = rng.normal();
  }
  return quadratic_dsm_loss_in_blocks(model, sde, x0, t, z);
}

std::vector<double> log10_of(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values) out.push_back(std::isfinite(v) && v > 0.0 ? std::log10(v) : kNaN);
  return out;
}

namespace {

nlohmann::json point_json(const FlowPoint& p) {
  return nlohmann::json::array({p.tau, p.kl_a, p.train_loss, p.test_loss});
}

FlowPoint point_from(const nlohmann::json& j) {
  return {j.at(0).get<double>(), j.at(1).get<double>(), j.at(2).get<double>(), j.at(3).get<double>()};
}

}  // namespace

nlohmann::json flow_curve_to_json(const FlowCurve& c) {
  nlohmann::json grid = nlohmann::json::array();
  for (const auto& p : c.grid) grid.push_back(point_json(p));
  return {{"grid", grid},
          {"best", point_json(c.best)},
          {"best_test", point_json(c.best_test)},
          {"limit", point_json(c.limit)},
          {"kl_evaluations", c.kl_evaluations}};
}

FlowCurve flow_curve_from_json(const nlohmann::json& j) {
  FlowCurve c;
  for (const auto& p : j.at("grid")) c.grid.push_back(point_from(p));
  c.best = point_from(j.at("best"));
  c.best_test = point_from(j.at("best_test"));
  c.limit = point_from(j.at("limit"));
  c.kl_evaluations = j.at("kl_evaluations").get<Index>();
  return c;
}

}  // namespace diffgen
