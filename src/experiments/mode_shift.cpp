// `diffgen run mode-shift`: Li2023 Theorem 2 and Figs. 4–5 — the training
// study on ½N(-d/2, 1) + ½N(d/2, 1) for mode distances d = 2 … 12. Far modes
// generalize worse: the learned weight of one mode drifts from the true ½.
// Tested by study_grid_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "experiments/mode_shift_growth.hpp"
#include "experiments/report_templates.hpp"
#include "experiments/study_grid.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The learned (a) weight of the right mode at the epoch of the seed's best KL (a).
double weight_at_best(const SeedResult& s) {
  const CurveMinimum best = curve_minimum(s.rows, &StudyRow::kl_a);
  for (const auto& r : s.rows)
    if (r.epoch == best.epoch) return r.weight_right;
  return kNaN;
}

// Mean over the evaluations after epoch 0 of |w - ½|, w the learned weight of
// the right mode: how far, on average along training, the model is from the
// true mode weights (Li2023 Fig. 5: far modes get one weight wrong).
double mean_weight_error(const SeedResult& s) {
  double sum = 0;
  int count = 0;
  for (const auto& r : s.rows)
    if (r.epoch > 0 && std::isfinite(r.weight_right)) {
      sum += std::abs(r.weight_right - 0.5);
      ++count;
    }
  return count > 0 ? sum / count : kNaN;
}

// The fit of the seed-mean curve, whose interval (when it has one) comes
// from the scatter about the line over distances, not from the seeds.
std::string seed_mean_fit_text(const PowerFit& f) {
  if (!std::isfinite(f.slope_ci95)) return format_pm(f.slope, kNaN, 2) + " (no interval: fewer than 3 distances)";
  return format_pm(f.slope, f.slope_ci95, 2) + " (an interval from the regression's residuals over the distances)";
}

// Per distance, the spreads over seeds the summary, table and plots show.
struct DistanceSummary {
  double distance;
  Spread best_a, best_epoch, final_a, best_b, w_best, w_final, w_error, floor_pop, floor_emp;
};

DistanceSummary summarize(double d, const std::vector<SeedResult>& seeds) {
  const auto min_a = [](const SeedResult& s) { return curve_minimum(s.rows, &StudyRow::kl_a); };
  return {d,
          spread(per_seed(seeds, [&](const SeedResult& s) { return min_a(s).value; })),
          spread(per_seed(seeds, [&](const SeedResult& s) { return static_cast<double>(min_a(s).epoch); })),
          spread(per_seed(seeds, [](const SeedResult& s) { return curve_last(s.rows, &StudyRow::kl_a); })),
          spread(per_seed(seeds, [](const SeedResult& s) { return curve_minimum(s.rows, &StudyRow::kl_b).value; })),
          spread(per_seed(seeds, weight_at_best)),
          spread(per_seed(seeds, [](const SeedResult& s) { return curve_last(s.rows, &StudyRow::weight_right); })),
          spread(per_seed(seeds, mean_weight_error)),
          spread(per_seed(seeds, [](const SeedResult& s) { return s.floors.population_a; })),
          spread(per_seed(seeds, [](const SeedResult& s) { return s.floors.empirical_a; }))};
}

Json distance_json(const DistanceSummary& d) {
  return {{"distance", d.distance},
          {"best_kl_a", spread_json(d.best_a)},
          {"epoch_of_best_kl_a", spread_json(d.best_epoch)},
          {"final_kl_a", spread_json(d.final_a)},
          {"best_kl_b", spread_json(d.best_b)},
          {"weight_right_at_best", spread_json(d.w_best)},
          {"weight_right_final", spread_json(d.w_final)},
          {"mean_weight_error", spread_json(d.w_error)},
          {"floor_population_a", spread_json(d.floor_pop)},
          {"floor_empirical_a", spread_json(d.floor_emp)}};
}

// Mean and CI band of a spread against the distances; on a log axis the
// band stops a decade below best KL (a) (a band through 0 cannot be drawn).
Series band_of(const std::vector<DistanceSummary>& ds, Spread DistanceSummary::*field, bool log_axis) {
  std::vector<double> x, lo, hi;
  for (const auto& d : ds) {
    x.push_back(d.distance);
    const double low = (d.*field).mean - (d.*field).ci95;
    lo.push_back(log_axis ? std::max(low, d.best_a.mean / 10) : low);
    hi.push_back((d.*field).mean + (d.*field).ci95);
  }
  return Series::band("", x, lo, hi);
}

Series line_of(const std::vector<DistanceSummary>& ds, Spread DistanceSummary::*field, const std::string& label) {
  std::vector<double> x, y;
  for (const auto& d : ds) {
    x.push_back(d.distance);
    y.push_back((d.*field).mean);
  }
  return Series::line_points(label, x, y);
}

class ModeShiftStudy final : public StudyGrid {
 public:
  ModeShiftStudy(const Config& config, std::vector<StudyVariant> variants, Index seeds, std::vector<double> distances)
      : StudyGrid("mode-shift", config, std::move(variants), seeds), distances_(std::move(distances)) {}

