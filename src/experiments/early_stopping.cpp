#include "experiments/early_stopping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <system_error>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "experiments/checkpoint.hpp"
#include "experiments/training_study.hpp"
#include "numerics/statistics.hpp"
#include "report/plot.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Json = nlohmann::json;

// What one seed says about one KL definition: the minimum along training,
// where it was reached, and the value at the end.
struct CurveFacts {
  double min = kNaN;
  Index epoch_of_min = -1;
  double final = kNaN;
};

CurveFacts curve_facts(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  CurveFacts f;
  for (const auto& r : rows) {
    const double v = r.*metric;
    if (!std::isfinite(v)) continue;
    if (!std::isfinite(f.min) || v < f.min) {
      f.min = v;
      f.epoch_of_min = r.epoch;
    }
    f.final = v;
  }
  return f;
}

// Per evaluated epoch, the spread of a metric over the seeds that reached it.
struct CurvePoint {
  Index epoch;
  Spread spread;
};

// As mean_curve below, for a value computed from each row.
template <class F>
std::vector<CurvePoint> mean_curve_of(const std::vector<SeedResult>& seeds, F&& value) {
  Index longest = 0;
  for (const auto& s : seeds) longest = std::max<Index>(longest, static_cast<Index>(s.rows.size()));
  std::vector<CurvePoint> curve;
  for (Index i = 0; i < longest; ++i) {
    std::vector<double> values;
    Index epoch = -1;
    for (const auto& s : seeds)
      if (i < static_cast<Index>(s.rows.size())) {
        values.push_back(value(s.rows[i]));
        epoch = s.rows[i].epoch;
      }
    const Spread sp = spread(values);
    if (sp.count > 0) curve.push_back({epoch, sp});
  }
  return curve;
}

std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  return mean_curve_of(seeds, [metric](const StudyRow& r) { return r.*metric; });
}

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

Json spread_json(const Spread& s) {
  if (s.count == 0) return Json{{"count", 0}, {"mean", nullptr}};
  return Json{{"count", s.count}, {"mean", s.mean}, {"sd", s.sd}, {"ci95", s.ci95}, {"min", s.min}, {"max", s.max}};
}

std::vector<double> facts_field(const std::vector<CurveFacts>& f, double CurveFacts::*field) {
  std::vector<double> v;
  for (const auto& x : f) v.push_back(x.*field);
  return v;
}

Json definition_json(const std::vector<SeedResult>& seeds, double StudyRow::*metric, const std::string& what) {
  std::vector<CurveFacts> facts;
  for (const auto& s : seeds) facts.push_back(curve_facts(s.rows, metric));
  std::vector<double> epochs;
  for (const auto& f : facts) epochs.push_back(f.epoch_of_min >= 0 ? static_cast<double>(f.epoch_of_min) : kNaN);
  Json j{{"definition", what},
         {"min", spread_json(spread(facts_field(facts, &CurveFacts::min)))},
         {"epoch_of_min", spread_json(spread(epochs))},
         {"final", spread_json(spread(facts_field(facts, &CurveFacts::final)))}};
  // The minimum of the seed-mean curve: the early-stopping point a reader of the plot sees.
  const auto curve = mean_curve(seeds, metric);
  const auto best = std::min_element(curve.begin(), curve.end(), [](const CurvePoint& a, const CurvePoint& b) {
    return a.spread.mean < b.spread.mean;
  });
  if (best != curve.end()) {
    j["mean_curve"] = {{"min", best->spread.mean},
                       {"epoch_of_min", best->epoch},
                       {"final", curve.back().spread.mean},
                       {"final_epoch", curve.back().epoch}};
  }
  Json per_seed = Json::array();
  for (std::size_t k = 0; k < facts.size(); ++k) {
    Json e{{"seed", seeds[k].seed_index}};
    e["min"] = std::isfinite(facts[k].min) ? Json(facts[k].min) : Json(nullptr);
    e["epoch_of_min"] = facts[k].epoch_of_min >= 0 ? Json(facts[k].epoch_of_min) : Json(nullptr);
    e["final"] = std::isfinite(facts[k].final) ? Json(facts[k].final) : Json(nullptr);
    per_seed.push_back(e);
  }
  j["per_seed"] = per_seed;
  return j;
}

Spread floor_spread(const std::vector<SeedResult>& seeds, double OracleFloors::*field) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back(s.floors.*field);
  return spread(v);
}

// Over seeds, a field of the fresh-sample baseline (or of the memorizer's samples).
Spread baseline_spread(const std::vector<SeedResult>& seeds, double MemorizationBaseline::*field,
                       bool memorizer = false) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back((memorizer ? s.memorization_memorizer : s.memorization_baseline).*field);
  return spread(v);
}

// Per seed, the last finite value of `metric` minus the seed's baseline.
std::vector<double> final_minus(const std::vector<SeedResult>& seeds, double StudyRow::*metric,
                                double StudyRow::*reference) {
  std::vector<double> v;
  for (const auto& s : seeds) {
    double d = kNaN;
    for (const auto& r : s.rows)
      if (std::isfinite(r.*metric) && std::isfinite(r.*reference)) d = r.*metric - r.*reference;
    v.push_back(d);
  }
  return v;
}

// The mean over the seeds of the last finite value of `metric`.
Spread final_spread(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back(curve_facts(s.rows, metric).final);
  return spread(v);
}

std::string pm(const Spread& s, int digits = 3) {
  if (s.count == 0) return "-";
  if (s.count < 2) return format_significant(s.mean, digits);
  return format_significant(s.mean, digits) + " ± " + format_significant(s.sd, 2);
}

void write_metrics(const std::vector<SeedResult>& seeds, const std::filesystem::path& dir) {
  // The first eight columns as before the memorization measures; theirs follow.
  CsvTable t({"seed", "epoch", "steps", "train_loss", "kl_a", "kl_b", "memorized_fraction", "nn_distance", "kl_a_small",
              "kl_emp_a", "kl_emp_a_small", "weight_right", "memorized_baseline", "nn_distance_fresh",
              "closer_to_train"});
  // Missing means "not evaluated at this epoch" (KL (b) every kl_ode.every
  // epochs, no training loss before the first epoch, no KL without a target,
  // no baseline without a target).
  for (const char* c : {"train_loss", "kl_a", "kl_b", "memorized_fraction", "nn_distance", "kl_a_small", "kl_emp_a",
                        "kl_emp_a_small", "weight_right", "memorized_baseline", "nn_distance_fresh", "closer_to_train"})
    t.allow_missing(c);
  for (const auto& s : seeds)
    for (const auto& r : s.rows)
      t.add_row({s.seed_index, r.epoch, r.steps, r.train_loss, r.kl_a, r.kl_b, r.memorized_fraction, r.nn_distance,
                 r.kl_a_small, r.kl_emp_a, r.kl_emp_a_small, r.weight_right, r.memorized_baseline, r.nn_distance_fresh,
                 r.closer_to_train});
  t.write(dir / "metrics.csv");
}

