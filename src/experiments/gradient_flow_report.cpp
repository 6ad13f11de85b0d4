// gradient-flow's outputs (experiments/gradient_flow.hpp): metrics.csv,
// densities.csv, summary.json, plots, the table and report.md.
// Tested by gradient_flow_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/gradient_flow.hpp"
#include "experiments/report_templates.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const FlowCurve& curve_of(const FlowSeed& r, bool empirical) {
  return empirical ? r.empirical : r.population;
}

bool both(const FlowSeed& r) {
  return r.empirical_done && r.population_done;
}

// Per grid point, the spread over the seeds that finished, of f(seed result, index).
template <class F>
std::vector<Spread> grid_spread(const std::vector<FlowSeed>& seeds, Index points, F&& f) {
  std::vector<Spread> out;
  for (Index i = 0; i < points; ++i) {
    std::vector<double> v;
    for (const auto& s : seeds)
      if (both(s)) v.push_back(f(s, i));
    out.push_back(spread(v));
  }
  return out;
}

template <class F>
Spread seed_spread(const std::vector<FlowSeed>& seeds, bool need_both, F&& f) {
  std::vector<double> v;
  for (const auto& s : seeds)
    if (!need_both || both(s)) v.push_back(f(s));
  return spread(v);
}

// Every number the report and the summary read, computed once.
struct Facts {
  const FlowStudySettings& s;
  const GradientFlowResults& r;
  Index G;
  std::vector<Spread> kl_emp, kl_pop, kl_gap, err_emp, err_pop;
  Index mean_best = -1, mean_best_pop = -1, max_gap = -1;
  Spread limit_emp, limit_pop, best_emp, best_pop, gap_limit, excess_best, rise, memorized;

  double err(const FlowPoint& p) const { return p.test_loss - r.infimum; }

  Facts(const FlowStudySettings& settings, const GradientFlowResults& results)
      : s(settings), r(results), G(static_cast<Index>(settings.tau.size())) {
    const auto& seeds = r.seeds;
    kl_emp = grid_spread(seeds, G, [](const FlowSeed& x, Index i) { return x.empirical.grid[i].kl_a; });
    kl_pop = grid_spread(seeds, G, [](const FlowSeed& x, Index i) { return x.population.grid[i].kl_a; });
    kl_gap = grid_spread(
        seeds, G, [](const FlowSeed& x, Index i) { return x.empirical.grid[i].kl_a - x.population.grid[i].kl_a; });
    err_emp = grid_spread(seeds, G, [&](const FlowSeed& x, Index i) { return err(x.empirical.grid[i]); });
    err_pop = grid_spread(seeds, G, [&](const FlowSeed& x, Index i) { return err(x.population.grid[i]); });
    for (Index i = 0; i < G; ++i) {
      if (kl_emp[i].count == 0) continue;
      if (mean_best < 0 || kl_emp[i].mean < kl_emp[mean_best].mean) mean_best = i;
      if (mean_best_pop < 0 || kl_pop[i].mean < kl_pop[mean_best_pop].mean) mean_best_pop = i;
      if (max_gap < 0 || kl_gap[i].mean > kl_gap[max_gap].mean) max_gap = i;
    }
    limit_emp = seed_spread(seeds, true, [](const FlowSeed& x) { return x.empirical.limit.kl_a; });
    limit_pop = seed_spread(seeds, true, [](const FlowSeed& x) { return x.population.limit.kl_a; });
    best_emp = seed_spread(seeds, true, [](const FlowSeed& x) { return x.empirical.best.kl_a; });
    best_pop = seed_spread(seeds, true, [](const FlowSeed& x) { return x.population.best.kl_a; });
    gap_limit = seed_spread(seeds, true, [](const FlowSeed& x) { return x.empirical.limit.kl_a - x.population.limit.kl_a; });
    excess_best = seed_spread(seeds, true, [](const FlowSeed& x) { return x.empirical.best.kl_a - x.population.best.kl_a; });
    // How much training past τ* costs.
    rise = seed_spread(seeds, true, [](const FlowSeed& x) { return x.empirical.limit.kl_a - x.empirical.best.kl_a; });
    memorized = seed_spread(seeds, false, [](const FlowSeed& x) { return x.empirical_oracle_kl; });
  }
};

