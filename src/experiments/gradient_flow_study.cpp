#include "experiments/gradient_flow_study.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "experiments/flow_study.hpp"
#include "models/oracles.hpp"
#include "numerics/statistics.hpp"
#include "report/plot.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Settings {
  FlowStudySettings flow;
  Index n = 1000;
  Index m = 512;

  static Settings from_config(const Config& c) {
    Settings s;
    s.flow = FlowStudySettings::from_config(c);
    s.n = c.get_int("n");
    s.m = c.get_int("rf.width");
    return s;
  }
};

// What one seed contributes: both flows along τ, and its memorization floor.
struct SeedResult {
  FlowCurve empirical, population;
  bool empirical_done = false, population_done = false;
  double empirical_oracle_kl = kNaN;            // KL (a) of the memorized training set (the empirical oracle)
  double lambda_max = kNaN, lambda_min = kNaN;  // G's spectrum (empirical loss), nonzero part
  Index rank = 0;
  std::optional<std::string> failure;
  double loss_seconds = 0.0, curve_seconds = 0.0;
};

const FlowCurve& curve_of(const SeedResult& r, bool empirical) {
  return empirical ? r.empirical : r.population;
}

// The score error of a point: its population loss above the loss of the true score.
double score_error(const FlowPoint& p, double infimum) {
  return p.test_loss - infimum;
}

// Per grid point, the spread over the seeds that finished, of f(seed result, index).
template <class F>
std::vector<Spread> grid_spread(const std::vector<SeedResult>& seeds, Index points, F&& f) {
  std::vector<Spread> out;
  for (Index i = 0; i < points; ++i) {
    std::vector<double> v;
    for (const auto& s : seeds)
      if (s.empirical_done && s.population_done) v.push_back(f(s, i));
    out.push_back(spread(v));
  }
  return out;
}

template <class F>
Spread seed_spread(const std::vector<SeedResult>& seeds, bool need_both, F&& f) {
  std::vector<double> v;
  for (const auto& s : seeds)
    if (!need_both || (s.empirical_done && s.population_done)) v.push_back(f(s));
  return spread(v);
}

Json flow_json(const std::vector<SeedResult>& seeds, bool empirical, double infimum) {
  auto done = [&](const SeedResult& s) { return empirical ? s.empirical_done : s.population_done; };
  std::vector<double> best, best_tau, limit, best_err, best_err_tau, limit_err;
  Json per_seed = Json::array();
  for (std::size_t k = 0; k < seeds.size(); ++k) {
    if (!done(seeds[k])) continue;
    const FlowCurve& c = curve_of(seeds[k], empirical);
    // Times where stopping beats training to the end by more than 0.1% (of KL, of the score error); +inf
    // where it does not.
    const double tau_kl = stopping_time(c.best.tau, c.best.kl_a, c.limit.kl_a);
    const double tau_err =
        stopping_time(c.best_test.tau, score_error(c.best_test, infimum), score_error(c.limit, infimum));
    best.push_back(c.best.kl_a);
    best_tau.push_back(tau_kl);
    limit.push_back(c.limit.kl_a);
    best_err.push_back(score_error(c.best_test, infimum));
    best_err_tau.push_back(tau_err);
    limit_err.push_back(score_error(c.limit, infimum));
    auto tau_json = [](double t) { return std::isfinite(t) ? Json(t) : Json("inf"); };
    per_seed.push_back({{"seed", k},
                        {"best_kl", c.best.kl_a},
                        {"best_tau", tau_json(tau_kl)},
                        {"limit_kl", c.limit.kl_a},
                        {"best_score_error", score_error(c.best_test, infimum)},
                        {"best_score_error_tau", tau_json(tau_err)},
                        {"limit_score_error", score_error(c.limit, infimum)}});
  }
  auto finite_count = [](const std::vector<double>& v) {
    return static_cast<int>(std::count_if(v.begin(), v.end(), [](double x) { return std::isfinite(x); }));
  };
  return Json{{"best_kl", flow_spread_json(spread(best))},
              {"best_tau_log10", flow_spread_json(spread(log10_of(best_tau)))},
              {"best_tau_at_limit", static_cast<int>(best_tau.size()) - finite_count(best_tau)},
              {"limit_kl", flow_spread_json(spread(limit))},
              {"best_score_error", flow_spread_json(spread(best_err))},
              {"best_score_error_tau_log10", flow_spread_json(spread(log10_of(best_err_tau)))},
              {"best_score_error_tau_at_limit", static_cast<int>(best_err_tau.size()) - finite_count(best_err_tau)},
              {"limit_score_error", flow_spread_json(spread(limit_err))},
              {"per_seed", per_seed}};
}

