// rates' outputs (experiments/rates.hpp): the fitted quantities, metrics.csv,
// curves.csv, summary.json, the tables and report.md.
// Tested by rates_test.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "experiments/rates.hpp"
#include "experiments/report_templates.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A curve's time as a number for fits and CSV: NaN when the minimum is the limit.
double finite_tau(double tau) {
  return std::isfinite(tau) ? tau : kNaN;
}

// The score error of a point, and the early-stopping times (stopping_time):
// where stopping beats the limit by more than 0.1% of KL (a), or of the score error.
struct Reading {
  double infimum;
  double err(const FlowPoint& p) const { return p.test_loss - infimum; }
  double tau_kl(const FlowCurve& c) const { return stopping_time(c.best.tau, c.best.kl_a, c.limit.kl_a); }
  double tau_err(const FlowCurve& c) const { return stopping_time(c.best_test.tau, err(c.best_test), err(c.limit)); }
};

template <class F>
std::vector<std::vector<double>> n_quantity(const RatesResults& r, F&& value) {
  std::vector<std::vector<double>> rows;
  for (const auto& seed : r.seeds) {
    std::vector<double> row;
    for (std::size_t i = 0; i < seed.n_done.size(); ++i)
      row.push_back(seed.n_done[i] && seed.reference_done ? value(seed, i) : kNaN);
    rows.push_back(row);
  }
  return rows;
}

template <class F>
std::vector<std::vector<double>> m_quantity(const RatesResults& r, F&& value) {
  std::vector<std::vector<double>> rows;
  for (const auto& seed : r.seeds) {
    std::vector<double> row;
    for (std::size_t i = 0; i < seed.m_done.size(); ++i) row.push_back(seed.m_done[i] ? value(seed, i) : kNaN);
    rows.push_back(row);
  }
  return rows;
}

Json quantity_json(const RatesQuantity& q, const std::vector<double>& x) {
  const auto num = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  Json per_seed = Json::array();
  for (const auto& f : q.fit.per_seed) per_seed.push_back({{"slope", num(f.slope)}, {"points", f.points}, {"skipped", f.skipped}});
  Json mean_curve = Json::array();
  for (std::size_t i = 0; i < x.size(); ++i) mean_curve.push_back({{q.against, x[i]}, {"value", num(q.fit.mean_y[i])}});
  return {{"quantity", q.label},
          {"against", q.against},
          {"slope", num(q.fit.headline_slope())},
          {"ci95", num(q.fit.headline_ci95())},
          {"method", q.fit.method()},
          {"seeds_with_a_slope", q.fit.slope.count},
          {"seeds_left_out", q.fit.seeds_left_out},
          {"mean_curve_fit",
           {{"slope", num(q.fit.of_mean.slope)},
            {"ci95", num(q.fit.of_mean.slope_ci95)},
            {"r2", num(q.fit.of_mean.r2)},
            {"points", q.fit.of_mean.points}}},
          {"theory", num(q.theory)},
          {"theory_source", q.theory_text},
          {"mean_curve", mean_curve},
          {"per_seed", per_seed}};
}