void write_densities(const std::vector<SeedResult>& seeds, const std::filesystem::path& dir) {
  CsvTable t({"seed", "epoch", "definition", "x", "target_density", "learned_density"});
  for (const auto& s : seeds)
    for (const auto& snap : s.snapshots) {
      // Every node of the (b) grid; the fine (a) grid thinned to at most ~600 nodes.
      const Index stride = std::max<Index>(1, (snap.x.size() - 1) / 600);
      for (Index i = 0; i < snap.x.size(); i += stride)
        t.add_row({s.seed_index, snap.epoch, "score-integrated", snap.x[i], std::exp(snap.log_p[i]),
                   std::exp(snap.log_q_a[i])});
      for (Index i = 0; i < snap.x_b.size(); ++i) {
        // The reference density at the (b) nodes, from the (a) grid when they coincide.
        const double h = snap.x[1] - snap.x[0];
        const Index j = static_cast<Index>(std::llround((snap.x_b[i] - snap.x[0]) / h));
        const double p =
            (j >= 0 && j < snap.x.size() && std::abs(snap.x[j] - snap.x_b[i]) < 1e-9 * (1 + std::abs(snap.x_b[i])))
                ? std::exp(snap.log_p[j])
                : kNaN;
        t.add_row({s.seed_index, snap.epoch, "pf-ode", snap.x_b[i], CsvCell::finite_or_missing(p),
                   std::exp(snap.log_q_b[i])});
      }
    }
  t.write(dir / "densities.csv");
}

std::vector<double> to_std(const Vector& v) {
  return std::vector<double>(v.data(), v.data() + v.size());
}

// Plots to render, in report order. gnuplot runs as a separate process per
// plot, so they are rendered side by side on all cores.
class PlotQueue {
 public:
  template <class Spec>
  void add(Spec spec, std::filesystem::path png, std::string name) {
    jobs_.push_back({std::move(name), [spec = std::move(spec), png = std::move(png)] { render_png(spec, png); }});
  }
  // Renders every plot; returns the names written, in order. A plotting
  // failure is reported and the run's other outputs stand.
  std::vector<std::string> render(std::vector<std::string>& warnings) {
    std::vector<std::string> errors(jobs_.size());
    parallel_tasks(static_cast<Index>(jobs_.size()), [&](Index i) {
      try {
        jobs_[i].render();
      } catch (const std::exception& e) {
        errors[i] = e.what();
        if (errors[i].empty()) errors[i] = "unknown error";
      }
    });
    std::vector<std::string> written;
    for (std::size_t i = 0; i < jobs_.size(); ++i) {
      if (errors[i].empty())
        written.push_back(jobs_[i].name);
      else
        warnings.push_back(fmt::format("plot {} not written: {}",
                                       std::filesystem::path(jobs_[i].name).filename().string(), errors[i]));
    }
    return written;
  }

 private:
  struct Job {
    std::string name;
    std::function<void()> render;
  };
  std::vector<Job> jobs_;
};