std::string tau_text(double tau) {
  return std::isfinite(tau) ? format_significant(tau, 3) : "∞";
}

bool try_render(const auto& spec, const std::filesystem::path& png, std::vector<std::string>& warnings) {
  try {
    render_png(spec, png);
    return true;
  } catch (const std::exception& e) {
    warnings.push_back(fmt::format("plot {} not written: {}", png.filename().string(), e.what()));
    return false;
  }
}

// A log axis cannot show a band that reaches zero: clip its lower edge.
double band_lo(const Spread& s) {
  return std::max(s.mean - s.ci95, s.mean / 20.0);
}

}  // namespace

Schema GradientFlowExperiment::schema() const {
  Schema s;
  add_flow_study_keys(s);
  s.add_int("n", 300,
            "training-set size of the empirical loss. 300, not the foundation's 1000: with m = 512 features the "
            "empirical minimizer at n = 1000 is as good as the early-stopped model (KL 0.00935 against 0.00933, 3 "
            "seeds), so there is no drift to show (README, gradient-flow)",
            1, 10'000'000);
  s.add_int("rf.width", 512, "number of random features m", 1, 4096);
  return s;
}

void GradientFlowExperiment::validate(const Config& config) const {
  Settings::from_config(config);
}

void GradientFlowExperiment::run(const Config& config, const RunOptions& options) const {
  if (options.resume)
    throw ConfigError("gradient-flow keeps no checkpoints (a run takes seconds): start it again without --resume");
  const auto wall_start = Clock::now();
  const Settings s = Settings::from_config(config);
  const FlowStudySettings& f = s.flow;
  const Index K = options.seeds, G = static_cast<Index>(f.tau.size());
  const auto& dir = options.out_dir;
  const auto sde = make_sde(f.sde);
  const auto target = std::make_shared<GaussianMixture>(f.target());
  const bool draws = f.loss_method == "draws";

  // Phase 1: the losses. Each seed's empirical loss, its exact population loss
  // (what every flow is measured on) and, with draws, the draw-set population loss.
  const Index phase1 = K * (draws ? 3 : 2);
  ProgressBar bar(fmt::format("{} ({} seed{})", name(), K, K > 1 ? "s" : ""), phase1 + 2 * K * G + K + 1,
                  options.progress && !options.quiet);
  auto check_interrupt = [&] {
    if (interrupt_requested())
      throw Interrupted(
          fmt::format("{} stopped on request; it keeps no checkpoints (a run takes seconds): start it "
                      "again",
                      name()));
  };
  std::vector<Vector> data(K);
  std::vector<QuadraticDsmLoss> emp(K), pop(K), pop_train(K);
  std::vector<SeedResult> seeds(K);
  std::vector<double> task_seconds(static_cast<std::size_t>(phase1), 0.0);
  std::atomic<bool> stop{false};
  parallel_tasks(phase1, [&](Index i) {
    if (interrupt_requested()) {
      stop = true;
      return;
    }
    const auto start = Clock::now();
    const Index k = i / (draws ? 3 : 2), kind = i % (draws ? 3 : 2);
    const RandomFeatureModel model = flow_model(f, k, s.m);
    if (kind == 0) {
      data[k] = flow_data(f, k, s.n);
      emp[k] = empirical_loss(f, model, *sde, data[k], k);
    } else if (kind == 1) {
      pop[k] = expected_dsm_loss(model, *sde, CleanLaw::from_mixture(*target), f.expected());
    } else {
      pop_train[k] = population_loss(f, model, *sde, k);
    }
    task_seconds[i] = seconds_since(start);
    bar.add(1);
  });
  if (stop) check_interrupt();
  const double infimum = dsm_loss_infimum(*target, *sde, f.expected());

  // Phase 2: both flows of every seed along τ, and the two oracle floors.
  FlowCurveOptions curve_options;
  curve_options.kl = f.kl;
  curve_options.tau = f.tau;
  curve_options.refine_steps = f.refine_steps;
  double smoothing_floor = kNaN;
  std::vector<std::unique_ptr<ExactGradientFlow>> flows_seed0(2);  // kept for the density plots
  const auto population_oracle = make_population_oracle(target, sde);
  parallel_tasks(3 * K + 1, [&](Index i) {
    if (interrupt_requested()) {
      stop = true;
      return;
    }
    if (i == 3 * K) {
      smoothing_floor = kl_score_integrated(*population_oracle, *target, *sde, f.kl).kl;
      bar.add(1);
      return;
    }
    const Index k = i / 3, kind = i % 3;
    SeedResult& r = seeds[k];
    if (kind == 2) {
      Matrix points(data[k].size(), 1);
      points.col(0) = data[k];
      const auto oracle = make_empirical_oracle(points, sde);
      try {
        r.empirical_oracle_kl = kl_score_integrated(*oracle, *target, *sde, f.kl).kl;
      } catch (const NumericalError&) {
        r.empirical_oracle_kl = kNaN;  // the floor is a reference line only
      }
      bar.add(1);
      return;
    }
    const bool empirical = kind == 0;
    const auto start = Clock::now();
    RandomFeatureModel model = flow_model(f, k, s.m);
    const QuadraticDsmLoss& train = empirical ? emp[k] : (draws ? pop_train[k] : pop[k]);
    try {
      auto flow = std::make_unique<ExactGradientFlow>(train, Matrix(model.coefficients()));
      FlowCurve curve = evaluate_flow(*flow, train, &pop[k], model, *target, *sde, curve_options,
                                      [&](Index units) { bar.add(units); });
      if (empirical) {
        const Vector& lambda = flow->eigenvalues();
        r.rank = flow->rank();
        r.lambda_max = lambda.maxCoeff();
        r.lambda_min = kNaN;
        for (Index j = 0; j < lambda.size(); ++j)
          if (lambda[j] > 0.0 && !(lambda[j] >= r.lambda_min)) r.lambda_min = lambda[j];
        r.empirical = std::move(curve);
        r.empirical_done = true;
      } else {
        r.population = std::move(curve);
        r.population_done = true;
      }
      if (k == 0) flows_seed0[empirical ? 0 : 1] = std::move(flow);
    } catch (const NumericalError& e) {
      r.failure = fmt::format("{} flow: {}", empirical ? "empirical" : "population", e.what());
    }
    r.curve_seconds += seconds_since(start);
  });
  bar.finish();
  if (stop) check_interrupt();
  for (Index i = 0; i < phase1; ++i) seeds[i / (draws ? 3 : 2)].loss_seconds += task_seconds[i];

  // Learned densities of seed 0 at three times: well before the early-stopping
  // point, at it, and at the limit (the two minimizers).
  struct Snapshot {
    std::string label;
    double tau;
    Vector x, log_p, log_q_emp, log_q_pop;
  };
  std::vector<Snapshot> snapshots;
  if (K > 0 && flows_seed0[0] && flows_seed0[1]) {
    const double tau_star = std::isfinite(seeds[0].empirical.best.tau) ? seeds[0].empirical.best.tau : f.tau.back();
    const std::vector<std::pair<std::string, double>> times = {
        {"early (τ*/1000)", tau_star / 1000.0}, {"early stopping (τ*)", tau_star}, {"limit (τ = ∞)", kInf}};
    RandomFeatureModel model = flow_model(f, 0, s.m);
    for (const auto& [label, tau] : times) {
      Snapshot snap{label, tau, {}, {}, {}, {}};
      for (int which = 0; which < 2; ++which) {
        const ExactGradientFlow& flow = *flows_seed0[which];
        model.coefficients() = std::isinf(tau) ? flow.minimizer() : flow.at(tau);
        const KlSummary k = kl_score_integrated(model, *target, *sde, f.kl);
        snap.x = k.x;
        snap.log_p = k.log_p;
        (which == 0 ? snap.log_q_emp : snap.log_q_pop) = k.log_q;
      }
      snapshots.push_back(std::move(snap));
    }
  }

  // ---- Outputs, all written before a failure is reported.
  std::vector<std::string> warnings;
  Json failures = Json::array();
  for (Index k = 0; k < K; ++k)
    if (seeds[k].failure) failures.push_back({{"seed", k}, {"message", *seeds[k].failure}});

  {
    CsvTable t({"seed", "loss", "point", "tau", "kl_a", "train_loss", "population_loss", "score_error"});
    t.allow_missing("tau");
    for (Index k = 0; k < K; ++k)
      for (const bool empirical : {true, false}) {
        const SeedResult& r = seeds[k];
        if (!(empirical ? r.empirical_done : r.population_done)) continue;
        const FlowCurve& c = curve_of(r, empirical);
        const char* loss = empirical ? "empirical" : "population";
        for (const auto& p : c.grid)
          t.add_row({k, loss, "grid", p.tau, p.kl_a, p.train_loss, p.test_loss, score_error(p, infimum)});
        t.add_row({k, loss, "limit", CsvCell::missing(), c.limit.kl_a, c.limit.train_loss, c.limit.test_loss,
                   score_error(c.limit, infimum)});
      }
    t.write(dir / "metrics.csv");
  }
  if (!snapshots.empty()) {
    CsvTable t({"seed", "time", "tau", "x", "target_density", "empirical_flow_density", "population_flow_density"});
    t.allow_missing("tau");
    for (const auto& snap : snapshots) {
      const Index stride = std::max<Index>(1, (snap.x.size() - 1) / 600);
      for (Index i = 0; i < snap.x.size(); i += stride)
        t.add_row({0, snap.label, CsvCell::finite_or_missing(snap.tau), snap.x[i], std::exp(snap.log_p[i]),
                   std::exp(snap.log_q_emp[i]), std::exp(snap.log_q_pop[i])});
    }
    t.write(dir / "densities.csv");
  }

  // Seed-mean curves and the gap between the flows.
  const auto kl_emp = grid_spread(seeds, G, [](const SeedResult& r, Index i) { return r.empirical.grid[i].kl_a; });
  const auto kl_pop = grid_spread(seeds, G, [](const SeedResult& r, Index i) { return r.population.grid[i].kl_a; });
  const auto kl_gap = grid_spread(
      seeds, G, [](const SeedResult& r, Index i) { return r.empirical.grid[i].kl_a - r.population.grid[i].kl_a; });
  const auto err_emp =
      grid_spread(seeds, G, [&](const SeedResult& r, Index i) { return score_error(r.empirical.grid[i], infimum); });
  const auto err_pop =
      grid_spread(seeds, G, [&](const SeedResult& r, Index i) { return score_error(r.population.grid[i], infimum); });
  Index mean_best = -1, mean_best_pop = -1, max_gap = -1;
  for (Index i = 0; i < G; ++i) {
    if (kl_emp[i].count == 0) continue;
    if (mean_best < 0 || kl_emp[i].mean < kl_emp[mean_best].mean) mean_best = i;
    if (mean_best_pop < 0 || kl_pop[i].mean < kl_pop[mean_best_pop].mean) mean_best_pop = i;
    if (max_gap < 0 || kl_gap[i].mean > kl_gap[max_gap].mean) max_gap = i;
  }
  const Spread limit_emp = seed_spread(seeds, true, [](const SeedResult& r) { return r.empirical.limit.kl_a; });
  const Spread limit_pop = seed_spread(seeds, true, [](const SeedResult& r) { return r.population.limit.kl_a; });
  const Spread best_emp = seed_spread(seeds, true, [](const SeedResult& r) { return r.empirical.best.kl_a; });
  const Spread best_pop = seed_spread(seeds, true, [](const SeedResult& r) { return r.population.best.kl_a; });
  const Spread gap_limit =
      seed_spread(seeds, true, [](const SeedResult& r) { return r.empirical.limit.kl_a - r.population.limit.kl_a; });
  const Spread excess_best =
      seed_spread(seeds, true, [](const SeedResult& r) { return r.empirical.best.kl_a - r.population.best.kl_a; });
  const Spread rise = seed_spread(seeds, true, [](const SeedResult& r) {
    return r.empirical.limit.kl_a - r.empirical.best.kl_a;  // how much training past τ* costs
  });
  const Spread memorized = seed_spread(seeds, false, [](const SeedResult& r) { return r.empirical_oracle_kl; });

  Json summary{
      {"experiment", name()},
      {"seeds", K},
      {"n", s.n},
      {"m", s.m},
      {"expectation", f.loss_method},
      {"kl_definition", fmt::format("score-integrated density at t0 = {} ({} quadrature), against the {} "
                                    "target",
                                    f.kl.t0, f.kl.method, f.kl.reference == "clean" ? "clean" : "smoothed")},
      {"tau_grid", {{"min", f.tau.front()}, {"max", f.tau.back()}, {"points", G}, {"refine_steps", f.refine_steps}}},
      {"dsm_loss_infimum", infimum}};
  if (draws)
    summary["draws"] = {{"per_point", f.draws_per_point}, {"population", f.draws_population}};
  else
    summary["t_nodes"] = f.t_nodes;
  summary["empirical"] = flow_json(seeds, true, infimum);
  summary["population"] = flow_json(seeds, false, infimum);
  summary["gap"] = {{"kl_at_limit", flow_spread_json(gap_limit)},
                    {"best_kl_empirical_minus_population", flow_spread_json(excess_best)},
                    {"kl_rise_after_early_stopping", flow_spread_json(rise)}};
  if (max_gap >= 0) summary["gap"]["mean_curve_max"] = {{"kl", kl_gap[max_gap].mean}, {"tau", f.tau[max_gap]}};
  if (mean_best >= 0)
    summary["mean_curve"] = {
        {"empirical", {{"min", kl_emp[mean_best].mean}, {"tau_of_min", f.tau[mean_best]}, {"limit", limit_emp.mean}}},
        {"population",
         {{"min", kl_pop[mean_best_pop].mean}, {"tau_of_min", f.tau[mean_best_pop]}, {"limit", limit_pop.mean}}}};
  summary["floors"] = {{"smoothing", std::isfinite(smoothing_floor) ? Json(smoothing_floor) : Json(nullptr)},
                       {"empirical_oracle", flow_spread_json(memorized)}};
  summary["spectrum"] = {
      {"note", "eigenvalues of G of the empirical loss (those below 1e-12 of the largest are treated as 0)"},
      {"lambda_max", flow_spread_json(seed_spread(seeds, false, [](const SeedResult& r) { return r.lambda_max; }))},
      {"lambda_min_nonzero",
       flow_spread_json(seed_spread(seeds, false, [](const SeedResult& r) { return r.lambda_min; }))},
      {"rank", flow_spread_json(seed_spread(seeds, false, [](const SeedResult& r) { return double(r.rank); }))}};
  summary["failures"] = failures;

  // ---- Plots.
  std::vector<std::string> plots;
  std::filesystem::create_directories(dir / "plots");
  const bool several = K > 1;
  std::vector<double> tau_axis(f.tau.begin(), f.tau.end());
  auto columns = [&](const std::vector<Spread>& sp, bool log_band) {
    struct {
      std::vector<double> x, y, lo, hi;
    } c;
    for (Index i = 0; i < G; ++i) {
      if (sp[i].count == 0) continue;
      c.x.push_back(tau_axis[i]);
      c.y.push_back(sp[i].mean);
      c.lo.push_back(log_band ? band_lo(sp[i]) : sp[i].mean - sp[i].ci95);
      c.hi.push_back(sp[i].mean + sp[i].ci95);
    }
    return c;
  };
  if (mean_best >= 0) {
    PlotSpec p;
    p.title = fmt::format("KL(target || learned) along the exact gradient flow (n = {}, m = {}, {} seed{})", s.n, s.m,
                          K, several ? "s" : "");
    p.xlabel = "training time τ";
    p.ylabel = fmt::format("KL (a), t0 = {}", f.kl.t0);
    p.logx = p.logy = true;
    const auto e = columns(kl_emp, true), q = columns(kl_pop, true);
    if (several) p.series.push_back(Series::band("empirical: 95% CI over seeds", e.x, e.lo, e.hi));
    auto le = Series::line("empirical loss (n training points)", e.x, e.y);
    le.color = "#d62728";
    p.series.push_back(le);
    if (several) p.series.push_back(Series::band("population: 95% CI over seeds", q.x, q.lo, q.hi));
    auto lp = Series::line("population loss", q.x, q.y);
    lp.color = "#1f77b4";
    p.series.push_back(lp);
    auto floor_line = [&](const std::string& label, double level, const char* color) {
      if (!(std::isfinite(level) && level > 0)) return;
      auto h = Series::hline(fmt::format("{} {}", label, format_significant(level, 3)), level);
      h.color = color;
      p.series.push_back(h);
    };
    floor_line("smoothing floor (true score)", smoothing_floor, "grey40");
    floor_line("memorized training set (empirical oracle)", memorized.mean, "dark-red");
    // A range fitted to the curves and floors, so the legend sits top right
    // over the trained part (KL is small there) without extra head room.
    double y_lo = kInf, y_hi = 0.0;
    for (const auto& sr : p.series) {
      for (const auto* v : {&sr.y, &sr.lo, &sr.hi})
        for (double y : *v)
          if (std::isfinite(y) && y > 0) y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
      if (sr.kind == SeriesKind::HLine && sr.level > 0)
        y_lo = std::min(y_lo, sr.level), y_hi = std::max(y_hi, sr.level);
    }
    if (y_hi > 0) p.yrange = std::pair{y_lo / 2, y_hi * 2};
    p.key = "top right";
    if (try_render(p, dir / "plots" / "kl.png", warnings)) plots.push_back("plots/kl.png");

    PanelGrid g;
    g.title = "the generalization gap along training";
    g.rows = 1;
    g.cols = 2;
    PlotSpec a;
    a.title = "KL (a): empirical flow minus population flow";
    a.xlabel = "training time τ";
    a.ylabel = "KL gap";
    a.logx = true;
    const auto d = columns(kl_gap, false);
    if (several) a.series.push_back(Series::band("95% CI over seeds", d.x, d.lo, d.hi));
    a.series.push_back(Series::line("mean over seeds", d.x, d.y));
    a.series.push_back(Series::hline("", 0.0));
    a.key = "top left";
    PlotSpec b;
    b.title = "score error E s²(s_A − ∇log p_t)² (population loss − its infimum)";
    b.xlabel = "training time τ";
    b.ylabel = "score error";
    b.logx = b.logy = true;
    const auto ee = columns(err_emp, true), ep = columns(err_pop, true);
    if (several) b.series.push_back(Series::band("", ee.x, ee.lo, ee.hi));
    auto be = Series::line("empirical flow", ee.x, ee.y);
    be.color = "#d62728";
    b.series.push_back(be);
    if (several) b.series.push_back(Series::band("", ep.x, ep.lo, ep.hi));
    auto bp = Series::line("population flow", ep.x, ep.y);
    bp.color = "#1f77b4";
    b.series.push_back(bp);
    b.key = "bottom left";
    g.panels = {a, b};
    g.width = 1280;
    g.height = 480;
    if (try_render(g, dir / "plots" / "gap.png", warnings)) plots.push_back("plots/gap.png");
  }
  if (!snapshots.empty()) {
    PanelGrid g;
    g.title = "learned densities (score integrated at t0), seed 0";
    g.rows = 1;
    g.cols = static_cast<int>(snapshots.size());
    const double reach = f.target_mu + 4.0 * std::sqrt(f.target_var);
    for (const auto& snap : snapshots) {
      PlotSpec p;
      p.title = snap.label + (std::isfinite(snap.tau) ? ", τ = " + format_significant(snap.tau, 3) : "");
      p.xlabel = "x";
      p.ylabel = "density";
      p.xrange = std::pair{-reach, reach};
      p.key = &snap == &snapshots.front() ? "top center" : "off";
      auto to_std = [](const Vector& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
      auto tl = Series::line("target", to_std(snap.x), to_std(snap.log_p.array().exp()));
      tl.color = "black";
      auto el = Series::line("empirical flow", to_std(snap.x), to_std(snap.log_q_emp.array().exp()));
      el.color = "#d62728";
      auto pl = Series::line("population flow", to_std(snap.x), to_std(snap.log_q_pop.array().exp()));
      pl.color = "#1f77b4";
      pl.dashed = true;
      p.series = {tl, el, pl};
      g.panels.push_back(p);
    }
    g.width = 480 * g.cols;
    g.height = 400;
    if (try_render(g, dir / "plots" / "densities.png", warnings)) plots.push_back("plots/densities.png");
  }
  summary["warnings"] = warnings;
  write_json_atomic(dir / "summary.json", summary);

  // ---- Table: every decade of τ, the seed-mean early-stopping point, and the limit.
  Table table({"τ", "KL empirical", "KL population", "KL gap", "score error emp.", "score error pop.", ""});
  auto add_row = [&](Index i, const std::string& note) {
    table.add_row({tau_text(f.tau[i]), flow_pm(kl_emp[i], 4), flow_pm(kl_pop[i], 4), flow_pm(kl_gap[i], 3),
                   flow_pm(err_emp[i], 3), flow_pm(err_pop[i], 3), note});
  };
  for (Index i = 0; i < G; ++i) {
    const double l = std::log10(f.tau[i]);
    const bool decade = std::abs(l - std::round(l)) < 1e-9 && static_cast<long>(std::round(l)) % 2 == 0;
    if (decade || i == mean_best) add_row(i, i == mean_best ? "← empirical minimum (seed mean)" : "");
  }
  {
    auto lim = [&](bool empirical, auto field) {
      return seed_spread(seeds, true, [&](const SeedResult& r) { return field(curve_of(r, empirical).limit); });
    };
    const Spread ee = lim(true, [&](const FlowPoint& p) { return score_error(p, infimum); });
    const Spread ep = lim(false, [&](const FlowPoint& p) { return score_error(p, infimum); });
    table.add_row({"∞ (A*)", flow_pm(limit_emp, 4), flow_pm(limit_pop, 4), flow_pm(gap_limit, 3), flow_pm(ee, 3),
                   flow_pm(ep, 3), "the minimizers"});
  }

  // ---- report.md
  const auto& es = summary["empirical"];
  const auto& ps = summary["population"];
  auto tau_spread_text = [](const Json& j) {
    if (j["count"].get<int>() == 0) return std::string("∞");
    const double m = j["mean"].get<double>(), h = j.contains("ci95") ? j["ci95"].get<double>() : 0.0;
    return h > 0 ? fmt::format("10^({:.2f} ± {:.2f})", m, h) : fmt::format("10^{:.2f}", m);
  };
  std::string md;
  md += "# gradient-flow: the random-feature model by its exact gradient flow\n\n";
  md += fmt::format(
      "Li et al. (2023), Theorem 1 and eq. 12 (THEORY.md §4). The random-feature score s_A(x, t) = (1/m) A "
      "relu(W x + U e(t)) with m = {} frozen features (time embedding E = {}, scale {}) is trained by gradient "
      "flow dA/dτ = −∇L from A(0) = {}, solved exactly (A(τ) = A* + (A(0) − A*) exp(−2Gτ)), on two losses built "
      "from the same features:\n\n",
      s.m, f.features.embed_dim, f.features.embed_scale, f.features.init_std > 0 ? "N(0, init_std²)" : "0");
  if (draws) {
    md += fmt::format(
        "- **empirical**: a draw set of n = {} training points × {} (t, z) draws;\n- **population**: a draw set of "
        "{} fresh target samples, one (t, z) each.\n\n",
        s.n, f.draws_per_point, f.draws_population);
  } else {
    md += fmt::format(
        "- **empirical**: the DSM loss on n = {} training points of ½N(−{}, {}) + ½N({}, {}), with t ~ U[{}, T] "
        "and z integrated exactly (Gauss–Legendre in t with {} nodes, closed forms in z);\n- **population**: the "
        "same loss with x0 integrated over the target as well.\n\n",
        s.n, f.target_mu, f.target_var, f.target_mu, f.target_var, f.eps, f.t_nodes);
  }
  md += fmt::format(
      "Both flows are measured on the exact population loss and by KL (a), {}, on {} τ values from {} to {} "
      "(log-spaced), plus the limit τ = ∞ (the minimizers A*); {} seed{}{}.\n\n",
      summary["kl_definition"].get<std::string>(), G, format_significant(f.tau.front(), 3),
      format_significant(f.tau.back(), 3), K, several ? "s" : "", several ? " (mean ± 95% CI over seeds)" : "");
  md += "## Result\n\n";
  // Where some seeds gain nothing from stopping, say how many did.
  auto stopped = [&](const Json& flow, const char* field = "best_tau_at_limit") {
    const int at_limit = flow[field].get<int>(), total = flow["best_kl"]["count"].get<int>();
    return at_limit == 0 ? std::string()
                         : fmt::format(" ({} of {} seeds; the others gain less than 0.1% from stopping)",
                                       total - at_limit, total);
  };
  md += fmt::format(
      "- **Early stopping**: the empirical flow's KL (a) is lowest at τ* = {}{} with KL {}; trained to the end it "
      "reaches the empirical minimizer's {} (the rise past τ*: {}).\n",
      tau_spread_text(es["best_tau_log10"]), stopped(es), flow_pm(best_emp, 4), flow_pm(limit_emp, 4),
      flow_pm(rise, 3));
  md += fmt::format("- **Population flow**: best KL {} at τ = {}{}; its limit {}.\n", flow_pm(best_pop, 4),
                    tau_spread_text(ps["best_tau_log10"]), stopped(ps), flow_pm(limit_pop, 4));
  md += fmt::format(
      "- **Generalization gap** (empirical − population): {} between the best KLs, {} at τ = ∞; the seed-mean "
      "curve's largest gap is {} at τ = {}.\n",
      flow_pm(excess_best, 3), flow_pm(gap_limit, 3), max_gap >= 0 ? format_significant(kl_gap[max_gap].mean, 3) : "-",
      max_gap >= 0 ? format_significant(f.tau[max_gap], 3) : "-");
  md += fmt::format(
      "- **Score error** (population loss above its infimum {}, the quantity Theorem 1 bounds KL by): empirical "
      "flow best {} (early stopping by the test loss at τ = {}{}), limit {}; population flow limit {}.\n",
      format_significant(infimum, 6), flow_pm(spread([&] {
        std::vector<double> v;
        for (const auto& r : seeds)
          if (r.empirical_done) v.push_back(score_error(r.empirical.best_test, infimum));
        return v;
      }())),
      tau_spread_text(es["best_score_error_tau_log10"]), stopped(es, "best_score_error_tau_at_limit"),
      flow_pm(spread([&] {
        std::vector<double> v;
        for (const auto& r : seeds)
          if (r.empirical_done) v.push_back(score_error(r.empirical.limit, infimum));
        return v;
      }())),
      flow_pm(spread([&] {
        std::vector<double> v;
        for (const auto& r : seeds)
          if (r.population_done) v.push_back(score_error(r.population.limit, infimum));
        return v;
      }())));
  md += fmt::format(
      "- **Floors**: the true score gives KL (a) = {} (smoothing alone); the memorized training set (empirical "
      "oracle) {}.\n\n",
      format_significant(smoothing_floor, 4), flow_pm(memorized, 4));
  md += table.to_markdown() + "\n";
  md +=
      "Columns: mean ± 95% CI half-width over seeds. Score error: the population loss above its infimum, "
      "E_t E_{p_t} s² (s_A − ∇log p_t)².\n\n";
  for (const auto& p : plots) md += fmt::format("![{}]({})\n\n", p, p);
  md +=
      "## How to read it\n\n"
      "Gradient flow fits G's eigen-directions in order of their eigenvalues: the large ones (the score at large "
      "t, where the loss has most of its weight) by τ ≈ 1/λ_max, the small ones — the fine structure the KL at t0 "
      "depends on — only at τ ≈ 1/λ. Both flows therefore improve for many decades of τ. The population flow "
      "converges to the best score the m features can represent; the empirical flow follows it until the "
      "directions where the n training points differ from the target start to be fitted, then moves toward the "
      "empirical minimizer A*: its KL rises again (Li2023 Theorem 1: early stopping generalizes, training to the "
      "end drifts toward the training set). With m features and n points the empirical minimizer is smooth when "
      "m ≪ n, so the rise is small; the memorized training set (empirical-oracle line) is what a model with "
      "unlimited capacity would reach. The score error panel shows the same in loss terms: the empirical flow's "
      "test loss passes its minimum and rises while the population flow's keeps falling.\n\n";
  md += "## Diagnostics\n\n";
  md += fmt::format("- G of the empirical loss: λ_max {}, smallest nonzero λ {}, rank {} of {}\n",
                    flow_pm(seed_spread(seeds, false, [](const SeedResult& r) { return r.lambda_max; })),
                    flow_pm(seed_spread(seeds, false, [](const SeedResult& r) { return r.lambda_min; })),
                    flow_pm(seed_spread(seeds, false, [](const SeedResult& r) { return double(r.rank); }), 4), s.m);
  md += "- wall-clock times: timing.json\n";
  for (const auto& w : warnings) md += "- warning: " + w + "\n";
  for (const auto& fl : failures)
    md += fmt::format("- **seed {} failed**: {}\n", fl["seed"].get<Index>(), fl["message"].get<std::string>());
  md += fmt::format("\nReproduce: `diffgen run gradient-flow --config config.toml --seeds {}`\n", K);
  write_file_atomic(dir / "report.md", md);

  double loss_s = 0, curve_s = 0;
  for (const auto& r : seeds) {
    loss_s += r.loss_seconds;
    curve_s += r.curve_seconds;
  }
  write_json_atomic(dir / "timing.json",
                    Json{{"note", "wall-clock seconds; loss and curve times are summed over tasks"},
                         {"threads", num_threads()},
                         {"seconds_wall", seconds_since(wall_start)},
                         {"seconds_losses", loss_s},
                         {"seconds_curves", curve_s}});

  if (!options.quiet) {
    std::printf("%s\n", table.to_text().c_str());
    std::printf("early stopping: empirical KL (a) best %s at tau* = %s, limit %s; population best %s, limit %s\n",
                flow_pm(best_emp, 4).c_str(), tau_spread_text(es["best_tau_log10"]).c_str(),
                flow_pm(limit_emp, 4).c_str(), flow_pm(best_pop, 4).c_str(), flow_pm(limit_pop, 4).c_str());
    std::printf("floors: smoothing %s, memorized training set %s\n", format_significant(smoothing_floor, 4).c_str(),
                flow_pm(memorized, 4).c_str());
    std::fflush(stdout);
  }
  for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!failures.empty())
    throw NumericalError(fmt::format("seed {}: {} (outputs of the other seeds written to {})",
                                     failures[0]["seed"].get<Index>(), failures[0]["message"].get<std::string>(),
                                     dir.string()));
}

}  // namespace diffgen