void write_tables(const FlowStudySettings& s, const RatesResults& r, RunWriter& out) {
  const Reading rd{r.infimum};
  // tau_stop_*: where stopping beats training to the end (stopping_time); missing: it does not.
  CsvTable t({"seed", "sweep", "n", "m", "loss", "best_kl", "tau_stop_kl", "limit_kl", "best_score_error",
              "tau_stop_score_error", "limit_score_error", "excess_kl", "excess_score_error"});
  for (const char* c : {"n", "tau_stop_kl", "tau_stop_score_error", "excess_kl", "excess_score_error"})
    t.allow_missing(c);
  const auto row = [&](std::size_t k, const char* sweep, double n, Index m, const char* loss, const FlowCurve& c,
                       const FlowCurve* ref) {
    t.add_row({k, sweep, CsvCell::finite_or_missing(n), m, loss, c.best.kl_a, CsvCell::finite_or_missing(rd.tau_kl(c)),
               c.limit.kl_a, rd.err(c.best_test), CsvCell::finite_or_missing(rd.tau_err(c)), rd.err(c.limit),
               ref ? CsvCell(c.best.kl_a - ref->best.kl_a) : CsvCell::missing(),
               ref ? CsvCell(rd.err(c.best_test) - rd.err(ref->best_test)) : CsvCell::missing()});
  };
  CsvTable curves({"seed", "sweep", "n", "m", "tau", "kl_a", "score_error"});
  curves.allow_missing("n");
  const auto curve = [&](std::size_t k, const char* sweep, double n, Index m, const FlowCurve& c) {
    for (const auto& p : c.grid) curves.add_row({k, sweep, CsvCell::finite_or_missing(n), m, p.tau, p.kl_a, rd.err(p)});
  };
  const bool reference_in_m = std::binary_search(s.m_values.begin(), s.m_values.end(), s.features.width);
  for (std::size_t k = 0; k < r.seeds.size(); ++k) {
    const RatesSeed& seed = r.seeds[k];
    for (std::size_t i = 0; i < s.n_values.size(); ++i)
      if (seed.n_done[i]) {
        row(k, "n", static_cast<double>(s.n_values[i]), s.features.width, "empirical", seed.n_curves[i],
            seed.reference_done ? &seed.reference : nullptr);
        curve(k, "n", static_cast<double>(s.n_values[i]), s.features.width, seed.n_curves[i]);
      }
    for (std::size_t i = 0; i < s.m_values.size(); ++i)
      if (seed.m_done[i]) {
        row(k, "m", kNaN, s.m_values[i], "population", seed.m_curves[i], nullptr);
        curve(k, "m", kNaN, s.m_values[i], seed.m_curves[i]);
      }
    if (seed.reference_done && !reference_in_m) curve(k, "m", kNaN, s.features.width, seed.reference);
  }
  out.csv("metrics.csv", t);
  out.csv("curves.csv", curves);
}

// A column of a quantity: its spread over seeds at x index i (of log10 for times).
Spread column(const RatesQuantity& q, std::size_t i, bool log10) {
  std::vector<double> v;
  for (const auto& row : q.per_seed) v.push_back(row[i]);
  return spread(log10 ? log10_of(v) : v);
}

Table n_table(const FlowStudySettings& s, const RatesResults& r, const std::vector<RatesQuantity>& q) {
  const Reading rd{r.infimum};
  const Index K = static_cast<Index>(r.seeds.size());
  Table table({"n", "best KL (a)", "τ*", "KL at τ = ∞", "excess KL", "best score error", "excess score error",
               "stopping gain", "τ* (test loss)"});
  for (std::size_t i = 0; i < s.n_values.size(); ++i) {
    // The geometric seed mean of the seeds that reached a minimum before τ = ∞, with their count.
    const auto geo = [&](const std::string& key) {
      const Spread sp = column(find_quantity(q, key), i, true);
      if (sp.count == 0) return std::string("∞");
      const std::string text = "10^" + format_significant(sp.mean, 3);
      return sp.count < K ? fmt::format("{} ({} of {})", text, sp.count, K) : text;
    };
    std::vector<double> limit, best_err, gain;
    for (const auto& seed : r.seeds) {
      const bool done = seed.n_done[i];
      limit.push_back(done ? seed.n_curves[i].limit.kl_a : kNaN);
      best_err.push_back(done ? rd.err(seed.n_curves[i].best_test) : kNaN);
      // How much early stopping lowers the score error, relative to training to the end.
      if (done) {
        const double best = rd.err(seed.n_curves[i].best_test), end = rd.err(seed.n_curves[i].limit);
        gain.push_back(end > 0 ? (end - best) / end : kNaN);
      }
    }
    table.add_row({s.n_values[i], format_pm(column(find_quantity(q, "best_kl_n"), i, false), 3), geo("tau_kl_n"),
                   format_pm(spread(limit), 3), format_pm(column(find_quantity(q, "excess_kl_n"), i, false), 2),
                   format_pm(spread(best_err), 3),
                   format_pm(column(find_quantity(q, "excess_score_error_n"), i, false), 2), format_pm(spread(gain), 2),
                   geo("tau_test_n")});
  }
  return table;
}

Table m_table(const FlowStudySettings& s, const RatesResults& r, const std::vector<RatesQuantity>& q) {
  const Reading rd{r.infimum};
  Table table({"m", "best KL (a)", "minus smoothing floor", "score error", "τ*"});
  for (std::size_t i = 0; i < s.m_values.size(); ++i) {
    std::vector<double> tau;
    for (const auto& seed : r.seeds) tau.push_back(seed.m_done[i] ? finite_tau(rd.tau_kl(seed.m_curves[i])) : kNaN);
    const Spread sp = spread(log10_of(tau));
    table.add_row({s.m_values[i], format_pm(column(find_quantity(q, "best_kl_m"), i, false), 3),
                   format_pm(column(find_quantity(q, "excess_kl_m"), i, false), 2),
                   format_pm(column(find_quantity(q, "score_error_m"), i, false), 3),
                   sp.count ? "10^" + format_significant(sp.mean, 3) : std::string("∞")});
  }
  return table;
}

