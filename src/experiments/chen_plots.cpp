// The plots of the Chen2025 toy studies (experiments/chen_study.hpp).
// Tested by chen_study_test.cpp.
#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "experiments/chen_study.hpp"
#include "numerics/statistics.hpp"

namespace diffgen {
namespace {

struct Curve {
  std::vector<double> x, mean, lo, hi;
};

// The mean over seeds of f at each T, with its 95% band; T values without a
// finite value are left out.
Curve curve(const ChenSettings& s, const ChenGrid& grid, const std::function<double(const ChenPoint&)>& f) {
  Curve c;
  for (std::size_t j = 0; j < s.T_values.size(); ++j) {
    std::vector<double> v;
    for (const ChenPoint* p : grid[j])
      if (p && p->failure.empty()) v.push_back(f(*p));
    const Spread sp = spread(v);
    if (sp.count == 0) continue;
    c.x.push_back(s.T_values[j]);
    c.mean.push_back(sp.mean);
    c.lo.push_back(sp.mean - sp.ci95);
    c.hi.push_back(sp.mean + sp.ci95);
  }
  return c;
}

void add_curve(PlotSpec& p, const Curve& c, const std::string& label, bool band) {
  if (c.x.empty()) return;
  if (band) p.series.push_back(Series::band("", c.x, c.lo, c.hi));
  p.series.push_back(Series::line_points(label, c.x, c.mean));
}

}  // namespace

void add_chen_plots(const ChenSettings& s, const ChenGrid& grid, ChenTarget target, Index m, RunWriter& out) {
  const double c = std::numbers::sqrt2 * s.R;
  const std::string name(enum_name(target));
  const bool bands = !grid.empty() && grid.front().size() > 1;
  // The terms stacked: each line adds one term to the one below it.
  PlotSpec stacked;
  stacked.title = fmt::format("{} (m = {}): the bound's terms stacked against T (mean over seeds)", name, m);
  stacked.xlabel = "diffusion horizon T";
  stacked.ylabel = "cumulative contribution (nats)";
  add_curve(stacked, curve(s, grid, [](const ChenPoint& p) { return p.term1; }), "term1", false);
  add_curve(stacked, curve(s, grid, [&](const ChenPoint& p) { return p.term1 + c * p.term2; }), "+ √2R·term2", false);
  add_curve(stacked, curve(s, grid, [&](const ChenPoint& p) { return p.term1 + c * (p.term2 + p.term3); }),
            "+ √2R·term3", false);
  add_curve(stacked, curve(s, grid, [](const ChenPoint& p) { return p.bound; }), "+ sm_loss = bound", bands);
  out.plot(fmt::format("terms_{}_m{}", name, m), std::move(stacked));

  PanelGrid panels;
  panels.title = fmt::format("{} (m = {}): the bound and the test error against T (mean, 95% band)", name, m);
  panels.cols = 2;
  PlotSpec bound;
  bound.title = "the bound";
  bound.xlabel = "T";
  bound.ylabel = "bound (nats)";
  add_curve(bound, curve(s, grid, [](const ChenPoint& p) { return p.bound; }), "bound", bands);
  PlotSpec error;
  error.title = "test error";
  error.xlabel = "T";
  error.ylabel = "nats";
  add_curve(error, curve(s, grid, [](const ChenPoint& p) { return p.exact_kl; }), "exact KL(p_0 || p_θ)", bands);
  add_curve(error, curve(s, grid, [](const ChenPoint& p) { return p.kde_kl; }), "KDE-KL (authors')", bands);
  add_curve(error, curve(s, grid, [](const ChenPoint& p) { return p.kde_kl_floor; }), "KDE-KL of a perfect generator",
            false);
  add_curve(error, curve(s, grid, [](const ChenPoint& p) { return p.prior_mismatch; }), "prior mismatch KL(p_T || N(0,I))",
            false);
  panels.panels = {bound, error};
  out.plot(fmt::format("bound_vs_error_{}_m{}", name, m), std::move(panels));
}

}  // namespace diffgen
