// The plots of a training study (early-stopping): each a seed-mean curve with
// the range over seeds as a band and its references as horizontal lines.
// Tested by early_stopping_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/early_stopping.hpp"
#include "experiments/study_grid.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

// A seed curve as plot columns: epoch, mean, and the range over seeds.
struct CurveColumns {
  std::vector<double> x, y, lo, hi;
};

CurveColumns curve_columns(const std::vector<CurvePoint>& curve) {
  CurveColumns c;
  for (const auto& p : curve) {
    c.x.push_back(static_cast<double>(p.epoch));
    c.y.push_back(p.spread.mean);
    c.lo.push_back(p.spread.min);
    c.hi.push_back(p.spread.max);
  }
  return c;
}

// A log axis fitted to the data and the references (gnuplot's own rounds out
// to whole decades and beyond).
void fit_log_range(PlotSpec& p, std::initializer_list<double> references) {
  double y_lo = std::min(references), y_hi = std::max(references);
  for (const auto& sr : p.series)
    for (const auto* v : {&sr.y, &sr.lo, &sr.hi})
      for (double y : *v)
        if (std::isfinite(y) && y > 0) {
          y_lo = std::min(y_lo, y);
          y_hi = std::max(y_hi, y);
        }
  if (std::isfinite(y_lo) && y_lo > 0) p.yrange = std::pair{y_lo / 2, y_hi * 3};
}

Series colored(Series s, const char* color) {
  s.color = color;
  return s;
}

// KL against epoch, the seeds' range as a band, the oracle floors as lines.
void kl_plot(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out) {
  const bool several = seeds.size() > 1;
  PlotSpec p;
  p.title = fmt::format("KL(target || learned) along training ({} seed{})", seeds.size(), several ? "s" : "");
  p.xlabel = "epoch";
  p.ylabel = "KL";
  p.logy = true;
  const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, &StudyRow::kl_a));
  if (several) p.series.push_back(Series::band("(a) range over seeds", x, lo, hi));
  p.series.push_back(Series::line(fmt::format("(a) score-integrated, t0 = {}", s.kl.t0), x, y));
  const auto b = curve_columns(mean_curve(seeds, &StudyRow::kl_b));
  if (!b.x.empty()) p.series.push_back(Series::line_points("(b) PF-ODE density", b.x, b.y));
  const double pop = floor_spread(seeds, &OracleFloors::population_a).mean;
  const double emp = floor_spread(seeds, &OracleFloors::empirical_a).mean;
  fit_log_range(p, {pop, emp});
  p.series.push_back(Series::hline(fmt::format("population oracle (a) {}", format_significant(pop, 3)), pop));
  p.series.push_back(
      colored(Series::hline(fmt::format("empirical oracle (a) {}", format_significant(emp, 3)), emp), "dark-red"));
  out.plot("kl", std::move(p));
}