std::vector<std::string> write_plots(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                                     const std::filesystem::path& dir, std::vector<std::string>& warnings) {
  PlotQueue queue;
  std::filesystem::create_directories(dir / "plots");
  const bool several = seeds.size() > 1;

  // KL against epoch, the seeds' range as a band, the oracle floors as lines.
  if (s.has_target()) {
    PlotSpec p;
    p.title = fmt::format("KL(target || learned) along training ({} seed{})", seeds.size(), several ? "s" : "");
    p.xlabel = "epoch";
    p.ylabel = "KL";
    p.logy = true;
    const auto a = mean_curve(seeds, &StudyRow::kl_a);
    const auto [x, y, lo, hi] = curve_columns(a);
    if (several) p.series.push_back(Series::band("(a) range over seeds", x, lo, hi));
    p.series.push_back(Series::line(fmt::format("(a) score-integrated, t0 = {}", s.kl.t0), x, y));
    const auto b = mean_curve(seeds, &StudyRow::kl_b);
    if (!b.empty()) {
      std::vector<double> xb, yb;
      for (const auto& c : b) {
        xb.push_back(static_cast<double>(c.epoch));
        yb.push_back(c.spread.mean);
      }
      p.series.push_back(Series::line_points("(b) PF-ODE density", xb, yb));
    }
    // A log axis fitted to the data and the floors (gnuplot's own rounds out to whole decades and beyond).
    double y_lo = std::min(floor_spread(seeds, &OracleFloors::population_a).mean,
                           floor_spread(seeds, &OracleFloors::empirical_a).mean);
    double y_hi = y_lo;
    for (const auto& sr : p.series)
      for (const auto* v : {&sr.y, &sr.lo, &sr.hi})
        for (double y : *v)
          if (std::isfinite(y) && y > 0) {
            y_lo = std::min(y_lo, y);
            y_hi = std::max(y_hi, y);
          }
    if (std::isfinite(y_lo) && y_lo > 0) p.yrange = std::pair{y_lo / 2, y_hi * 3};
    p.series.push_back(
        Series::hline(fmt::format("population oracle (a) {}",
                                  format_significant(floor_spread(seeds, &OracleFloors::population_a).mean, 3)),
                      floor_spread(seeds, &OracleFloors::population_a).mean));
    auto emp = Series::hline(fmt::format("empirical oracle (a) {}",
                                         format_significant(floor_spread(seeds, &OracleFloors::empirical_a).mean, 3)),
                             floor_spread(seeds, &OracleFloors::empirical_a).mean);
    emp.color = "dark-red";
    p.series.push_back(emp);
    queue.add(std::move(p), dir / "plots" / "kl.png", "plots/kl.png");
  }

  // At the smaller t0: the learned density's KL to the target and to the
  // empirical oracle's density, with what a perfect learner and a memorizer
  // score; and their difference, > 0 toward the target, < 0 toward the training set.
  if (s.has_kl_small()) {
    PanelGrid g;
    g.rows = 1;
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
    p.key = "top right";
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
    double y_lo = std::min({pop, pop_emp, emp}), y_hi = std::max({pop, pop_emp, emp});
    for (const auto& sr : p.series)
      for (const auto* v : {&sr.y, &sr.lo, &sr.hi})
        for (double y : *v)
          if (std::isfinite(y) && y > 0) {
            y_lo = std::min(y_lo, y);
            y_hi = std::max(y_hi, y);
          }
    if (std::isfinite(y_lo) && y_lo > 0) p.yrange = std::pair{y_lo / 2, y_hi * 3};
    p.series.push_back(
        Series::hline(fmt::format("perfect learner: to the target {}", format_significant(pop, 2)), pop));
    auto pe = Series::hline(fmt::format("perfect learner: to the empirical density {}", format_significant(pop_emp, 2)),
                            pop_emp);
    pe.color = "dark-green";
    p.series.push_back(pe);
    auto me = Series::hline(fmt::format("memorizer: to the target {}", format_significant(emp, 2)), emp);
    me.color = "dark-red";
    p.series.push_back(me);
    g.panels.push_back(p);

    PlotSpec d;
    d.title = "KL(empirical || learned) - KL(target || learned)";
    d.xlabel = "epoch";
    d.ylabel = "difference";
    const auto [x, y, lo, hi] =
        curve_columns(mean_curve_of(seeds, [](const StudyRow& r) { return r.kl_emp_a_small - r.kl_a_small; }));
    if (several) d.series.push_back(Series::band("", x, lo, hi));
    d.series.push_back(Series::line("learned", x, y));
    auto pl = Series::hline(fmt::format("perfect learner {}", format_significant(pop_emp - pop, 2)), pop_emp - pop);
    pl.color = "dark-green";
    d.series.push_back(pl);
    d.series.push_back(Series::hline("0", 0.0));
    auto mz = Series::hline(fmt::format("memorizer {}", format_significant(-emp, 2)), -emp);
    mz.color = "dark-red";
    d.series.push_back(mz);
    g.panels.push_back(d);
    queue.add(std::move(g), dir / "plots" / "kl_small.png", "plots/kl_small.png");
  }

  // The learned weight of the right mode against the target's ½ (Li2023 Figs. 4–5).
  if (const auto w = mean_curve(seeds, &StudyRow::weight_right); !w.empty()) {
    PlotSpec p;
    p.title = fmt::format("learned mass on x > 0 (definition (a), t0 = {})", s.kl.t0);
    p.xlabel = "epoch";
    p.ylabel = "weight of the right mode";
    p.yrange = std::pair{0.0, 1.0};
    const auto [x, y, lo, hi] = curve_columns(w);
    if (several) p.series.push_back(Series::band("range over seeds", x, lo, hi));
    p.series.push_back(Series::line("mean", x, y));
    p.series.push_back(Series::hline("target 1/2", 0.5));
    queue.add(std::move(p), dir / "plots" / "weights.png", "plots/weights.png");
  }

  // Learned densities over the target at several epochs (seed 0), like Li2023 Fig. 4.
  if (!seeds.empty() && !seeds[0].snapshots.empty()) {
    const auto& snaps = seeds[0].snapshots;
    PanelGrid g;
    g.title = "learned densities over the target (seed 0)";
    g.cols = std::min<int>(3, static_cast<int>(snaps.size()));
    g.rows = static_cast<int>((snaps.size() + g.cols - 1) / g.cols);
    for (const auto& snap : snaps) {
      PlotSpec p;
      p.title = fmt::format("epoch {}", snap.epoch);
      p.xlabel = "x";
      p.ylabel = "density";
      p.xrange = std::pair{-(s.target_mu + 4 * std::sqrt(s.target_var)), s.target_mu + 4 * std::sqrt(s.target_var)};
      p.key = snap.epoch == snaps.front().epoch ? "top right" : "off";
      auto target = Series::line("target", to_std(snap.x), to_std(snap.log_p.array().exp()));
      target.color = "black";
      p.series.push_back(target);
      p.series.push_back(Series::line("(a)", to_std(snap.x), to_std(snap.log_q_a.array().exp())));
      if (snap.x_b.size() > 0)
        p.series.push_back(Series::line("(b) PF-ODE", to_std(snap.x_b), to_std(snap.log_q_b.array().exp())));
      g.panels.push_back(p);
    }
    queue.add(std::move(g), dir / "plots" / "densities.png", "plots/densities.png");
  }

  // Memorization of generated samples, beside fresh target samples (the baseline).
  if (const auto m = mean_curve(seeds, &StudyRow::memorized_fraction); !m.empty()) {
    PanelGrid g;
    g.title = "memorization of generated samples";
    g.rows = 1;
    g.cols = s.has_target() ? 3 : 2;
    g.width = 520 * g.cols;
    g.height = 450;
    const bool with_baseline = s.has_target();
    PlotSpec p;
    p.title = fmt::format("nearest-neighbour ratio < {}", format_significant(s.memorization.ratio_threshold, 3));
    p.xlabel = "epoch";
    p.ylabel = "fraction of samples";
    const auto [x, y, lo, hi] = curve_columns(m);
    if (several) p.series.push_back(Series::band("", x, lo, hi));
    p.series.push_back(Series::line_points("generated", x, y));
    if (with_baseline) {
      const double b = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction).mean;
      p.series.push_back(Series::hline(fmt::format("fresh target samples {}", format_significant(b, 3)), b));
    }
    // The memorizer's level, when measured (memorization.memorizer).
    const auto memorizer_line = [&](double MemorizationBaseline::*field, int digits) {
      const double v = baseline_spread(seeds, field, true).mean;
      auto h = Series::hline(fmt::format("memorizer {}", format_significant(v, digits)), v);
      h.color = "dark-red";
      return h;
    };
    const bool with_memorizer = with_baseline && s.memorization_memorizer;
    if (with_memorizer) {
      p.series.push_back(memorizer_line(&MemorizationBaseline::memorized_fraction, 3));
      p.key = "bottom right";  // the memorizer's line runs along the top
    }
    double top = with_memorizer ? baseline_spread(seeds, &MemorizationBaseline::memorized_fraction, true).mean : 0.0;
    for (const auto* v : {&y, &hi})
      for (double u : *v)
        if (std::isfinite(u)) top = std::max(top, u);
    p.yrange = std::pair{0.0, std::max(1.05 * top, 0.5)};
    g.panels.push_back(p);

    PlotSpec d;
    d.title = "mean distance to the nearest point";
    d.xlabel = "epoch";
    d.ylabel = "distance";
    d.logy = true;
    {
      const auto [xt, yt, lot, hit] = curve_columns(mean_curve(seeds, &StudyRow::nn_distance));
      d.series.push_back(Series::line_points("generated to training set", xt, yt));
    }
    if (with_baseline) {
      const auto [xf, yf, lof, hif] = curve_columns(mean_curve(seeds, &StudyRow::nn_distance_fresh));
      d.series.push_back(Series::line_points("generated to fresh set", xf, yf));
      const double bt = baseline_spread(seeds, &MemorizationBaseline::nn_distance).mean;
      const double bf = baseline_spread(seeds, &MemorizationBaseline::nn_distance_fresh).mean;
      d.series.push_back(Series::hline(fmt::format("fresh to training set {}", format_significant(bt, 2)), bt));
      auto h = Series::hline(fmt::format("fresh to fresh set {}", format_significant(bf, 2)), bf);
      h.color = "dark-green";
      d.series.push_back(h);
    }
    if (with_memorizer) d.series.push_back(memorizer_line(&MemorizationBaseline::nn_distance, 2));
    g.panels.push_back(d);

    if (with_baseline) {
      PlotSpec c;
      c.title = "nearer to the training set than to a fresh set";
      c.xlabel = "epoch";
      c.ylabel = "fraction of samples";
      c.yrange = std::pair{0.0, 1.0};
      const auto [xc, yc, loc, hic] = curve_columns(mean_curve(seeds, &StudyRow::closer_to_train));
      if (several) c.series.push_back(Series::band("", xc, loc, hic));
      c.series.push_back(Series::line_points("generated", xc, yc));
      const double b = baseline_spread(seeds, &MemorizationBaseline::closer_to_train).mean;
      c.series.push_back(Series::hline(fmt::format("fresh target samples {}", format_significant(b, 3)), b));
      if (with_memorizer) {
        c.series.push_back(memorizer_line(&MemorizationBaseline::closer_to_train, 3));
        c.key = "bottom right";
      }
      g.panels.push_back(c);
    }
    queue.add(std::move(g), dir / "plots" / "memorization.png", "plots/memorization.png");
  }

  // Training loss.
  {
    PlotSpec p;
    p.title = "denoising loss (epoch mean)";
    p.xlabel = "epoch";
    p.ylabel = "loss";
    const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, &StudyRow::train_loss));
    if (!x.empty()) {
      if (several) p.series.push_back(Series::band("range over seeds", x, lo, hi));
      p.series.push_back(Series::line("mean", x, y));
      queue.add(std::move(p), dir / "plots" / "loss.png", "plots/loss.png");
    }
  }
  return queue.render(warnings);
}