Json flow_json(const Facts& f, bool empirical) {
  std::vector<double> best, best_tau, limit, best_err, best_err_tau, limit_err;
  Json per_seed = Json::array();
  for (std::size_t k = 0; k < f.r.seeds.size(); ++k) {
    const FlowSeed& seed = f.r.seeds[k];
    if (!(empirical ? seed.empirical_done : seed.population_done)) continue;
    const FlowCurve& c = curve_of(seed, empirical);
    // Times where stopping beats training to the end by more than 0.1% (of KL,
    // of the score error); +inf where it does not.
    const double tau_kl = stopping_time(c.best.tau, c.best.kl_a, c.limit.kl_a);
    const double tau_err = stopping_time(c.best_test.tau, f.err(c.best_test), f.err(c.limit));
    best.push_back(c.best.kl_a), best_tau.push_back(tau_kl), limit.push_back(c.limit.kl_a);
    best_err.push_back(f.err(c.best_test)), best_err_tau.push_back(tau_err), limit_err.push_back(f.err(c.limit));
    const auto tau_json = [](double t) { return std::isfinite(t) ? Json(t) : Json("inf"); };
    per_seed.push_back({{"seed", k},
                        {"best_kl", c.best.kl_a},
                        {"best_tau", tau_json(tau_kl)},
                        {"limit_kl", c.limit.kl_a},
                        {"best_score_error", f.err(c.best_test)},
                        {"best_score_error_tau", tau_json(tau_err)},
                        {"limit_score_error", f.err(c.limit)}});
  }
  const auto at_limit = [](const std::vector<double>& v) {
    return static_cast<int>(std::count_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }));
  };
  return {{"best_kl", spread_json(spread(best))},
          {"best_tau_log10", spread_json(spread(log10_of(best_tau)))},
          {"best_tau_at_limit", at_limit(best_tau)},
          {"limit_kl", spread_json(spread(limit))},
          {"best_score_error", spread_json(spread(best_err))},
          {"best_score_error_tau_log10", spread_json(spread(log10_of(best_err_tau)))},
          {"best_score_error_tau_at_limit", at_limit(best_err_tau)},
          {"limit_score_error", spread_json(spread(limit_err))},
          {"per_seed", per_seed}};
}

void write_tables(const Facts& f, RunWriter& out) {
  CsvTable t({"seed", "loss", "point", "tau", "kl_a", "train_loss", "population_loss", "score_error"});
  t.allow_missing("tau");
  for (std::size_t k = 0; k < f.r.seeds.size(); ++k)
    for (const bool empirical : {true, false}) {
      const FlowSeed& r = f.r.seeds[k];
      if (!(empirical ? r.empirical_done : r.population_done)) continue;
      const FlowCurve& c = curve_of(r, empirical);
      const char* loss = empirical ? "empirical" : "population";
      for (const auto& p : c.grid)
        t.add_row({k, loss, "grid", p.tau, p.kl_a, p.train_loss, p.test_loss, f.err(p)});
      t.add_row({k, loss, "limit", CsvCell::missing(), c.limit.kl_a, c.limit.train_loss, c.limit.test_loss,
                 f.err(c.limit)});
    }
  out.csv("metrics.csv", t);
  if (f.r.snapshots.empty()) return;
  CsvTable d({"seed", "time", "tau", "x", "target_density", "empirical_flow_density", "population_flow_density"});
  d.allow_missing("tau");
  for (const auto& snap : f.r.snapshots) {
    const Index stride = std::max<Index>(1, (snap.x.size() - 1) / 600);
    for (Index i = 0; i < snap.x.size(); i += stride)
      d.add_row({0, snap.label, CsvCell::finite_or_missing(snap.tau), snap.x[i], std::exp(snap.log_p[i]),
                 std::exp(snap.log_q_emp[i]), std::exp(snap.log_q_pop[i])});
  }
  out.csv("densities.csv", d);
}

