// rates' plots: the fitted quantities against n and m, the stopping times
// against n, and KL along training for each n.
// Tested by rates_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "experiments/rates.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

const std::map<std::string, std::string>& legends() {
  static const std::map<std::string, std::string> legend = {{"best_kl_n", "best KL (a)"},
                                                            {"excess_kl_n", "minus the population flow's best"},
                                                            {"excess_score_error_n", "minus the population flow's"},
                                                            {"best_kl_m", "best KL (a)"},
                                                            {"excess_kl_m", "minus the smoothing floor"},
                                                            {"score_error_m", "best score error"},
                                                            {"tau_kl_n", "τ* of KL (a)"},
                                                            {"tau_test_n", "τ* of the population loss"}};
  return legend;
}

struct Band {
  std::vector<double> x, y, lo, hi;
};

// Mean ± 95% CI over seeds of a quantity, as plot columns (points with a
// value only); times on a log scale.
Band band(const RatesQuantity& q, const std::vector<double>& x) {
  Band c;
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<double> v;
    for (const auto& row : q.per_seed) v.push_back(row[i]);
    const Spread sp = spread(q.geometric ? log10_of(v) : v);
    if (sp.count == 0 || (!q.geometric && !(sp.mean > 0))) continue;
    c.x.push_back(x[i]);
    if (q.geometric) {
      c.y.push_back(std::pow(10.0, sp.mean));
      c.lo.push_back(std::pow(10.0, sp.mean - sp.ci95));
      c.hi.push_back(std::pow(10.0, sp.mean + sp.ci95));
    } else {
      c.y.push_back(sp.mean);
      c.lo.push_back(std::max(sp.mean - sp.ci95, sp.mean / 20.0));
      c.hi.push_back(sp.mean + sp.ci95);
    }
  }
  return c;
}

void add_quantity(PlotSpec& p, const RatesQuantity& q, const std::vector<double>& x, int color, bool several,
                  bool with_band = true) {
  const Band c = band(q, x);
  if (c.x.empty()) return;
  if (several && with_band) p.series.push_back(Series::band("", c.x, c.lo, c.hi));
  auto l = Series::line_points(fmt::format("{}: slope {}", legends().at(q.key), rates_slope_text(q.fit)), c.x, c.y);
  l.color = kColors[color];
  p.series.push_back(l);
  if (!q.fit.of_mean.ok()) return;
  std::vector<double> fy;
  for (double xi : x) fy.push_back(q.fit.of_mean.predict(xi));
  auto fl = Series::line("", x, fy);
  fl.color = kColors[color];
  fl.dashed = true;
  fl.line_width = 1.0;
  p.series.push_back(fl);
}

// A reference slope through the first point of a curve.
void add_reference(PlotSpec& p, const std::vector<double>& x, double y0, double slope, const std::string& label,
                   const char* color) {
  if (!(y0 > 0) || !std::isfinite(y0)) return;
  std::vector<double> y;
  for (double xi : x) y.push_back(y0 * std::pow(xi / x.front(), slope));
  auto l = Series::line(label, x, y);
  l.color = color;
  l.dashed = true;
  l.line_width = 1.5;
  p.series.push_back(l);
}

PlotSpec panel(const std::string& title, const std::string& xlabel, const std::string& ylabel) {
  PlotSpec p;
  p.title = title;
  p.xlabel = xlabel;
  p.ylabel = ylabel;
  p.logx = p.logy = true;
  p.key = "bottom left";
  return p;
}

void rates_plot(const FlowStudySettings& s, const RatesResults& r, const std::vector<RatesQuantity>& q,
                const std::vector<double>& xn, const std::vector<double>& xm, RunWriter& out) {
  const std::size_t K = r.seeds.size();
  const bool several = K > 1;
  const auto reference_through = [&](PlotSpec& p, const std::string& key, const std::vector<double>& x, double slope,
                                     const std::string& label) {
    const Band c = band(find_quantity(q, key), x);
    if (!c.y.empty()) add_reference(p, x, c.y.front(), slope, label, "black");
  };
  PanelGrid g;
  g.title = fmt::format("Li et al. 2023 Theorem 1: rates of the best over training ({} seed{}{}; dashed: fits)", K,
                        several ? "s" : "", several ? ", mean and 95% CI" : "");
  g.rows = 2;
  g.cols = 2;
  const std::string n_title = fmt::format("against n (m = {}, empirical loss)", s.features.width);
  PlotSpec a = panel("KL (a) " + n_title, "training-set size n", "KL (a)");
  add_quantity(a, find_quantity(q, "best_kl_n"), xn, 0, several);
  add_quantity(a, find_quantity(q, "excess_kl_n"), xn, 1, several);
  reference_through(a, "best_kl_n", xn, kTheoryN, "Theorem 1: slope -2/5");
  PlotSpec b = panel("KL (a) against m (population loss)", "random features m", "KL (a)");
  add_quantity(b, find_quantity(q, "best_kl_m"), xm, 0, several);
  add_quantity(b, find_quantity(q, "excess_kl_m"), xm, 1, several);
  reference_through(b, "best_kl_m", xm, kTheoryM, "Theorem 1: slope -4/5");
  b.series.push_back(
      Series::hline(fmt::format("smoothing floor {}", format_significant(r.smoothing_floor, 3)), r.smoothing_floor));
  PlotSpec c = panel("score error " + n_title, "training-set size n", "score error");
  add_quantity(c, find_quantity(q, "excess_score_error_n"), xn, 2, several);
  reference_through(c, "excess_score_error_n", xn, kTheoryN, "slope -2/5");
  PlotSpec d = panel("score error against m (population loss)", "random features m", "score error");
  add_quantity(d, find_quantity(q, "score_error_m"), xm, 2, several);
  reference_through(d, "score_error_m", xm, kTheoryM, "slope -4/5");
  g.panels = {a, b, c, d};
  g.width = 1400;
  g.height = 1000;
  out.plot("rates", std::move(g));
}