// The table of results against epoch: every `every` epochs, the last, and the
// epoch of the KL (a) mean curve's minimum; a column for each measure taken.
Table results_table(const std::vector<SeedResult>& seeds, Index every, const TrainingStudySettings& s) {
  const auto a = mean_curve(seeds, &StudyRow::kl_a);
  const auto b = mean_curve(seeds, &StudyRow::kl_b);
  const auto a_small = mean_curve(seeds, &StudyRow::kl_a_small);
  // The KL from the empirical density at t0_small where it is measured, else at t0.
  const auto emp = mean_curve(seeds, s.has_kl_small() ? &StudyRow::kl_emp_a_small : &StudyRow::kl_emp_a);
  const auto weight = mean_curve(seeds, &StudyRow::weight_right);
  const auto mem = mean_curve(seeds, &StudyRow::memorized_fraction);
  const auto d_train = mean_curve(seeds, &StudyRow::nn_distance);
  const auto d_fresh = mean_curve(seeds, &StudyRow::nn_distance_fresh);
  const auto closer = mean_curve(seeds, &StudyRow::closer_to_train);
  const auto loss = mean_curve(seeds, &StudyRow::train_loss);
  Index best = -1;
  double best_v = kNaN;
  for (const auto& c : a)
    if (!std::isfinite(best_v) || c.spread.mean < best_v) {
      best_v = c.spread.mean;
      best = c.epoch;
    }
  auto find = [](const std::vector<CurvePoint>& curve, Index epoch) -> const Spread* {
    for (const auto& c : curve)
      if (c.epoch == epoch) return &c.spread;
    return nullptr;
  };
  const bool several = seeds.size() > 1;
  struct Column {
    std::string name;
    const std::vector<CurvePoint>* curve;
    bool with_sd;
  };
  const std::string small = fmt::format("t0 = {}", s.has_kl_small() ? s.kl_small.t0 : s.kl.t0);
  std::vector<Column> columns;
  if (!a.empty()) columns.push_back({"KL (a)", &a, several});
  if (!b.empty()) columns.push_back({"KL (b)", &b, several});
  if (!a_small.empty()) columns.push_back({"KL (a) " + small, &a_small, false});
  if (!emp.empty()) columns.push_back({"KL p_emp→(a) " + small, &emp, false});
  if (!weight.empty()) columns.push_back({"weight x>0", &weight, false});
  if (!mem.empty()) columns.push_back({"memorized", &mem, false});
  if (!d_train.empty()) columns.push_back({"d train", &d_train, false});
  if (!d_fresh.empty()) columns.push_back({"d fresh", &d_fresh, false});
  if (!closer.empty()) columns.push_back({"nearer train", &closer, false});
  columns.push_back({"train loss", &loss, false});
  std::vector<std::string> header{"epoch"};
  for (const auto& c : columns) {
    header.push_back(c.name);
    if (c.with_sd) header.push_back("± sd");
  }
  header.push_back("");
  Table t(header);
  // The epochs of the longest seed: every measure is taken on a subset of them.
  const SeedResult* longest = nullptr;
  for (const auto& sr : seeds)
    if (!longest || sr.rows.size() > longest->rows.size()) longest = &sr;
  if (!longest) return t;
  for (const auto& r : longest->rows) {
    const bool last = &r == &longest->rows.back();
    if (!(r.epoch % every == 0 || last || r.epoch == best)) continue;
    std::vector<TableCell> row{r.epoch};
    bool any = false;
    for (const auto& c : columns) {
      const Spread* sp = find(*c.curve, r.epoch);
      any = any || (sp && c.curve != &loss);
      row.push_back(sp ? TableCell(sp->mean) : TableCell(""));
      if (c.with_sd) row.push_back(sp ? TableCell(sp->sd) : TableCell(""));
    }
    if (!any && !last && r.epoch != 0) continue;
    row.push_back(r.epoch == best ? "<- min (a)" : "");
    t.add_row(std::move(row));
  }
  return t;
}

std::string headline(const Json& def, const char* label) {
  if (!def.contains("mean_curve")) return fmt::format("{}: not evaluated", label);
  const auto& m = def["mean_curve"];
  return fmt::format("{}: minimum {} at epoch {}, final {} at epoch {}", label,
                     format_significant(m["min"].get<double>(), 4), m["epoch_of_min"].get<Index>(),
                     format_significant(m["final"].get<double>(), 4), m["final_epoch"].get<Index>());
}

// Checkpoint files (seed-K.bin) and the temporary files a kill during a save
// leaves beside them (write_file_atomic's ".seed-K.bin.tmp.PID.N").
void remove_checkpoint_files(const std::filesystem::path& dir, bool checkpoints_too) {
  static const std::regex kCheckpoint(R"(seed-[0-9]+\.bin)"), kTemporary(R"(\.seed-[0-9]+\.bin\.tmp\..*)");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "checkpoints", ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, kTemporary) || (checkpoints_too && std::regex_match(name, kCheckpoint)))
      std::filesystem::remove(entry.path(), ec);
  }
}

// Each seed's checkpoint, checked against this run's settings before any work
// starts; a seed without one starts from scratch.
std::vector<std::optional<StudyCheckpoint>> load_checkpoints(const std::string& experiment, const Config& config,
                                                             const TrainingStudySettings& settings,
                                                             const std::filesystem::path& dir, Index K) {
  std::vector<std::optional<StudyCheckpoint>> loaded(K);
  for (Index k = 0; k < K; ++k) {
    const auto file = checkpoint_path(dir, k);
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) continue;
    StudyCheckpoint c = load_checkpoint(file);
    check_checkpoint_matches(c, file, experiment, config, K, k);
    check_resumable(c, settings, file);
    loaded[k] = std::move(c);
  }
  return loaded;
}

std::string signal_text(int sig) {
  if (sig == SIGINT) return "by Ctrl-C (SIGINT)";
  if (sig == SIGTERM) return "by SIGTERM";
  return "on request";
}

// The three memorization measures of THEORY.md §8 at the last epoch (seed
// means), each with its reference values and what it points to: JSON for
// summary.json and one Markdown line per measure for report.md.
struct Reading {
  Json json = Json::object();
  std::vector<std::string> lines;
};