Json summary_json(const Facts& f) {
  const auto& s = f.s;
  Json summary{
      {"experiment", "gradient-flow"},
      {"seeds", static_cast<Index>(f.r.seeds.size())},
      {"n", s.n},
      {"m", s.features.width},
      {"expectation", enum_name(s.expectation)},
      {"kl_definition", fmt::format("score-integrated density at t0 = {} ({} quadrature), against the {} target",
                                    s.kl.t0, enum_name(s.kl.method), enum_name(s.kl.reference))},
      {"tau_grid", {{"min", s.tau.front()}, {"max", s.tau.back()}, {"points", f.G}, {"refine_steps", s.refine_steps}}},
      {"dsm_loss_infimum", f.r.infimum}};
  if (s.expectation == Expectation::Draws)
    summary["draws"] = {{"per_point", s.draws_per_point}, {"population", s.draws_population}};
  else
    summary["t_nodes"] = s.t_nodes;
  summary["empirical"] = flow_json(f, true);
  summary["population"] = flow_json(f, false);
  summary["gap"] = {{"kl_at_limit", spread_json(f.gap_limit)},
                    {"best_kl_empirical_minus_population", spread_json(f.excess_best)},
                    {"kl_rise_after_early_stopping", spread_json(f.rise)}};
  if (f.max_gap >= 0) summary["gap"]["mean_curve_max"] = {{"kl", f.kl_gap[f.max_gap].mean}, {"tau", s.tau[f.max_gap]}};
  if (f.mean_best >= 0)
    summary["mean_curve"] = {
        {"empirical",
         {{"min", f.kl_emp[f.mean_best].mean}, {"tau_of_min", s.tau[f.mean_best]}, {"limit", f.limit_emp.mean}}},
        {"population",
         {{"min", f.kl_pop[f.mean_best_pop].mean}, {"tau_of_min", s.tau[f.mean_best_pop]}, {"limit", f.limit_pop.mean}}}};
  summary["floors"] = {{"smoothing", std::isfinite(f.r.smoothing_floor) ? Json(f.r.smoothing_floor) : Json(nullptr)},
                       {"empirical_oracle", spread_json(f.memorized)}};
  const auto spec = [&](auto field) { return spread_json(seed_spread(f.r.seeds, false, field)); };
  summary["spectrum"] = {
      {"note", "eigenvalues of G of the empirical loss (those below 1e-12 of the largest are treated as 0)"},
      {"lambda_max", spec([](const FlowSeed& x) { return x.lambda_max; })},
      {"lambda_min_nonzero", spec([](const FlowSeed& x) { return x.lambda_min; })},
      {"rank", spec([](const FlowSeed& x) { return static_cast<double>(x.rank); })}};
  Json failures = Json::array();
  for (std::size_t k = 0; k < f.r.seeds.size(); ++k)
    if (f.r.seeds[k].failure) failures.push_back({{"seed", k}, {"message", *f.r.seeds[k].failure}});
  summary["failures"] = failures;
  return summary;
}

std::string tau_text(double tau) {
  return std::isfinite(tau) ? format_significant(tau, 3) : "∞";
}

// Every other decade of τ, the seed-mean early-stopping point, and the limit.
Table results_table(const Facts& f) {
  Table table({"τ", "KL empirical", "KL population", "KL gap", "score error emp.", "score error pop.", ""});
  for (Index i = 0; i < f.G; ++i) {
    const double l = std::log10(f.s.tau[static_cast<std::size_t>(i)]);
    const bool decade = std::abs(l - std::round(l)) < 1e-9 && static_cast<long>(std::round(l)) % 2 == 0;
    if (decade || i == f.mean_best)
      table.add_row({tau_text(f.s.tau[static_cast<std::size_t>(i)]), format_pm(f.kl_emp[i], 4),
                     format_pm(f.kl_pop[i], 4), format_pm(f.kl_gap[i], 3), format_pm(f.err_emp[i], 3),
                     format_pm(f.err_pop[i], 3), i == f.mean_best ? "← empirical minimum (seed mean)" : ""});
  }
  const auto lim = [&](bool empirical) {
    return seed_spread(f.r.seeds, true, [&](const FlowSeed& x) { return f.err(curve_of(x, empirical).limit); });
  };
  table.add_row({"∞ (A*)", format_pm(f.limit_emp, 4), format_pm(f.limit_pop, 4), format_pm(f.gap_limit, 3),
                 format_pm(lim(true), 3), format_pm(lim(false), 3), "the minimizers"});
  return table;
}

std::string tau_spread_text(const Json& j) {
  if (j["count"].get<int>() == 0) return "∞";
  const double m = j["mean"].get<double>(), h = j.contains("ci95") ? j["ci95"].get<double>() : 0.0;
  return h > 0 ? fmt::format("10^({:.2f} ± {:.2f})", m, h) : fmt::format("10^{:.2f}", m);
}

// Where some seeds gain nothing from stopping, how many did.
std::string stopped(const Json& flow, const char* field) {
  const int at_limit = flow[field].get<int>(), total = flow["best_kl"]["count"].get<int>();
  return at_limit == 0 ? std::string()
                       : fmt::format(" ({} of {} seeds; the others gain less than 0.1% from stopping)",
                                     total - at_limit, total);
}