 protected:
  void report_grid(const GridResults& results, RunWriter& out) const override {
    write_metrics(results, out);
    std::vector<DistanceSummary> ds;
    for (std::size_t v = 0; v < results.size(); ++v) ds.push_back(summarize(distances_[v], results[v]));
    const TrainingStudySettings& s0 = variants().front().settings;
    Json per = Json::array(), failures = Json::array();
    for (const auto& d : ds) per.push_back(distance_json(d));
    for (std::size_t v = 0; v < results.size(); ++v)
      for (const auto& s : results[v])
        if (s.failure)
          failures.push_back({{"distance", distances_[v]}, {"seed", s.seed_index}, {"epoch", s.failed_epoch},
                              {"message", *s.failure}});
    // Theorem 2's polynomial in d, fitted per seed: the spread of the seeds'
    // exponents is what says whether the best KL grows.
    const SeedSlopes growth = fit_best_kl_growth(distances_, results);
    write_growth_csv(growth, out);
    out.json("summary.json",
             {{"experiment", "mode-shift"}, {"seeds", seeds()}, {"epochs", s0.train.epochs}, {"n", s0.n},
              {"kl_a", fmt::format("score-integrated density at t0 = {}, against the clean target", s0.kl.t0)},
              {"distances", per}, {"growth_exponent_best_kl_a", growth_json(growth)}, {"failures", failures}});
    add_plots(results, ds, out);
    out.render_plots();
    const Table table = summary_table(ds, s0.kl_ode_every > 0);
    out.report(report_template("mode-shift"),
               {{"n", s0.n}, {"epochs", s0.train.epochs},
                {"optimizer", enum_name(s0.train.trainer.optimizer.kind)},
                {"lr", format_double(s0.train.trainer.optimizer.lr)}, {"batch", s0.train.trainer.batch_size},
                {"hidden", s0.model.mlp.hidden}, {"seeds", seeds()}, {"plural", seeds() > 1 ? "s" : ""},
                {"table", table.to_markdown()}, {"t0", format_double(s0.kl.t0)},
                {"growth", growth_exponent_text(growth)}, {"growth_per_seed", growth_per_seed_text(growth)},
                {"growth_reading", growth_reading(growth)},
                {"growth_of_mean", seed_mean_fit_text(growth.of_mean)},
                {"failures", failures.size()}, {"failed", !failures.empty()}});
    out.terminal(table.to_text() + fmt::format("\nbest KL (a) against d: exponent {} (per seed: {}): {}\n",
                                               growth_exponent_text(growth), growth_per_seed_text(growth),
                                               growth_reading(growth)));
    report_failures(results, out);
  }

 private:
  // growth_exponent.csv: one row per seed, its exponent (missing when the
  // seed is left out) and the distances its fit used.
  static void write_growth_csv(const SeedSlopes& growth, RunWriter& out) {
    CsvTable t({"seed", "exponent", "distances_fitted"});
    t.allow_missing("exponent");
    for (std::size_t k = 0; k < growth.per_seed.size(); ++k) {
      const PowerFit& f = growth.per_seed[k];
      t.add_row({k, CsvCell::finite_or_missing(f.skipped == 0 ? f.slope : kNaN), f.points});
    }
    out.csv("growth_exponent.csv", t);
  }

  static Table summary_table(const std::vector<DistanceSummary>& ds, bool with_b) {
    Table table({"distance", "best KL (a)", "epoch of best", "final KL (a)", "best KL (b)", "weight at best",
                 "final weight", "mean |w - 1/2|", "floor (a) emp."});
    for (const auto& d : ds)
      table.add_row({format_double(d.distance), format_pm(d.best_a), format_pm(d.best_epoch, 4), format_pm(d.final_a),
                     with_b ? format_pm(d.best_b) : std::string("-"), format_pm(d.w_best), format_pm(d.w_final),
                     format_pm(d.w_error), format_pm(d.floor_emp)});
    return table;
  }

  void add_plots(const GridResults& results, const std::vector<DistanceSummary>& ds, RunWriter& out) const {
    const bool several = seeds() > 1, with_b = variants().front().settings.kl_ode_every > 0;
    PlotSpec best;
    best.title = fmt::format("best KL over training against mode distance (mean, 95% CI over {} seeds)", seeds());
    best.xlabel = "distance between the modes d";
    best.ylabel = "min over epochs of KL(target || learned)";
    best.logy = true;
    best.key = "top left";
    if (several) best.series.push_back(band_of(ds, &DistanceSummary::best_a, true));
    best.series.push_back(line_of(ds, &DistanceSummary::best_a, "(a) score-integrated"));
    if (with_b && several) best.series.push_back(band_of(ds, &DistanceSummary::best_b, true));
    if (with_b) best.series.push_back(line_of(ds, &DistanceSummary::best_b, "(b) PF-ODE"));
    out.plot("best_kl", std::move(best));
    curves_plot(results, out);
    PlotSpec w;
    w.title = fmt::format("mode-weight error against distance (mean, 95% CI over {} seeds)", seeds());
    w.xlabel = "distance between the modes d";
    w.ylabel = "mean over training of |w - 1/2|";
    w.key = "top left";
    if (several) w.series.push_back(band_of(ds, &DistanceSummary::w_error, false));
    w.series.push_back(line_of(ds, &DistanceSummary::w_error, "learned weight error"));
    out.plot("weight_vs_distance", std::move(w));
    densities_plot(results, out);
  }