// At the smaller t0: the learned density's KL to the target and to the
// empirical oracle's density, with what a perfect learner and a memorizer
// score; and their difference, > 0 toward the target, < 0 toward the training set.
void kl_small_plot(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out) {
  const bool several = seeds.size() > 1;
  PanelGrid g;
  g.cols = 2;
  g.width = 1300;
  g.height = 500;
  g.title = fmt::format("t0 = {}: the learned density against the target and against the memorized training set",
                        s.kl_small.t0);
  PlotSpec p;
  p.title = "KL from the target and from the empirical density";
  p.xlabel = "epoch";
  p.ylabel = "KL";
  p.logy = true;
  for (const auto& [metric, label] : {std::pair{&StudyRow::kl_a_small, "KL(target || learned)"},
                                      std::pair{&StudyRow::kl_emp_a_small, "KL(empirical density || learned)"}}) {
    const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, metric));
    if (x.empty()) continue;
    if (several) p.series.push_back(Series::band("", x, lo, hi));
    p.series.push_back(Series::line(label, x, y));
  }
  const double pop = floor_spread(seeds, &OracleFloors::population_a_small).mean;
  const double pop_emp = floor_spread(seeds, &OracleFloors::population_emp_a_small).mean;
  const double emp = floor_spread(seeds, &OracleFloors::empirical_a_small).mean;
  fit_log_range(p, {pop, pop_emp, emp});
  p.series.push_back(Series::hline(fmt::format("perfect learner: to the target {}", format_significant(pop, 2)), pop));
  p.series.push_back(colored(
      Series::hline(fmt::format("perfect learner: to the empirical density {}", format_significant(pop_emp, 2)),
                    pop_emp),
      "dark-green"));
  p.series.push_back(
      colored(Series::hline(fmt::format("memorizer: to the target {}", format_significant(emp, 2)), emp), "dark-red"));
  g.panels.push_back(p);

  PlotSpec d;
  d.title = "KL(empirical || learned) - KL(target || learned)";
  d.xlabel = "epoch";
  d.ylabel = "difference";
  const auto [x, y, lo, hi] =
      curve_columns(mean_curve(seeds, [](const StudyRow& r) { return r.kl_emp_a_small - r.kl_a_small; }));
  if (several) d.series.push_back(Series::band("", x, lo, hi));
  d.series.push_back(Series::line("learned", x, y));
  d.series.push_back(colored(
      Series::hline(fmt::format("perfect learner {}", format_significant(pop_emp - pop, 2)), pop_emp - pop),
      "dark-green"));
  d.series.push_back(Series::hline("0", 0.0));
  d.series.push_back(colored(Series::hline(fmt::format("memorizer {}", format_significant(-emp, 2)), -emp), "dark-red"));
  g.panels.push_back(d);
  out.plot("kl_small", std::move(g));
}

// The learned weight of the right mode against the target's ½ (Li2023 Figs. 4–5).
void weights_plot(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out) {
  const auto w = mean_curve(seeds, &StudyRow::weight_right);
  if (w.empty()) return;
  PlotSpec p;
  p.title = fmt::format("learned mass on x > 0 (definition (a), t0 = {})", s.kl.t0);
  p.xlabel = "epoch";
  p.ylabel = "weight of the right mode";
  p.yrange = std::pair{0.0, 1.0};
  const auto [x, y, lo, hi] = curve_columns(w);
  if (seeds.size() > 1) p.series.push_back(Series::band("range over seeds", x, lo, hi));
  p.series.push_back(Series::line("mean", x, y));
  p.series.push_back(Series::hline("target 1/2", 0.5));
  out.plot("weights", std::move(p));
}

// Learned densities over the target at several epochs (seed 0), like Li2023 Fig. 4.
void densities_plot(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out) {
  if (seeds.empty() || seeds[0].snapshots.empty()) return;
  PanelGrid g;
  g.title = "learned densities over the target (seed 0)";
  g.panels = density_panels(seeds[0], s.target_mu + 4 * std::sqrt(s.target_var), "", true);
  g.cols = std::min<int>(3, static_cast<int>(g.panels.size()));
  g.rows = static_cast<int>((g.panels.size() + static_cast<std::size_t>(g.cols) - 1) / static_cast<std::size_t>(g.cols));
  out.plot("densities", std::move(g));
}

// The memorizer's level of a sample measure (memorization.memorizer).
Series memorizer_line(const std::vector<SeedResult>& seeds, double MemorizationBaseline::*field, int digits) {
  const double v = baseline_spread(seeds, field, true).mean;
  return colored(Series::hline(fmt::format("memorizer {}", format_significant(v, digits)), v), "dark-red");
}

PlotSpec nn_ratio_panel(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  const bool with_baseline = s.has_target(), with_memorizer = with_baseline && s.memorization_memorizer;
  PlotSpec p;
  p.title = fmt::format("nearest-neighbour ratio < {}", format_significant(s.memorization.ratio_threshold, 3));
  p.xlabel = "epoch";
  p.ylabel = "fraction of samples";
  const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, &StudyRow::memorized_fraction));
  if (seeds.size() > 1) p.series.push_back(Series::band("", x, lo, hi));
  p.series.push_back(Series::line_points("generated", x, y));
  if (with_baseline) {
    const double b = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction).mean;
    p.series.push_back(Series::hline(fmt::format("fresh target samples {}", format_significant(b, 3)), b));
  }
  if (with_memorizer) {
    p.series.push_back(memorizer_line(seeds, &MemorizationBaseline::memorized_fraction, 3));
    p.key = "bottom right";  // the memorizer's line runs along the top
  }
  double top = with_memorizer ? baseline_spread(seeds, &MemorizationBaseline::memorized_fraction, true).mean : 0.0;
  for (const auto* v : {&y, &hi})
    for (double u : *v)
      if (std::isfinite(u)) top = std::max(top, u);
  p.yrange = std::pair{0.0, std::max(1.05 * top, 0.5)};
  return p;
}