Json report_context(const Facts& f, const Json& summary, const Table& table) {
  const auto& s = f.s;
  const Index K = static_cast<Index>(f.r.seeds.size());
  const auto& es = summary["empirical"];
  const auto& ps = summary["population"];
  const auto spread_of = [&](bool empirical, auto get) {
    std::vector<double> v;
    for (const auto& x : f.r.seeds)
      if (empirical ? x.empirical_done : x.population_done) v.push_back(get(x));
    return format_pm(spread(v));
  };
  const auto spec = [&](auto field, int digits) { return format_pm(seed_spread(f.r.seeds, false, field), digits); };
  return {{"m", s.features.width}, {"embed_dim", s.features.embed_dim},
          {"embed_scale", format_double(s.features.embed_scale)},
          {"a0", s.features.init_std > 0 ? "N(0, init_std²)" : "0"},
          {"draws", s.expectation == Expectation::Draws}, {"n", s.n}, {"per_point", s.draws_per_point},
          {"population", s.draws_population}, {"mu", format_double(s.target_mu)}, {"var", format_double(s.target_var)},
          {"eps", format_double(s.sde.eps)}, {"t_nodes", s.t_nodes}, {"kl_definition", summary["kl_definition"]},
          {"points", f.G}, {"tau_min", format_significant(s.tau.front(), 3)},
          {"tau_max", format_significant(s.tau.back(), 3)}, {"seeds", K}, {"plural", K > 1 ? "s" : ""},
          {"tau_star", tau_spread_text(es["best_tau_log10"]) + stopped(es, "best_tau_at_limit")},
          {"best_emp", format_pm(f.best_emp, 4)}, {"limit_emp", format_pm(f.limit_emp, 4)},
          {"rise", format_pm(f.rise, 3)}, {"best_pop", format_pm(f.best_pop, 4)},
          {"tau_pop", tau_spread_text(ps["best_tau_log10"]) + stopped(ps, "best_tau_at_limit")},
          {"limit_pop", format_pm(f.limit_pop, 4)}, {"excess_best", format_pm(f.excess_best, 3)},
          {"gap_limit", format_pm(f.gap_limit, 3)},
          {"max_gap", f.max_gap >= 0 ? format_significant(f.kl_gap[f.max_gap].mean, 3) : "-"},
          {"max_gap_tau", f.max_gap >= 0 ? format_significant(s.tau[f.max_gap], 3) : "-"},
          {"infimum", format_significant(f.r.infimum, 6)},
          {"err_best", spread_of(true, [&](const FlowSeed& x) { return f.err(x.empirical.best_test); })},
          {"err_tau", tau_spread_text(es["best_score_error_tau_log10"]) + stopped(es, "best_score_error_tau_at_limit")},
          {"err_limit", spread_of(true, [&](const FlowSeed& x) { return f.err(x.empirical.limit); })},
          {"err_limit_pop", spread_of(false, [&](const FlowSeed& x) { return f.err(x.population.limit); })},
          {"smoothing", format_significant(f.r.smoothing_floor, 4)}, {"memorized", format_pm(f.memorized, 4)},
          {"table", table.to_markdown()},
          {"lambda_max", spec([](const FlowSeed& x) { return x.lambda_max; }, 3)},
          {"lambda_min", spec([](const FlowSeed& x) { return x.lambda_min; }, 3)},
          {"rank", spec([](const FlowSeed& x) { return static_cast<double>(x.rank); }, 4)},
          {"failures", summary["failures"]}};
}

}  // namespace

// Declared in gradient_flow_plots.cpp.
void add_gradient_flow_plots(const FlowStudySettings& s, const GradientFlowResults& r,
                             const std::vector<Spread>& kl_emp, const std::vector<Spread>& kl_pop,
                             const std::vector<Spread>& kl_gap, const std::vector<Spread>& err_emp,
                             const std::vector<Spread>& err_pop, double memorized, RunWriter& out);

void write_gradient_flow_report(const FlowStudySettings& s, const GradientFlowResults& r, RunWriter& out) {
  const Facts f(s, r);
  write_tables(f, out);
  Json summary = summary_json(f);
  if (f.mean_best >= 0 || !r.snapshots.empty())
    add_gradient_flow_plots(s, r, f.mean_best >= 0 ? f.kl_emp : std::vector<Spread>{}, f.kl_pop, f.kl_gap, f.err_emp,
                            f.err_pop, f.memorized.mean, out);
  out.render_plots();
  summary["warnings"] = out.warnings();
  out.json("summary.json", summary);
  const Table table = results_table(f);
  out.report(report_template("gradient-flow"), report_context(f, summary, table));
  out.terminal(table.to_text() + "\n");
  out.terminal(fmt::format(
      "early stopping: empirical KL (a) best {} at tau* = {}, limit {}; population best {}, limit {}\n",
      format_pm(f.best_emp, 4), tau_spread_text(summary["empirical"]["best_tau_log10"]), format_pm(f.limit_emp, 4),
      format_pm(f.best_pop, 4), format_pm(f.limit_pop, 4)));
  out.terminal(fmt::format("floors: smoothing {}, memorized training set {}\n", format_significant(r.smoothing_floor, 4),
                           format_pm(f.memorized, 4)));
  for (const auto& fl : summary["failures"])
    out.fail(fmt::format("seed {}: {} (outputs of the other seeds written to {})", fl["seed"].get<Index>(),
                         fl["message"].get<std::string>(), out.dir().string()));
}

}  // namespace diffgen
