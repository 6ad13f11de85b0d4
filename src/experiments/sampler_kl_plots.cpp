// sampler-kl's plots: per dimension one panel per (estimator, grid), every
// quantity against the number of steps on log-log axes (seed 0).
// Tested by sampler_kl_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/sampler_kl.hpp"

namespace diffgen {
namespace {

// (n, value) over the rows kept by `keep`.
template <class Get, class Keep>
std::pair<std::vector<double>, std::vector<double>> column(const std::vector<const SamplerRow*>& list, Get&& get,
                                                          Keep&& keep) {
  std::vector<double> x, y;
  for (const SamplerRow* r : list)
    if (keep(*r)) {
      x.push_back(static_cast<double>(r->steps));
      y.push_back(get(*r));
    }
  return {x, y};
}

bool has_path(const SamplerRow& r) {
  return r.has_path;
}

Series colored(Series s, const std::string& color) {
  s.color = color;
  return s;
}

// The range of positive values drawn on a panel.
struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
  void track(const std::vector<double>& v) {
    for (double x : v)
      if (x > 0.0 && std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  }
};

// d > 1: Δ_n from the exact 1-D reduction (where it exists), and beside it
// the Monte Carlo estimate with its 95% interval (band and thin line).
void monte_carlo_series(PlotSpec& p, const std::vector<const SamplerRow*>& list, const std::string& color,
                        const std::string& label, Range& range) {
  const auto mc = [](double z) {
    return [z](const SamplerRow& r) { return r.path.delta_n.value + z * r.path.delta_n.standard_error; };
  };
  auto [x, lo] = column(list, mc(-1.96), has_path);
  auto [x2, hi] = column(list, mc(1.96), has_path);
  auto [x3, mid] = column(list, mc(0.0), has_path);
  // A log axis cannot show a band reaching 0: clip its lower edge at a tenth of the value.
  for (std::size_t j = 0; j < lo.size(); ++j) lo[j] = std::max(lo[j], 0.1 * std::max(mid[j], 1e-300));
  p.series.push_back(colored(Series::band("", x, lo, hi), color));
  auto estimate = colored(Series::line("Monte Carlo " + label, x3, mid), color);
  estimate.line_width = 1.0;
  p.series.push_back(estimate);
  range.track(mid);
  auto [xr, red] = column(list, [](const SamplerRow& r) { return r.delta_reduction; },
                          [](const SamplerRow& r) { return std::isfinite(r.delta_reduction); });
  if (xr.empty()) return;
  p.series.push_back(colored(Series::line_points("Δ_n " + label, xr, red), color));
  range.track(red);
}

// d = 1: the final KL where it is known to kKlFitWidth (solid) and Δ_n (dashed).
void quadrature_series(PlotSpec& p, const std::vector<const SamplerRow*>& list, const std::string& color,
                       const std::string& label, Range& range) {
  auto [xk, kl] = column(
      list, [](const SamplerRow& r) { return r.kl_reported(); }, [](const SamplerRow& r) { return r.kl_resolved(); });
  p.series.push_back(colored(Series::line_points("KL final " + label, xk, kl), color));
  range.track(kl);
  auto [xd, dn] = column(list, [](const SamplerRow& r) { return r.path.delta_n.value; }, has_path);
  auto b = colored(Series::line("Δ_n " + label, xd, dn), color);
  b.dashed = true;
  p.series.push_back(b);
  range.track(dn);
}

PlotSpec panel(const SamplerKlSettings& s, const SamplerSeries& series, Index d, EstimatorKind est, GridKind g) {
  PlotSpec p;
  p.title = fmt::format("{} estimator, {} grid", enum_name(est), enum_name(g));
  p.xlabel = "steps n";
  p.ylabel = "KL (nats)";
  p.logx = p.logy = true;
  p.key = "off";
  Range range;
  for (StepRule rule : s.rules) {
    const auto it = series.find({0, d, rule, g, est});
    if (it == series.end()) continue;
    const std::string color = rule == StepRule::MeanOnly ? "#1f77b4" : "#d62728";
    const std::string label = rule == StepRule::MeanOnly ? "mean-only" : "cov-matched";
    if (d > 1)
      monte_carlo_series(p, it->second, color, label, range);
    else
      quadrature_series(p, it->second, color, label, range);
    if (rule == s.rules.front()) {
      auto [xb, bd] = column(it->second, [](const SamplerRow& r) { return r.path.bound_grid.value; }, has_path);
      auto b = colored(Series::line("grid bound", xb, bd), "#999999");
      b.dashed = true;
      p.series.push_back(b);
      range.track(bd);
    }
  }
  p.series.push_back(Series::hline(fmt::format("KL = {}", format_significant(s.threshold, 3)), s.threshold));
  if (std::isfinite(range.lo) && range.hi > 0.0)
    p.yrange = std::pair{std::min(range.lo, s.threshold) / 3.0, std::max(range.hi, s.threshold) * 3.0};
  return p;
}

}  // namespace

void add_sampler_kl_plots(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows, RunWriter& out) {
  const SamplerSeries series = sampler_series(rows);
  for (Index d : s.dimensions) {
    PanelGrid grid;
    grid.title = d == 1 ? "d = 1: KL of the final marginals (solid; values known to 0.1%), path KL Δ_n (dashed), "
                          "grid bound (grey), seed 0"
                        : fmt::format(
                              "d = {}: path KL Δ_n by the exact 1-D reduction (points), Monte Carlo with 95% "
                              "interval (thin, band), grid bound (grey)",
                              d);
    for (EstimatorKind est : s.estimators)
      for (GridKind g : s.grids) {
        bool any = false;
        for (StepRule rule : s.rules) any = any || series.count({0, d, rule, g, est});
        if (any) grid.panels.push_back(panel(s, series, d, est, g));
      }
    if (grid.panels.empty()) continue;
    // The legend goes in room made below the last panel's curves.
    auto& last = grid.panels.back();
    last.key = "bottom left";
    if (last.yrange) last.yrange->first /= 1e3;
    grid.cols = static_cast<int>(std::min<std::size_t>(s.grids.size(), grid.panels.size()));
    grid.rows = static_cast<int>((grid.panels.size() + static_cast<std::size_t>(grid.cols) - 1) /
                                 static_cast<std::size_t>(grid.cols));
    out.plot(fmt::format("kl_d{}", d), std::move(grid));
  }
}

}  // namespace diffgen
