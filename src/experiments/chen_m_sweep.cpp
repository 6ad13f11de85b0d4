// `diffgen run chen-m-sweep`: Chen, Zhu & Shkurti (ICLR 2025), the bound and
// the test error against the training-set size m at one horizon T (THEORY.md
// §7): each term, the bound and every test metric against m with 95% bands,
// and the power-law slopes of the bound and of each test error in m.
// Tested by chen_study_test.cpp.
#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "experiments/chen_grid_study.hpp"
#include "experiments/report_templates.hpp"
#include "numerics/power_fit.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Quantity {
  std::string name, label;
  double ChenPoint::*field;
};

// The bound, its m-dependent term and the test errors, fitted against m.
std::vector<Quantity> fitted_quantities() {
  std::vector<Quantity> q{{"bound", "bound", &ChenPoint::bound}, {"term3", "term3", &ChenPoint::term3}};
  for (const auto& m : chen_test_metrics()) q.push_back({m.name, m.label, m.field});
  return q;
}

class ChenMSweepStudy final : public ChenGridStudy {
 public:
  using ChenGridStudy::ChenGridStudy;
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override;

 private:
  Json target_json(const std::vector<TaskValue>& values, ChenTarget target, double T, Table& terms, Table& slopes,
                   RunWriter& out) const;
};

Json ChenMSweepStudy::target_json(const std::vector<TaskValue>& values, ChenTarget target, double T, Table& terms,
                                  Table& slopes, RunWriter& out) const {
  const std::string name(enum_name(target));
  const double c = std::numbers::sqrt2 * s_.R;
  std::vector<double> ms;
  for (Index m : s_.m_values) ms.push_back(static_cast<double>(m));
  Json per_m = Json::array();
  for (Index m : s_.m_values) {
    const auto sp = [&](const std::function<double(const ChenPoint&)>& f) { return spread_at(values, target, m, T, f); };
    Json row = {{"m", m}};
    for (const auto& col : chen_columns()) row[col.name] = spread_json(sp([&](const ChenPoint& p) { return p.*(col.field); }));
    per_m.push_back(row);
    terms.add_row({name, format_double(T), m, format_pm(sp([](const ChenPoint& p) { return p.bound; })),
                   format_pm(sp([](const ChenPoint& p) { return p.term1; })),
                   format_pm(sp([&](const ChenPoint& p) { return c * p.term3; })),
                   format_pm(sp([](const ChenPoint& p) { return p.sm_loss; })),
                   format_pm(sp([](const ChenPoint& p) { return p.exact_kl; })),
                   format_pm(sp([](const ChenPoint& p) { return p.kde_kl; })),
                   format_pm(sp([](const ChenPoint& p) { return p.energy; }))});
  }
  Json fits = Json::object();
  PlotSpec plot;
  plot.title = fmt::format("{} at T = {}: the bound and the test errors against m (mean, 95% band)", name, T);
  plot.xlabel = "training-set size m";
  plot.ylabel = "nats (energy distance: its own units)";
  plot.logx = plot.logy = true;
  for (const auto& q : fitted_quantities()) {
    std::vector<std::vector<double>> per_seed;
    for (Index k = 0; k < seeds_; ++k) {
      per_seed.emplace_back();
      for (Index m : s_.m_values) {
        const ChenPoint* p = at(values, k, target, m, T);
        per_seed.back().push_back(p ? p->*(q.field) : kNaN);
      }
    }
    const SeedSlopes fit = fit_power_law_over_seeds(ms, per_seed);
    if (!fit.of_mean.ok()) continue;
    fits[q.name] = {{"slope", fit.headline_slope()}, {"ci95", fit.headline_ci95()}, {"method", fit.method()},
                    {"seed_mean", fit.mean_y}};
    slopes.add_row({name, format_double(T), q.label, format_pm(fit.headline_slope(), fit.headline_ci95()),
                    fit.slope.count >= 2 ? "the seeds' slopes" : "the regression"});
    std::vector<double> x, y;
    for (std::size_t i = 0; i < ms.size(); ++i)
      if (std::isfinite(fit.mean_y[i]) && fit.mean_y[i] > 0) x.push_back(ms[i]), y.push_back(fit.mean_y[i]);
    if (q.name != "term3" && !x.empty()) plot.series.push_back(Series::line_points(q.label, x, y));
  }
  out.plot(fmt::format("bound_and_error_vs_m_{}_T{}", name, T), std::move(plot));
  return {{"target", name}, {"T", T}, {"per_m", per_m}, {"slopes", fits}};
}

void ChenMSweepStudy::report(const std::vector<TaskValue>& values, RunWriter& out) const {
  write_metrics(values, out);
  Table terms({"target", "T", "m", "bound", "term1", "√2R·term3", "sm_loss", "exact KL", "KDE-KL", "energy distance"});
  Table slopes({"target", "T", "quantity", "slope in m (95% CI)", "interval from"});
  Json targets = Json::array();
  for (ChenTarget target : s_.targets)
    for (double T : s_.T_values) targets.push_back(target_json(values, target, T, terms, slopes, out));
  const std::vector<std::string> failed = failures(values);
  out.json("summary.json", {{"experiment", "chen-m-sweep"}, {"seeds", seeds_}, {"bound_preset", enum_name(s_.preset)},
                            {"R", s_.R}, {"steps", s_.steps}, {"targets", targets}, {"failures", failed}});
  out.render_plots();
  out.report(report_template("chen-m-sweep"),
             {{"seeds", seeds_}, {"plural", seeds_ > 1 ? "s" : ""}, {"steps", s_.steps}, {"lr", format_double(s_.lr)},
              {"R", format_double(s_.R)}, {"preset", enum_name(s_.preset)}, {"terms", terms.to_markdown()},
              {"slopes", slopes.to_markdown()}});
  out.terminal(terms.to_text() + "\n" + slopes.to_text() + "\n");
  if (!failed.empty())
    out.fail(fmt::format("{} of {} points failed; the first: {}", failed.size(), values.size(), failed.front()));
}

class ChenMSweepExperiment final : public Experiment {
 public:
  std::string name() const override { return "chen-m-sweep"; }
  std::string purpose() const override {
    return "Chen et al. 2025: the bound and the true test error against the training-set size m at T = 1, with "
           "fitted slopes";
  }
  Schema keys() const override {
    Schema s;
    chen_options().declare(s, defaults());
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    return std::make_unique<ChenMSweepStudy>(chen_settings(config, defaults()), seeds);
  }

 private:
  // The authors' m-sweep at T = 1 (bound_estimation.py), full batch as their
  // _m variant; term1 with 200 draws per point, since its cost grows as m².
  static ChenSettings defaults() {
    ChenSettings s;
    s.T_values = {1.0};
    s.m_values = {10, 100, 200, 600, 1000, 2000};
    s.term1_draws = 200;
    return s;
  }
};

}  // namespace

std::unique_ptr<Experiment> make_chen_m_sweep_experiment() {
  return std::make_unique<ChenMSweepExperiment>();
}

}  // namespace diffgen
