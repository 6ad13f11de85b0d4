// gradient-flow's plots: KL along τ for both flows with the floors, the gap
// between them with the score error, and seed 0's densities at three times.
// Tested by gradient_flow_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/gradient_flow.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

struct Columns {
  std::vector<double> x, y, lo, hi;
};

// The seed means along τ with their 95% bands; on a log axis the band stops
// a decade below the mean (a band through 0 cannot be drawn).
Columns columns(const std::vector<double>& tau, const std::vector<Spread>& sp, bool log_band) {
  Columns c;
  for (std::size_t i = 0; i < sp.size(); ++i) {
    if (sp[i].count == 0) continue;
    c.x.push_back(tau[i]);
    c.y.push_back(sp[i].mean);
    c.lo.push_back(log_band ? std::max(sp[i].mean - sp[i].ci95, sp[i].mean / 10.0) : sp[i].mean - sp[i].ci95);
    c.hi.push_back(sp[i].mean + sp[i].ci95);
  }
  return c;
}

Series colored(Series s, const char* color) {
  s.color = color;
  return s;
}

// A range fitted to the curves and floors, so the legend sits top right over
// the trained part (KL is small there) without extra head room.
void fit_range(PlotSpec& p) {
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = 0.0;
  for (const auto& sr : p.series) {
    for (const auto* v : {&sr.y, &sr.lo, &sr.hi})
      for (double y : *v)
        if (std::isfinite(y) && y > 0) y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    if (sr.kind == SeriesKind::HLine && sr.level > 0) y_lo = std::min(y_lo, sr.level), y_hi = std::max(y_hi, sr.level);
  }
  if (y_hi > 0) p.yrange = std::pair{y_lo / 2, y_hi * 2};
}

void add_flows(PlotSpec& p, const Columns& e, const Columns& q, bool several, const std::string& emp,
               const std::string& pop, const std::string& band_label) {
  if (several) p.series.push_back(Series::band(band_label.empty() ? "" : "empirical: " + band_label, e.x, e.lo, e.hi));
  p.series.push_back(colored(Series::line(emp, e.x, e.y), "#d62728"));
  if (several) p.series.push_back(Series::band(band_label.empty() ? "" : "population: " + band_label, q.x, q.lo, q.hi));
  p.series.push_back(colored(Series::line(pop, q.x, q.y), "#1f77b4"));
}

void densities_plot(const FlowStudySettings& s, const GradientFlowResults& r, RunWriter& out) {
  PanelGrid g;
  g.title = "learned densities (score integrated at t0), seed 0";
  g.cols = static_cast<int>(r.snapshots.size());
  const double reach = s.target_mu + 4.0 * std::sqrt(s.target_var);
  const auto to_std = [](const Vector& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
  for (const auto& snap : r.snapshots) {
    PlotSpec p;
    p.title = snap.label + (std::isfinite(snap.tau) ? ", τ = " + format_significant(snap.tau, 3) : "");
    p.xlabel = "x";
    p.ylabel = "density";
    p.xrange = std::pair{-reach, reach};
    p.key = &snap == &r.snapshots.front() ? "top center" : "off";
    auto pl = colored(Series::line("population flow", to_std(snap.x), to_std(snap.log_q_pop.array().exp())), "#1f77b4");
    pl.dashed = true;
    p.series = {colored(Series::line("target", to_std(snap.x), to_std(snap.log_p.array().exp())), "black"),
                colored(Series::line("empirical flow", to_std(snap.x), to_std(snap.log_q_emp.array().exp())), "#d62728"),
                pl};
    g.panels.push_back(p);
  }
  g.width = 480 * g.cols;
  g.height = 400;
  out.plot("densities", std::move(g));
}

}  // namespace

void add_gradient_flow_plots(const FlowStudySettings& s, const GradientFlowResults& r,
                             const std::vector<Spread>& kl_emp, const std::vector<Spread>& kl_pop,
                             const std::vector<Spread>& kl_gap, const std::vector<Spread>& err_emp,
                             const std::vector<Spread>& err_pop, double memorized, RunWriter& out) {
  const bool several = r.seeds.size() > 1;
  if (!kl_emp.empty()) {
    PlotSpec p;
    p.title = fmt::format("KL(target || learned) along the exact gradient flow (n = {}, m = {}, {} seed{})", s.n,
                          s.features.width, r.seeds.size(), several ? "s" : "");
    p.xlabel = "training time τ";
    p.ylabel = fmt::format("KL (a), t0 = {}", s.kl.t0);
    p.logx = p.logy = true;
    add_flows(p, columns(s.tau, kl_emp, true), columns(s.tau, kl_pop, true), several,
              "empirical loss (n training points)", "population loss", "95% CI over seeds");
    for (const auto& [label, level, color] : {std::tuple{"smoothing floor (true score)", r.smoothing_floor, "grey40"},
                                              std::tuple{"memorized training set (empirical oracle)", memorized,
                                                         "dark-red"}})
      if (std::isfinite(level) && level > 0)
        p.series.push_back(
            colored(Series::hline(fmt::format("{} {}", label, format_significant(level, 3)), level), color));
    fit_range(p);
    out.plot("kl", std::move(p));

    PanelGrid g;
    g.title = "the generalization gap along training";
    g.cols = 2;
    PlotSpec a;
    a.title = "KL (a): empirical flow minus population flow";
    a.xlabel = "training time τ";
    a.ylabel = "KL gap";
    a.logx = true;
    a.key = "top left";
    const Columns d = columns(s.tau, kl_gap, false);
    if (several) a.series.push_back(Series::band("95% CI over seeds", d.x, d.lo, d.hi));
    a.series.push_back(Series::line("mean over seeds", d.x, d.y));
    a.series.push_back(Series::hline("", 0.0));
    PlotSpec b;
    b.title = "score error E s²(s_A − ∇log p_t)² (population loss − its infimum)";
    b.xlabel = "training time τ";
    b.ylabel = "score error";
    b.logx = b.logy = true;
    b.key = "bottom left";
    add_flows(b, columns(s.tau, err_emp, true), columns(s.tau, err_pop, true), several, "empirical flow",
              "population flow", "");
    g.panels = {a, b};
    g.width = 1280;
    g.height = 480;
    out.plot("gap", std::move(g));
  }
  if (!r.snapshots.empty()) densities_plot(s, r, out);
}

}  // namespace diffgen