// One line of "What the slopes say" per quantity.
std::string verdict(const RatesQuantity& q, Index K) {
  const double sl = q.fit.headline_slope(), ci = q.fit.headline_ci95();
  const std::string left_out =
      q.fit.seeds_left_out > 0
          ? fmt::format(" ({} of {} seeds left out: {})", q.fit.seeds_left_out, K,
                        q.geometric ? "fewer than 3 n with a stopping time" : "a value that is not positive")
          : "";
  if (!std::isfinite(sl)) return fmt::format("{}: no slope (too few usable values){}.", q.label, left_out);
  const bool has_ci = std::isfinite(ci), inside = has_ci && std::abs(sl - q.theory) <= ci;
  std::string verdict;
  if (!has_ci) {
    verdict = "no interval to compare with";
  } else if (q.geometric) {
    verdict = fmt::format("Li et al.'s 2/5 is {}, Bonnaire et al.'s 1 is {} the interval",
                          std::abs(sl - kStopLi) <= ci ? "inside" : "outside",
                          std::abs(sl - kStopBonnaire) <= ci ? "inside" : "outside");
  } else if (inside) {
    verdict = fmt::format("the theorem's {} lies inside the interval", format_significant(q.theory, 2));
  } else {
    verdict = sl < q.theory ? fmt::format("steeper than the theorem's {}: the bound holds with room to spare",
                                          format_significant(q.theory, 2))
                            : fmt::format("shallower than the theorem's {}", format_significant(q.theory, 2));
  }
  return fmt::format("{} against {}: slope {}{}; {}.", q.label, q.against, rates_slope_text(q.fit), left_out, verdict);
}

}  // namespace

std::vector<RatesQuantity> rates_quantities(const FlowStudySettings& s, const RatesResults& r) {
  const Reading rd{r.infimum};
  const double floor = r.smoothing_floor;
  const std::string li = "Li et al. 2023, Theorem 1", li_loss = "Li et al. 2023, Theorem 1 (its proof bounds KL by this loss)";
  std::vector<RatesQuantity> q{
      {"best_kl_n", "best KL (a) over training", "n", kTheoryN, li,
       n_quantity(r, [](const RatesSeed& x, std::size_t i) { return x.n_curves[i].best.kl_a; })},
      {"excess_kl_n", "best KL (a) minus the population flow's best (same features)", "n", kTheoryN, li,
       n_quantity(r, [](const RatesSeed& x, std::size_t i) { return x.n_curves[i].best.kl_a - x.reference.best.kl_a; })},
      {"excess_score_error_n", "best score error over training minus the population flow's (same features)", "n",
       kTheoryN, li_loss, n_quantity(r, [&](const RatesSeed& x, std::size_t i) {
         return rd.err(x.n_curves[i].best_test) - rd.err(x.reference.best_test);
       })},
      {"best_kl_m", "best KL (a) over training, population loss", "m", kTheoryM, li,
       m_quantity(r, [](const RatesSeed& x, std::size_t i) { return x.m_curves[i].best.kl_a; })},
      {"excess_kl_m", "best KL (a) minus the smoothing floor KL(p_0 || p_t0)", "m", kTheoryM, li,
       m_quantity(r, [&](const RatesSeed& x, std::size_t i) { return x.m_curves[i].best.kl_a - floor; })},
      {"score_error_m", "best score error over training, population loss", "m", kTheoryM, li_loss,
       m_quantity(r, [&](const RatesSeed& x, std::size_t i) { return rd.err(x.m_curves[i].best_test); })},
      {"tau_kl_n", "training time of the best KL (a), τ*", "n", kStopLi,
       "Li et al. 2023 (reconstructed: τ* ∝ n^{2/5}); Bonnaire et al. 2025: τ_mem ∝ n (slope 1)",
       n_quantity(r, [&](const RatesSeed& x, std::size_t i) { return finite_tau(rd.tau_kl(x.n_curves[i])); }), true},
      {"tau_test_n", "training time of the lowest population loss (early stopping by test loss)", "n", kStopBonnaire,
       "Bonnaire et al. 2025: τ_mem ∝ n (slope 1); Li et al. 2023 (reconstructed): 2/5",
       n_quantity(r, [&](const RatesSeed& x, std::size_t i) { return finite_tau(rd.tau_err(x.n_curves[i])); }), true}};
  const std::vector<double> xn(s.n_values.begin(), s.n_values.end()), xm(s.m_values.begin(), s.m_values.end());
  for (auto& x : q) x.fit = fit_power_law_over_seeds(x.against == "n" ? xn : xm, x.per_seed, x.geometric, x.geometric);
  return q;
}