Reading memorization_reading(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  Reading r;
  if (!s.has_target()) return r;
  // (1) KL to the target vs KL to the empirical oracle's density, at t0_small when measured.
  const bool small = s.has_kl_small();
  const double t0 = small ? s.kl_small.t0 : s.kl.t0;
  const Spread kt = final_spread(seeds, small ? &StudyRow::kl_a_small : &StudyRow::kl_a);
  const Spread ke = final_spread(seeds, small ? &StudyRow::kl_emp_a_small : &StudyRow::kl_emp_a);
  const double pop = floor_spread(seeds, small ? &OracleFloors::population_a_small : &OracleFloors::population_a).mean;
  const double pop_emp =
      floor_spread(seeds, small ? &OracleFloors::population_emp_a_small : &OracleFloors::population_emp_a).mean;
  const double emp = floor_spread(seeds, small ? &OracleFloors::empirical_a_small : &OracleFloors::empirical_a).mean;
  if (kt.count > 0 && ke.count > 0) {
    // D = KL(p_emp ‖ q) - KL(p_0 ‖ q) = const - ∫ (p_emp - p_0) log q falls as
    // log q follows the bumps the training points put in p_emp: on the scale
    // from the perfect learner's D (index 0) to the memorizer's (index 1),
    // below ½ is the generalizing side. It is read only when q is nearer the
    // target than the memorizer is: a density far from both (an untrained
    // network, KL ~ 1) lands anywhere on that scale through its tails.
    const double d = ke.mean - kt.mean, d_learner = pop_emp - pop, d_memorizer = -emp;
    const double index = (d_learner - d) / (d_learner - d_memorizer);
    const bool readable = kt.mean <= emp;
    const bool generalizing = index < 0.5;
    r.json["kl"] = {{"t0", t0},
                    {"to_target", kt.mean},
                    {"to_empirical_density", ke.mean},
                    {"perfect_learner", {{"to_target", pop}, {"to_empirical_density", pop_emp}}},
                    {"memorizer", {{"to_target", emp}, {"to_empirical_density", 0.0}}},
                    {"difference", d},
                    {"memorization_index", index},
                    {"points_to", !readable      ? "inconclusive"
                                  : generalizing ? "generalization"
                                                 : "memorization"}};
    std::string line = fmt::format(
        "KL at t0 = {}: to the target {}, to the empirical density {}; their difference D = {} (a perfect learner "
        "{}, the memorizer {}) puts the learned density at {} on the scale from the perfect learner (0) to the "
        "memorizer (1)",
        t0, format_significant(kt.mean, 3), format_significant(ke.mean, 3), format_significant(d, 2),
        format_significant(d_learner, 2), format_significant(d_memorizer, 2), format_significant(index, 2));
    line += readable ? fmt::format(": the {} side.", generalizing ? "generalizing" : "memorizing")
                     : fmt::format(
                           ". Inconclusive here: its KL to the target is above even the memorizer's ({}), so its "
                           "large-scale errors (mode weights, tails) move D as much as memorization would.",
                           format_significant(emp, 2));
    r.lines.push_back(line);
  }
  if (s.memorization_every <= 0) return r;
  // (2) the nearest-neighbour-ratio fraction against fresh target samples; binomial standard errors.
  const auto excess = final_minus(seeds, &StudyRow::memorized_fraction, &StudyRow::memorized_baseline);
  const Spread ex = spread(excess);
  const Spread base = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction);
  const Spread frac = final_spread(seeds, &StudyRow::memorized_fraction);
  if (ex.count > 0) {
    const double m = static_cast<double>(s.memorization_samples);
    double var = 0.0;
    for (const auto& sr : seeds) {
      const double f = curve_facts(sr.rows, &StudyRow::memorized_fraction).final;
      const double b = sr.memorization_baseline.memorized_fraction;
      if (std::isfinite(f) && std::isfinite(b)) var += (f * (1 - f) + b * (1 - b)) / m;
    }
    const double se = std::sqrt(var) / ex.count;
    const std::string where = std::abs(ex.mean) <= 2 * se
                                  ? std::string("at the baseline (no more near-copies than fresh samples)")
                                  : fmt::format("{} SE {} the baseline ({} near-copies than fresh samples)",
                                                format_significant(std::abs(ex.mean) / se, 2),
                                                ex.mean > 0 ? "above" : "below", ex.mean > 0 ? "more" : "fewer");
    r.json["nn_ratio"] = {{"fraction", frac.mean},
                          {"baseline", base.mean},
                          {"excess", ex.mean},
                          {"excess_se", se},
                          {"points_to", std::abs(ex.mean) <= 2 * se ? "generalization"
                                        : ex.mean > 0               ? "memorization"
                                                                    : "neither"}};
    std::string line = fmt::format(
        "Nearest-neighbour ratio < {}: {} of generated samples, {} of fresh target samples: excess {} ± {} (1 SE), "
        "{}.",
        format_significant(s.memorization.ratio_threshold, 3), format_significant(frac.mean, 3),
        format_significant(base.mean, 3), format_significant(ex.mean, 2), format_significant(se, 2), where);
    r.lines.push_back(line);
  }
  // (3) distances: mean distances to the training set and to a fresh set of
  // its size, and the fraction of samples nearer to the training set (½ for
  // samples independent of it, whatever the tails do to the means).
  const Spread closer = final_spread(seeds, &StudyRow::closer_to_train);
  const Spread bc = baseline_spread(seeds, &MemorizationBaseline::closer_to_train);
  if (closer.count > 0 && bc.count > 0) {
    // Against the fresh samples' value on the same two sets, not against ½:
    // the realizations of the training and fresh sets move both alike.
    double var = 0.0;
    for (const auto& sr : seeds) {
      const double f = curve_facts(sr.rows, &StudyRow::closer_to_train).final;
      const double b = sr.memorization_baseline.closer_to_train;
      if (std::isfinite(f) && std::isfinite(b))
        var += (f * (1 - f) + b * (1 - b)) / static_cast<double>(s.memorization_samples);
    }
    const double se = std::sqrt(var) / closer.count;
    const double dev = closer.mean - bc.mean;
    const Spread dt = final_spread(seeds, &StudyRow::nn_distance),
                 df = final_spread(seeds, &StudyRow::nn_distance_fresh);
    const Spread bt = baseline_spread(seeds, &MemorizationBaseline::nn_distance);
    const Spread bf = baseline_spread(seeds, &MemorizationBaseline::nn_distance_fresh);
    const Spread mc = baseline_spread(seeds, &MemorizationBaseline::closer_to_train, true);
    const bool at_baseline = std::abs(dev) <= 2 * se;
    r.json["distance"] = {{"closer_to_train", closer.mean},
                          {"baseline_closer_to_train", bc.mean},
                          {"excess", dev},
                          {"excess_se", se},
                          {"mean_to_train", dt.mean},
                          {"mean_to_fresh", df.mean},
                          {"baseline_mean_to_train", bt.mean},
                          {"baseline_mean_to_fresh", bf.mean},
                          {"points_to", at_baseline ? "generalization"
                                        : dev > 0   ? "memorization"
                                                    : "neither"}};
    std::string memorizer;
    if (mc.count > 0) {
      r.json["distance"]["memorizer_closer_to_train"] = mc.mean;
      memorizer = fmt::format("; the memorizer's {}", format_significant(mc.mean, 3));
      if (mc.mean > bc.mean)
        memorizer += fmt::format(", so the generated samples are {}% of the way from fresh samples to it",
                                 format_significant(100 * dev / (mc.mean - bc.mean), 2));
    }
    r.lines.push_back(fmt::format(
        "Nearer to the training set than to a fresh set of its size: {} of generated samples, {} of fresh target "
        "samples (½ in expectation): excess {} ± {} (1 SE), {}{}. Mean distances: {} to the training set and {} to "
        "the fresh set (fresh target samples: {} and {}).",
        format_significant(closer.mean, 3), format_significant(bc.mean, 3), format_significant(dev, 2),
        format_significant(se, 2),
        at_baseline
            ? std::string("at the baseline (no sign of copying)")
            : fmt::format("{} SE {} the baseline ({})", format_significant(std::abs(dev) / se, 2),
                          dev > 0 ? "above" : "below",
                          dev > 0 ? "nearer to the training set: a sign of copying" : "nearer to the fresh set"),
        memorizer, format_significant(dt.mean, 3), format_significant(df.mean, 3), format_significant(bt.mean, 3),
        format_significant(bf.mean, 3)));
  }
  // With memorization.memorizer: the memorizer's end of the fraction's scale.
  const Spread mem = baseline_spread(seeds, &MemorizationBaseline::memorized_fraction, true);
  if (mem.count > 0 && r.json.contains("nn_ratio")) {
    r.json["nn_ratio"]["memorizer"] = mem.mean;
    r.lines.push_back(fmt::format(
        "The empirical oracle's own samples (a perfect memorizer, same sampler) score a fraction {} against the "
        "baseline {}: the range of this measure at this n and sampler{}.",
        format_significant(mem.mean, 3), format_significant(base.mean, 3),
        mem.mean > base.mean && r.json["nn_ratio"].contains("excess")
            ? fmt::format(
                  "; the generated samples' excess is {}% of the memorizer's",
                  format_significant(100 * r.json["nn_ratio"]["excess"].get<double>() / (mem.mean - base.mean), 2))
            : std::string()));
  }
  return r;
}

}  // namespace

Schema EarlyStoppingExperiment::schema() const {
  Schema s;
  add_training_study_keys(s);
  return s;
}

void EarlyStoppingExperiment::validate(const Config& config) const {
  TrainingStudySettings::from_config(config);
}