  // KL (a) and the weight error |w - ½| along training, one line per distance.
  void curves_plot(const GridResults& results, RunWriter& out) const {
    PlotSpec kl, w;
    kl.title = "KL (a) along training, by mode distance";
    kl.ylabel = "KL(target || learned), definition (a)";
    kl.logy = true;
    w.title = "error of the learned mode weight |w - 1/2| along training (mean over seeds)";
    w.ylabel = "|w - 1/2|, w the learned mass on x > 0";
    kl.xlabel = w.xlabel = "epoch";
    kl.key = w.key = "outside right";
    for (std::size_t v = 0; v < results.size(); ++v) {
      const CurveBand band = curve_band(results[v], &StudyRow::kl_a);
      kl.series.push_back(Series::line(variants()[v].label, band.epoch, band.mean));
      const CurveBand wb = curve_band(results[v], [](const StudyRow& r) { return std::abs(r.weight_right - 0.5); });
      if (!wb.epoch.empty()) w.series.push_back(Series::line(variants()[v].label, wb.epoch, wb.mean));
    }
    out.plot("kl", std::move(kl));
    out.plot("weights", std::move(w));
  }

  // Learned densities of the nearest and the farthest modes at the snapshot
  // epochs (seed 0), like Li2023 Figs. 4–5.
  void densities_plot(const GridResults& results, RunWriter& out) const {
    const auto near = static_cast<std::size_t>(std::min_element(distances_.begin(), distances_.end()) - distances_.begin());
    const auto far = static_cast<std::size_t>(std::max_element(distances_.begin(), distances_.end()) - distances_.begin());
    PanelGrid g;
    g.title = "learned density (a) over the target, seed 0: nearest modes (top), farthest (bottom)";
    const double var = variants().front().settings.target_var;
    const std::vector<std::size_t> rows = far == near ? std::vector<std::size_t>{near} : std::vector<std::size_t>{near, far};
    for (std::size_t v : rows) {
      auto panels = density_panels(results[v][0], distances_[v] / 2 + 4 * std::sqrt(var), variants()[v].label, false);
      if (v != near)
        for (auto& p : panels) p.key = "off";
      g.panels.insert(g.panels.end(), panels.begin(), panels.end());
    }
    g.rows = static_cast<int>(rows.size());
    g.cols = static_cast<int>(results[near][0].snapshots.size());
    if (g.cols > 0) out.plot("densities", std::move(g));
  }

  std::vector<double> distances_;
};

class ModeShiftExperiment final : public Experiment {
 public:
  std::string name() const override { return "mode-shift"; }
  std::string purpose() const override {
    return "Li et al. 2023 Thm. 2, Figs. 4-5: distant modes hurt generalization (best KL and mode weights vs distance)";
  }
  Schema keys() const override {
    Schema s;
    add_training_study_keys(s, defaults(), {"target.mu", "data.file", "data.from_target"});
    s.add(KeySpec{"distances", ValueType::DoubleList, DoubleList{2, 4, 6, 8, 10, 12},
                  "distances d between the two modes: each gives the target ½N(-d/2, target.var) + ½N(d/2, "
                  "target.var). The KL grid [kl.lo, kl.hi] must cover d/2 + 6 sqrt(target.var) for the largest d",
                  0.0, std::nullopt, true});
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    const TrainingStudySettings base = training_study_options().read(config, defaults());
    const DoubleList& distances = config.get_double_list("distances");
    std::vector<StudyVariant> variants;
    for (double d : distances) {
      StudyVariant v;
      v.slug = fmt::format("distance-{}", format_double(d));
      v.label = fmt::format("d = {}", format_double(d));
      v.tags = {{"distance", d}};
      v.settings = base;
      v.settings.target_mu = d / 2;
      try {
        complete_training_study_settings(v.settings);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("distances = {}: at distance {} (modes at ±{}): {}",
                                      format_value(config.get("distances")), format_double(d), format_double(d / 2),
                                      e.what()));
      }
      variants.push_back(std::move(v));
    }
    return std::make_unique<ModeShiftStudy>(config, std::move(variants), seeds, distances);
  }

 private:
  // Six distances × K seeds: the generated-sample memorization (75 ms per
  // evaluation) is left to early-stopping; KL (b) every 200 epochs.
  static TrainingStudySettings defaults() {
    TrainingStudySettings s;
    s.memorization_every = 0;
    s.memorizer_sets = 0;  // the memorizer ratio is early-stopping's
    s.kl_ode_every = 200;
    s.checkpoint_every = 500;
    s.plot_epochs = {0, 200, 1000, 2000};
    return s;
  }
};

}  // namespace

std::unique_ptr<Experiment> make_mode_shift_experiment() {
  return std::make_unique<ModeShiftExperiment>();
}

}  // namespace diffgen