const RatesQuantity& find_quantity(const std::vector<RatesQuantity>& quantities, const std::string& key) {
  for (const auto& q : quantities)
    if (q.key == key) return q;
  throw std::logic_error("rates: no quantity " + key);
}

std::string rates_slope_text(const SeedSlopes& f) {
  return format_pm(f.headline_slope(), f.headline_ci95());
}

void write_rates_report(const FlowStudySettings& s, const RatesResults& r, RunWriter& out) {
  write_tables(s, r, out);
  const auto quantities = rates_quantities(s, r);
  const std::vector<double> xn(s.n_values.begin(), s.n_values.end()), xm(s.m_values.begin(), s.m_values.end());
  Json fits = Json::object(), failures = Json::array();
  for (const auto& q : quantities) fits[q.key] = quantity_json(q, q.against == "n" ? xn : xm);
  for (std::size_t k = 0; k < r.seeds.size(); ++k)
    if (r.seeds[k].failure) failures.push_back({{"seed", k}, {"message", *r.seeds[k].failure}});
  const std::string kl_definition =
      fmt::format("score-integrated density at t0 = {} ({} quadrature), against the {} target", s.kl.t0,
                  enum_name(s.kl.method), enum_name(s.kl.reference));
  add_rates_plots(s, r, quantities, out);
  out.render_plots();
  out.json("summary.json",
           {{"experiment", "rates"}, {"seeds", r.seeds.size()}, {"n_values", s.n_values}, {"m_values", s.m_values},
            {"n_sweep_width", s.features.width}, {"expectation", enum_name(s.expectation)},
            {"kl_definition", kl_definition},
            {"best_over_training", "minimum over the τ grid (refined by golden section) and the limit τ = ∞"},
            {"dsm_loss_infimum", r.infimum}, {"smoothing_floor", r.smoothing_floor}, {"fits", fits},
            {"failures", failures}, {"warnings", out.warnings()}});
  const Index K = static_cast<Index>(r.seeds.size());
  Table fit_table({"quantity", "against", "fitted slope (95% CI)", "theory", "seeds fitted"});
  std::vector<std::string> verdicts;
  for (const auto& q : quantities) {
    fit_table.add_row({q.label, q.against, rates_slope_text(q.fit), format_significant(q.theory, 2),
                       fmt::format("{} of {}", q.fit.slope.count, K)});
    verdicts.push_back(verdict(q, K));
  }
  const Table nt = n_table(s, r, quantities), mt = m_table(s, r, quantities);
  out.report(report_template("rates"),
             {{"embed_dim", s.features.embed_dim}, {"embed_scale", format_double(s.features.embed_scale)},
              {"points", s.tau.size()}, {"tau_min", format_significant(s.tau.front(), 3)},
              {"tau_max", format_significant(s.tau.back(), 3)}, {"kl_definition", kl_definition},
              {"n_values", fmt::format("{}", fmt::join(s.n_values, ", "))}, {"m_n", s.features.width},
              {"m_values", fmt::format("{}", fmt::join(s.m_values, ", "))}, {"seeds", K}, {"plural", K > 1 ? "s" : ""},
              {"method", find_quantity(quantities, "best_kl_n").fit.method()},
              {"smoothing", format_significant(r.smoothing_floor, 4)}, {"infimum", format_significant(r.infimum, 6)},
              {"fit_table", fit_table.to_markdown()}, {"n_table", nt.to_markdown()}, {"m_table", mt.to_markdown()},
              {"verdicts", verdicts}, {"failures", failures}});
  out.terminal(fmt::format("{}\n{}\n{}\n", nt.to_text(), mt.to_text(), fit_table.to_text()));
  if (!failures.empty())
    out.fail(fmt::format("{} (outputs of the rest written to {})", failures[0]["message"].get<std::string>(),
                         out.dir().string()));
}

}  // namespace diffgen