void EarlyStoppingExperiment::run(const Config& config, const RunOptions& options) const {
  const auto wall_start = std::chrono::steady_clock::now();
  const TrainingStudySettings settings = TrainingStudySettings::from_config(config);
  const auto& dir = options.out_dir;
  const Index K = options.seeds;

  // A resume continues from the checkpoints (all checked before any work); a
  // fresh run drops any left in the folder by an earlier run.
  std::vector<std::optional<StudyCheckpoint>> resume(K);
  if (options.resume) {
    remove_checkpoint_files(dir, false);
    resume = load_checkpoints(name(), config, settings, dir, K);
  } else {
    remove_checkpoint_files(dir, true);
  }
  const std::string config_toml = config.to_toml();

  // Seeds are independent: run them on all cores. Inside a seed the work is
  // sequential, so results do not depend on the thread count.
  std::vector<SeedResult> seeds(K);
  ProgressBar bar(fmt::format("{} ({} seed{})", name(), K, K > 1 ? "s" : ""), K * training_study_work(settings),
                  options.progress && !options.quiet);
  parallel_tasks(K, [&](Index k) {
    StudyCheckpointing checkpointing{checkpoint_path(dir, k), name(), config_toml, K, std::move(resume[k])};
    seeds[k] = run_training_study(
        settings, k, [&](Index units) { bar.add(units); }, std::move(checkpointing));
  });
  bar.finish();

  // A stop request: every started seed has saved its state; the outputs need
  // all seeds, so they are left to the resumed run.
  Index saved = 0, interrupted = 0;
  for (const auto& s : seeds) {
    interrupted += s.interrupted ? 1 : 0;
    std::error_code ec;
    saved += std::filesystem::exists(checkpoint_path(dir, s.seed_index), ec) ? 1 : 0;
  }
  if (interrupted > 0)
    throw Interrupted(
        fmt::format("{} interrupted {} with {} of {} seed{} unfinished; checkpoints of {} seed{} are in {}", name(),
                    signal_text(interrupt_signal()), interrupted, K, K > 1 ? "s" : "", saved, saved == 1 ? "" : "s",
                    (dir / "checkpoints").string()));

  // Outputs, all written before any failure is reported.
  std::vector<std::string> warnings;
  write_metrics(seeds, dir);
  if (settings.has_target()) write_densities(seeds, dir);

  Json failures = Json::array();
  for (const auto& s : seeds)
    if (s.failure) failures.push_back({{"seed", s.seed_index}, {"epoch", s.failed_epoch}, {"message", *s.failure}});

  const std::string def_a =
      fmt::format("score-integrated density at t0 = {} ({}), against {} target", settings.kl.t0, settings.kl.method,
                  settings.kl.reference == "clean" ? "the clean" : "the smoothed");
  const std::string def_b = fmt::format("PF-ODE density at eps = {} (RK45, rtol {}, {} prior), against {} target",
                                        settings.kl_ode.ode.eps, settings.kl_ode.ode.rtol, settings.kl_ode.prior,
                                        settings.kl_ode.reference == "clean" ? "the clean" : "the smoothed");
  const bool exact = settings.has_target();
  const bool with_b = exact && settings.kl_ode_every > 0;
  const std::string no_kl = fmt::format(
      "not computed: the training data come from data.file = '{}', which has no exact density to measure KL "
      "against; the training loss and (with memorization.every > 0) the memorization of generated samples are "
      "reported instead",
      settings.data_file);
  const Index n = exact ? settings.n : settings.data->rows();
  Json summary{{"experiment", name()}, {"seeds", K}, {"epochs", settings.epochs}, {"n", n}};
  if (!exact) summary["data_file"] = settings.data_file;
  const bool with_small = settings.has_kl_small();
  const std::string def_small =
      fmt::format("score-integrated density at t0_small = {} (fine, {} nodes on [{}, {}]), against {} target",
                  settings.kl_small.t0, settings.kl_small.grid.points, settings.kl_small.grid.lo,
                  settings.kl_small.grid.hi, settings.kl.reference == "clean" ? "the clean" : "the smoothed");
  const auto def_emp = [&](double t0) {
    return fmt::format(
        "KL(p_emp,t0 || q_t0) at t0 = {}: from the empirical oracle's density (1/n) sum_i N(a(t0) x_i, s(t0)^2) "
        "(what a model that memorized the training set learns) to the score-integrated density",
        t0);
  };
  if (exact) {
    summary["kl_a"] = definition_json(seeds, &StudyRow::kl_a, def_a);
    if (with_small) summary["kl_a_small"] = definition_json(seeds, &StudyRow::kl_a_small, def_small);
    summary["kl_emp_a"] = definition_json(seeds, &StudyRow::kl_emp_a, def_emp(settings.kl.t0));
    if (with_small)
      summary["kl_emp_a_small"] = definition_json(seeds, &StudyRow::kl_emp_a_small, def_emp(settings.kl_small.t0));
    {
      // The learned weight of the right mode: at the end, and its mean distance from ½ along training.
      std::vector<double> final_w, error_w;
      for (const auto& sr : seeds) {
        double sum = 0.0;
        Index count = 0;
        for (const auto& row : sr.rows)
          if (std::isfinite(row.weight_right)) {
            sum += std::abs(row.weight_right - 0.5);
            ++count;
          }
        final_w.push_back(curve_facts(sr.rows, &StudyRow::weight_right).final);
        error_w.push_back(count > 0 ? sum / static_cast<double>(count) : kNaN);
      }
      summary["weight_right"] = {
          {"definition",
           fmt::format("mass of the score-integrated density at t0 = {} on x > 0 (the target's: 0.5)", settings.kl.t0)},
          {"final", spread_json(spread(final_w))},
          {"mean_abs_deviation_from_half", spread_json(spread(error_w))}};
    }
    summary["floors"] = {
        {"population_a", spread_json(floor_spread(seeds, &OracleFloors::population_a))},
        {"empirical_a", spread_json(floor_spread(seeds, &OracleFloors::empirical_a))},
        {"population_emp_a", spread_json(floor_spread(seeds, &OracleFloors::population_emp_a))},
    };
    if (with_small) {
      summary["floors"]["population_a_small"] = spread_json(floor_spread(seeds, &OracleFloors::population_a_small));
      summary["floors"]["empirical_a_small"] = spread_json(floor_spread(seeds, &OracleFloors::empirical_a_small));
      summary["floors"]["population_emp_a_small"] =
          spread_json(floor_spread(seeds, &OracleFloors::population_emp_a_small));
    }
  } else {
    summary["kl"] = no_kl;
  }
  if (with_b) summary["kl_b"] = definition_json(seeds, &StudyRow::kl_b, def_b);
  Spread memorized_final;  // the memorized fraction at the last epoch, over seeds
  if (settings.memorization_every > 0) {
    std::vector<double> fraction, distance;
    for (const auto& sr : seeds) {
      fraction.push_back(curve_facts(sr.rows, &StudyRow::memorized_fraction).final);
      distance.push_back(curve_facts(sr.rows, &StudyRow::nn_distance).final);
    }
    summary["memorization"] = {
        {"definition",
         fmt::format("fraction of {} reverse-SDE samples ({} Euler–Maruyama steps, {} time grid) "
                     "whose nearest training point is over {} times closer than the second nearest",
                     settings.memorization_samples, settings.memorization_steps, settings.memorization_time_grid,
                     format_significant(1.0 / settings.memorization.ratio_threshold, 3))},
        {"final_fraction", spread_json(memorized_final = spread(fraction))},
        {"final_mean_nn_distance", spread_json(spread(distance))}};
    if (exact) {
      auto& m = summary["memorization"];
      m["baseline"] = {
          {"definition", fmt::format("the same measures for {} fresh target samples in place of generated ones; "
                                     "distances to the training set and to a fresh set of its size (n = {})",
                                     settings.memorization_samples, n)},
          {"fraction", spread_json(baseline_spread(seeds, &MemorizationBaseline::memorized_fraction))},
          {"mean_nn_distance", spread_json(baseline_spread(seeds, &MemorizationBaseline::nn_distance))},
          {"mean_nn_distance_fresh", spread_json(baseline_spread(seeds, &MemorizationBaseline::nn_distance_fresh))},
          {"closer_to_train", spread_json(baseline_spread(seeds, &MemorizationBaseline::closer_to_train))}};
      m["final_excess_fraction"] =
          spread_json(spread(final_minus(seeds, &StudyRow::memorized_fraction, &StudyRow::memorized_baseline)));
      m["final_mean_nn_distance_fresh"] = spread_json(final_spread(seeds, &StudyRow::nn_distance_fresh));
      m["final_closer_to_train"] = spread_json(final_spread(seeds, &StudyRow::closer_to_train));
      if (settings.memorization_memorizer)
        m["memorizer"] = {
            {"definition", "the same measures for the empirical oracle's samples (same sampler): a perfect memorizer"},
            {"fraction", spread_json(baseline_spread(seeds, &MemorizationBaseline::memorized_fraction, true))},
            {"mean_nn_distance", spread_json(baseline_spread(seeds, &MemorizationBaseline::nn_distance, true))},
            {"mean_nn_distance_fresh",
             spread_json(baseline_spread(seeds, &MemorizationBaseline::nn_distance_fresh, true))},
            {"closer_to_train", spread_json(baseline_spread(seeds, &MemorizationBaseline::closer_to_train, true))}};
    }
  }
  const Reading reading = memorization_reading(seeds, settings);
  if (exact) summary["memorization_reading"] = reading.json;
  if (with_b) {
    summary["floors"]["population_b"] = spread_json(floor_spread(seeds, &OracleFloors::population_b));
    summary["floors"]["empirical_b"] = spread_json(floor_spread(seeds, &OracleFloors::empirical_b));
  }
  // Wall-clock times go to timing.json: they differ from run to run, and every
  // other output is bit-identical across repeats, thread counts and resumes.
  StudyDiagnostics worst;
  double train_s = 0, kl_a_s = 0, kl_b_s = 0, floors_s = 0, memorization_s = 0;
  for (const auto& s : seeds) {
    const auto& d = s.diagnostics;
    worst.max_target_mass_outside = std::max(worst.max_target_mass_outside, d.max_target_mass_outside);
    worst.max_quadrature_error_a = std::max(worst.max_quadrature_error_a, d.max_quadrature_error_a);
    worst.max_quadrature_error_b = std::max(worst.max_quadrature_error_b, d.max_quadrature_error_b);
    worst.max_quadrature_error_a_small = std::max(worst.max_quadrature_error_a_small, d.max_quadrature_error_a_small);
    worst.ode_steps += d.ode_steps;
    worst.ode_rejected_steps += d.ode_rejected_steps;
    train_s += d.train_seconds;
    kl_a_s += d.kl_a_seconds;
    kl_b_s += d.kl_b_seconds;
    floors_s += d.floors_seconds;
    memorization_s += d.memorization_seconds;
  }
  summary["diagnostics"] = {{"max_target_mass_outside_grid", worst.max_target_mass_outside},
                            {"max_quadrature_error_a", worst.max_quadrature_error_a},
                            {"max_quadrature_error_b", worst.max_quadrature_error_b},
                            {"max_quadrature_error_a_small", worst.max_quadrature_error_a_small},
                            {"kl_small_grid_points", with_small ? Json(settings.kl_small.grid.points) : Json(nullptr)},
                            {"ode_steps", worst.ode_steps},
                            {"ode_rejected_steps", worst.ode_rejected_steps}};
  summary["failures"] = failures;
  // KLs of interest are ~1e-2 and up (the memorizer's at t0_small): an error
  // estimate near that means the grid does not resolve the learned density.
  constexpr double kQuadratureWarning = 1e-3;
  if (exact && worst.max_quadrature_error_a > kQuadratureWarning)
    warnings.push_back(fmt::format("KL (a): quadrature error estimate up to {}; raise kl.points (now {})",
                                   format_significant(worst.max_quadrature_error_a, 2), settings.kl.grid.points));
  if (with_small && worst.max_quadrature_error_a_small > kQuadratureWarning)
    warnings.push_back(
        fmt::format("KL (a) at t0 = {}: quadrature error estimate up to {}; raise kl.points (now {} "
                    "nodes at that t0)",
                    settings.kl_small.t0, format_significant(worst.max_quadrature_error_a_small, 2),
                    settings.kl_small.grid.points));

  const Index table_every = with_b ? settings.kl_ode_every
                            : !exact && settings.memorization_every > 0
                                ? settings.memorization_every
                                : std::max<Index>(settings.kl_every, std::max<Index>(1, settings.epochs / 20));
  const Table table = results_table(seeds, table_every, settings);
  const auto plots = write_plots(seeds, settings, dir, warnings);
  summary["warnings"] = warnings;
  write_json_atomic(dir / "summary.json", summary);

  // report.md: what was run, the numbers, the plots, and how to read them.
  const Spread pa = floor_spread(seeds, &OracleFloors::population_a),
               ea = floor_spread(seeds, &OracleFloors::empirical_a);
  std::string md;
  md += "# early-stopping: KL(target ‖ learned) along training\n\n";
  if (!exact)
    md += fmt::format("**Training data from {} ({} points, d = {}).** KL {}.{}\n\n", settings.data_file, n,
                      settings.dim(), no_kl,
                      settings.memorization_every > 0 ? ""
                                                      : " Memorization is off: set memorization.every (e.g. 100) "
                                                        "to measure it.");
  if (exact)
    md += fmt::format(
        "Li et al. (2023), §4.1.1 and Fig. 3. A score network ({}, {} hidden units) is trained by {} (lr {}, batch {}) "
        "on n = {} samples of ½N(−{}, {}) + ½N({}, {}) under the {} SDE for {} epochs, {} seed{}. The KL divergence "
        "from the target to the learned distribution is measured along training with two definitions of the learned "
        "density:\n\n",
        settings.model, settings.mlp.hidden, settings.trainer.optimizer.name, settings.trainer.optimizer.lr,
        settings.trainer.batch_size, settings.n, settings.target_mu, settings.target_var, settings.target_mu,
        settings.target_var, settings.sde.kind, settings.epochs, K, K > 1 ? "s" : "");
  if (exact) md += fmt::format("- **(a)** {}, every {} epochs;\n", def_a, settings.kl_every);
  if (with_b) md += fmt::format("- **(b)** {}, every {} epochs.\n", def_b, settings.kl_ode_every);
  if (with_small) md += fmt::format("- **(a) at a smaller t0**: {}, at every evaluation of (a);\n", def_small);
  if (exact)
    md += fmt::format(
        "- **KL from the empirical density**: KL(p_emp,t0 ‖ q_t0) with p_emp,t0 = (1/n) Σ N(a(t0) x_i, s(t0)²), the "
        "density a model that memorized the training set learns, at t0 = {}{};\n- **weight of the right mode**: the "
        "mass of the (a) density on x > 0 (the target's: ½);\n",
        settings.kl.t0, with_small ? fmt::format(" and {}", settings.kl_small.t0) : std::string());
  if (settings.memorization_every > 0)
    md += fmt::format(
        "- **memorization**: {}, and the mean distance of the samples to the training set{}, every {} "
        "epochs{}.\n",
        summary["memorization"]["definition"].get<std::string>(),
        exact ? " and to a fresh target sample of the same size" : "", settings.memorization_every,
        exact ? fmt::format("; the baseline is the same for {} fresh target samples", settings.memorization_samples)
              : std::string());
  md += "\n## Result\n\n";
  if (exact) md += "- " + headline(summary["kl_a"], "KL (a), seed mean") + "\n";
  if (with_b) md += "- " + headline(summary["kl_b"], "KL (b), seed mean") + "\n";
  if (settings.memorization_every > 0)
    md += fmt::format("- memorized fraction at the last epoch: {}\n", pm(memorized_final));
  if (exact)
    md += fmt::format(
        "- Oracle floors (a): population {} (a perfect learner: the smoothing floor), empirical {} (the "
        "memorized training set).\n",
        pm(pa), pm(ea));
  if (with_b)
    md += fmt::format(
        "- Oracle floors (b): population {}, empirical {} (the training set smoothed to eps; exact "
        "density).\n",
        pm(floor_spread(seeds, &OracleFloors::population_b)), pm(floor_spread(seeds, &OracleFloors::empirical_b)));
  if (with_small) {
    md += "- " +
          headline(summary["kl_a_small"], fmt::format("KL (a) at t0 = {}, seed mean", settings.kl_small.t0).c_str()) +
          "\n";
    md += fmt::format(
        "- Oracle floors (a) at t0 = {}: population {}, empirical {} ({}× the population's; at t0 = {} the ratio is "
        "{}×).\n",
        settings.kl_small.t0, pm(floor_spread(seeds, &OracleFloors::population_a_small)),
        pm(floor_spread(seeds, &OracleFloors::empirical_a_small)),
        format_significant(floor_spread(seeds, &OracleFloors::empirical_a_small).mean /
                               floor_spread(seeds, &OracleFloors::population_a_small).mean,
                           2),
        settings.kl.t0, format_significant(ea.mean / pa.mean, 2));
  }
  if (!reading.lines.empty()) {
    md += "\n### Memorization measures at the last epoch\n\n";
    for (const auto& line : reading.lines) md += "- " + line + "\n";
  }
  md += "\n" + table.to_markdown() + "\n";
  for (const auto& p : plots) md += fmt::format("![{}]({})\n\n", p, p);
  if (exact)
    md +=
        "## How to read it\n\n"
        "Early in training the learned density misses the target (epoch 0 is the untrained network). KL falls as the "
        "network learns the two modes, reaches a minimum — the early-stopping point of Li2023 Theorem 1 — and then "
        "rises or oscillates as optimization noise and the drift toward the training set move the learned mode "
        "weights away from ½/½. The population-oracle line is the best any score can do at this t0 (smoothing "
        "alone); the empirical-oracle line is what a model that memorized the n training points would score. At "
        "t0 = 0.065 the two are close (THEORY.md §5), so a KL near them does not by itself tell generalization from "
        "memorization.\n\n"
        "The memorization measures (THEORY.md §8) tell them apart, each against a reference:\n\n"
        "- **KL at the smaller t0** (plots/kl_small.png): a memorizer's density is a sum of bumps on the training "
        "points, far from the target when t0 is small (the empirical-oracle floor there is hundreds of times the "
        "population one). A generalizing model has KL to the target *below* its KL to the empirical density "
        "p_emp,t0 — a perfect learner by the amount on the green line of the right panel; a memorizing one has the "
        "opposite, approaching (empirical floor, 0), the red line. Their difference is read only for a model nearer "
        "the target than the memorizer (KL to the target below the red line of the left panel): far from both, its "
        "large-scale errors move the difference as much as memorization would.\n"
        "- **Nearest-neighbour ratio** (plots/memorization.png, left): the fraction of samples much closer to one "
        "training point than to any other. Fresh target samples score the baseline (in 1-D it equals the threshold, "
        "1/3), so only the excess over it means copying: ≈ 0 for a generalizing model, > 0 for a memorizing one.\n"
        "- **Distances** (plots/memorization.png, middle and right): a generalizing model's samples are about as "
        "close to the training set as to a fresh sample of the same size, and nearer to the one than to the other "
        "about as often as fresh samples are (½); a memorizing model's are much closer to the training set. The "
        "means are dominated by the few samples far out in the tails; the fraction is not.\n\n"
        "In 1-D with n = 1000 the training points are ~0.005 apart in the bulk, so the sample measures have a "
        "limited range: the reverse SDE's last step lands a memorizer's sample on a weighted mean of the training "
        "points within about s(t) of it (memorization.memorizer = true measures the range; the geometric time grid "
        "makes that last s small). The KL at the smaller t0 separates the two by orders of magnitude.\n\n";
  md += "## Diagnostics\n\n";
  if (exact)
    md += fmt::format(
        "- target mass outside the KL grid: {}\n- largest quadrature error estimate: "
        "(a) {}, (b) {}{}\n- PF-ODE steps: {} accepted, {} rejected\n",
        format_significant(worst.max_target_mass_outside, 2), format_significant(worst.max_quadrature_error_a, 2),
        format_significant(worst.max_quadrature_error_b, 2),
        with_small
            ? fmt::format(", (a) at t0 = {} {} ({} grid nodes)", settings.kl_small.t0,
                          format_significant(worst.max_quadrature_error_a_small, 2), settings.kl_small.grid.points)
            : std::string(),
        worst.ode_steps, worst.ode_rejected_steps);
  md += "- wall-clock times: timing.json\n";
  for (const auto& w : warnings) md += "- warning: " + w + "\n";
  for (const auto& f : failures)
    md += fmt::format("- **seed {} stopped at epoch {}**: {}\n", f["seed"].get<Index>(), f["epoch"].get<Index>(),
                      f["message"].get<std::string>());
  md += fmt::format("\nReproduce: `diffgen run early-stopping --config config.toml --seeds {}`\n", K);
  write_file_atomic(dir / "report.md", md);

  Json resumed_from = Json::array();
  for (const auto& s : seeds)
    resumed_from.push_back(s.resumed_from_epoch >= 0 ? Json(s.resumed_from_epoch) : Json(nullptr));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  write_json_atomic(dir / "timing.json", Json{{"note",
                                               "wall-clock seconds of this invocation (a resumed run counts only "
                                               "what it did itself); training and KL times are summed over seeds"},
                                              {"threads", num_threads()},
                                              {"seconds_wall", wall_s},
                                              {"seconds_training", train_s},
                                              {"seconds_kl_a", kl_a_s},
                                              {"seconds_kl_b", kl_b_s},
                                              {"seconds_floors", floors_s},
                                              {"seconds_memorization", memorization_s},
                                              {"resumed_from_epoch", resumed_from}});

  if (!options.quiet) {
    std::printf("%s\n", table.to_text().c_str());
    if (exact) {
      std::printf("%s\n", headline(summary["kl_a"], "KL (a)").c_str());
      if (with_b) std::printf("%s\n", headline(summary["kl_b"], "KL (b)").c_str());
      std::printf("oracle floors (a): population %s, empirical %s\n", pm(pa).c_str(), pm(ea).c_str());
    } else {
      std::printf("KL %s\n", no_kl.c_str());
    }
    std::fflush(stdout);
  }
  for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  if (!failures.empty()) {
    const auto& f = failures[0];
    throw NumericalError(fmt::format("seed {} stopped at epoch {}: {} (outputs up to that epoch written to {})",
                                     f["seed"].get<Index>(), f["epoch"].get<Index>(), f["message"].get<std::string>(),
                                     dir.string()));
  }
}

}  // namespace diffgen