// Times span decades and a few seeds give wide t intervals: the geometric
// seed means as lines, every seed's time as a point.
void stopping_plot(const RatesResults& r, const std::vector<RatesQuantity>& q, const std::vector<double>& xn,
                   RunWriter& out) {
  const bool several = r.seeds.size() > 1;
  PlotSpec p;
  p.title = "optimal stopping time against n";
  p.xlabel = "training-set size n";
  p.ylabel = "training time τ";
  p.logx = p.logy = true;
  add_quantity(p, find_quantity(q, "tau_kl_n"), xn, 0, several, false);
  add_quantity(p, find_quantity(q, "tau_test_n"), xn, 1, several, false);
  for (const auto& [key, color] : {std::pair{"tau_kl_n", 0}, std::pair{"tau_test_n", 1}}) {
    std::vector<double> px, py;
    for (const auto& row : find_quantity(q, key).per_seed)
      for (std::size_t i = 0; i < xn.size(); ++i)
        if (std::isfinite(row[i])) px.push_back(xn[i]), py.push_back(row[i]);
    if (px.empty() || !several) continue;
    auto pts = Series::points(color == 0 ? "seeds" : "", px, py);
    pts.color = kColors[color];
    p.series.push_back(pts);
  }
  const Band c = band(find_quantity(q, "tau_test_n"), xn), c2 = band(find_quantity(q, "tau_kl_n"), xn);
  const double y0 = !c.y.empty() ? c.y.front() : (!c2.y.empty() ? c2.y.front() : std::nan(""));
  add_reference(p, xn, y0, kStopLi, "Li et al. (reconstructed): slope 2/5", "black");
  add_reference(p, xn, y0, kStopBonnaire, "Bonnaire et al.: τ_mem ∝ n", "grey40");
  p.key = "bottom right";
  p.width = 900;
  p.height = 600;
  out.plot("stopping", std::move(p));
}

// The seed-mean KL (a) along τ of the curves `get` picks where `done`.
template <class Get, class Done>
std::pair<std::vector<double>, std::vector<double>> mean_curve(const FlowStudySettings& s, const RatesResults& r,
                                                               Get&& get, Done&& done) {
  std::vector<double> x, y;
  for (std::size_t g = 0; g < s.tau.size(); ++g) {
    std::vector<double> v;
    for (const auto& seed : r.seeds)
      if (done(seed)) v.push_back(get(seed).grid[g].kl_a);
    const Spread sp = spread(v);
    if (sp.count > 0) x.push_back(s.tau[g]), y.push_back(sp.mean);
  }
  return {x, y};
}

void curves_plot(const FlowStudySettings& s, const RatesResults& r, RunWriter& out) {
  PlotSpec p;
  p.title = fmt::format("KL (a) along training for each n (m = {}, seed mean)", s.features.width);
  p.xlabel = "training time τ";
  p.ylabel = "KL (a)";
  p.logx = p.logy = true;
  for (std::size_t i = 0; i < s.n_values.size(); ++i) {
    auto [x, y] = mean_curve(s, r, [&](const RatesSeed& x) -> const FlowCurve& { return x.n_curves[i]; },
                             [&](const RatesSeed& x) { return x.n_done[i] != 0; });
    if (!x.empty()) p.series.push_back(Series::line(fmt::format("n = {}", s.n_values[i]), x, y));
  }
  auto [x, y] = mean_curve(s, r, [](const RatesSeed& x) -> const FlowCurve& { return x.reference; },
                           [](const RatesSeed& x) { return x.reference_done; });
  if (!x.empty()) {
    auto l = Series::line("population loss", x, y);
    l.color = "black";
    l.dashed = true;
    p.series.push_back(l);
  }
  p.key = "bottom left";
  p.width = 900;
  p.height = 600;
  out.plot("curves", std::move(p));
}

}  // namespace

void add_rates_plots(const FlowStudySettings& s, const RatesResults& r, const std::vector<RatesQuantity>& quantities,
                     RunWriter& out) {
  const std::vector<double> xn(s.n_values.begin(), s.n_values.end()), xm(s.m_values.begin(), s.m_values.end());
  rates_plot(s, r, quantities, xn, xm, out);
  stopping_plot(r, quantities, xn, out);
  curves_plot(s, r, out);
}

}  // namespace diffgen