PlotSpec distance_panel(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  PlotSpec d;
  d.title = "mean distance to the nearest point";
  d.xlabel = "epoch";
  d.ylabel = "distance";
  d.logy = true;
  const auto t = curve_columns(mean_curve(seeds, &StudyRow::nn_distance));
  d.series.push_back(Series::line_points("generated to training set", t.x, t.y));
  if (s.has_target()) {
    const auto f = curve_columns(mean_curve(seeds, &StudyRow::nn_distance_fresh));
    d.series.push_back(Series::line_points("generated to fresh set", f.x, f.y));
    const double bt = baseline_spread(seeds, &MemorizationBaseline::nn_distance).mean;
    const double bf = baseline_spread(seeds, &MemorizationBaseline::nn_distance_fresh).mean;
    d.series.push_back(Series::hline(fmt::format("fresh to training set {}", format_significant(bt, 2)), bt));
    d.series.push_back(
        colored(Series::hline(fmt::format("fresh to fresh set {}", format_significant(bf, 2)), bf), "dark-green"));
    if (s.memorization_memorizer) d.series.push_back(memorizer_line(seeds, &MemorizationBaseline::nn_distance, 2));
  }
  return d;
}

PlotSpec closer_panel(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  PlotSpec c;
  c.title = "nearer to the training set than to a fresh set";
  c.xlabel = "epoch";
  c.ylabel = "fraction of samples";
  c.yrange = std::pair{0.0, 1.0};
  const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, &StudyRow::closer_to_train));
  if (seeds.size() > 1) c.series.push_back(Series::band("", x, lo, hi));
  c.series.push_back(Series::line_points("generated", x, y));
  const double b = baseline_spread(seeds, &MemorizationBaseline::closer_to_train).mean;
  c.series.push_back(Series::hline(fmt::format("fresh target samples {}", format_significant(b, 3)), b));
  if (s.memorization_memorizer) {
    c.series.push_back(memorizer_line(seeds, &MemorizationBaseline::closer_to_train, 3));
    c.key = "bottom right";
  }
  return c;
}

// Memorization of generated samples, beside fresh target samples (the baseline).
void memorization_plot(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out) {
  if (mean_curve(seeds, &StudyRow::memorized_fraction).empty()) return;
  PanelGrid g;
  g.title = "memorization of generated samples";
  g.cols = s.has_target() ? 3 : 2;
  g.width = 520 * g.cols;
  g.height = 450;
  g.panels.push_back(nn_ratio_panel(seeds, s));
  g.panels.push_back(distance_panel(seeds, s));
  if (s.has_target()) g.panels.push_back(closer_panel(seeds, s));
  out.plot("memorization", std::move(g));
}

void loss_plot(const std::vector<SeedResult>& seeds, RunWriter& out) {
  PlotSpec p;
  p.title = "denoising loss (epoch mean)";
  p.xlabel = "epoch";
  p.ylabel = "loss";
  const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, &StudyRow::train_loss));
  if (x.empty()) return;
  if (seeds.size() > 1) p.series.push_back(Series::band("range over seeds", x, lo, hi));
  p.series.push_back(Series::line("mean", x, y));
  out.plot("loss", std::move(p));
}

}  // namespace

void add_study_plots(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out) {
  if (s.has_target()) kl_plot(seeds, s, out);
  if (s.has_kl_small()) kl_small_plot(seeds, s, out);
  weights_plot(seeds, s, out);
  densities_plot(seeds, s, out);
  memorization_plot(seeds, s, out);
  loss_plot(seeds, out);
}

}  // namespace diffgen
