#include "experiments/mode_shift.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/io.hpp"
#include "experiments/study_grid.hpp"
#include "experiments/study_table.hpp"
#include "experiments/training_study.hpp"
#include "numerics/statistics.hpp"
#include "report/markdown.hpp"
#include "report/plot.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;

std::vector<double> distances_of(const Config& config) {
  return parse_positive_list("distances", config.get_string("distances"));
}

// One study per distance d: the target ½N(-d/2, var) + ½N(d/2, var).
std::vector<StudyVariant> variants_of(const Config& config) {
  std::vector<StudyVariant> variants;
  for (double d : distances_of(config)) {
    const Config c = study_config(config, {{"target.mu", d / 2}});
    StudyVariant v;
    v.slug = fmt::format("distance-{}", format_double(d));
    v.label = fmt::format("d = {}", format_double(d));
    v.tags = {{"distance", d}};
    try {
      v.settings = TrainingStudySettings::from_config(c);
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("distances = '{}': at distance {} (modes at ±{}): {}",
                                    config.get_string("distances"), format_double(d), format_double(d / 2),
                                    e.what()));
    }
    variants.push_back(std::move(v));
  }
  return variants;
}

std::vector<double> to_std(const Vector& v) { return {v.data(), v.data() + v.size()}; }

// The learned (a) weight of the right mode at the epoch of the seed's best KL (a).
double weight_at_best(const SeedResult& s) {
  const CurveMinimum best = curve_minimum(s.rows, &StudyRow::kl_a);
  for (const auto& r : s.rows)
    if (r.epoch == best.epoch) return r.weight_right;
  return std::numeric_limits<double>::quiet_NaN();
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
  return count > 0 ? sum / count : std::numeric_limits<double>::quiet_NaN();
}

// |w - ½| along training: mean and 95% CI over seeds at each evaluation.
CurveBand weight_error_band(const std::vector<SeedResult>& seeds) {
  std::map<Index, std::vector<double>> at;
  for (const auto& s : seeds)
    for (const auto& r : s.rows)
      if (std::isfinite(r.weight_right)) at[r.epoch].push_back(std::abs(r.weight_right - 0.5));
  CurveBand band;
  for (const auto& [epoch, values] : at) {
    const Spread sp = spread(values);
    band.epoch.push_back(static_cast<double>(epoch));
    band.mean.push_back(sp.mean);
    band.lo.push_back(sp.mean - sp.ci95);
    band.hi.push_back(sp.mean + sp.ci95);
  }
  return band;
}

template <class F>
std::vector<double> per_seed(const std::vector<SeedResult>& seeds, F f) {
  std::vector<double> out;
  for (const auto& s : seeds) out.push_back(f(s));
  return out;
}

Json spread_json(const std::vector<double>& values) {
  const Spread s = spread(values);
  if (s.count == 0) return nullptr;
  return {{"mean", s.mean}, {"ci95", s.ci95}, {"sd", s.sd}, {"n", s.count}};
}

}  // namespace

Schema ModeShiftExperiment::schema() const {
  // Six distances × K seeds: the generated-sample memorization (75 ms per
  // evaluation) is left to early-stopping; KL (b) every 200 epochs.
  Schema s = study_schema({"target.mu", "data.file"}, {{"memorization.every", std::int64_t{0}},
                                                       {"kl_ode.every", std::int64_t{200}},
                                                       {"checkpoint.every", std::int64_t{500}},
                                                       {"plot.epochs", std::string("0,200,1000,2000")}});
  s.add_string("distances", "2,4,6,8,10,12",
               "distances d between the two modes (comma-separated): each gives the target ½N(-d/2, target.var) + "
               "½N(d/2, target.var). The KL grid [kl.lo, kl.hi] must cover d/2 + 6 sqrt(target.var) for the "
               "largest d");
  return s;
}

void ModeShiftExperiment::validate(const Config& config) const { variants_of(config); }

void ModeShiftExperiment::run(const Config& config, const RunOptions& options) const {
  const auto variants = variants_of(config);
  const auto results = run_study_grid(name(), config, variants, options);
  const auto& dir = options.out_dir;
  const std::vector<double> distances = distances_of(config);
  const std::size_t V = variants.size();
  const TrainingStudySettings& s0 = variants.front().settings;
  const bool with_b = s0.kl_ode_every > 0;

  write_grid_metrics(variants, results, dir / "metrics.csv");

  // Per distance: best and final KL, the mode weight there, the floors.
  Table table({"distance", "best KL (a)", "epoch of best", "final KL (a)", "best KL (b)", "weight at best",
               "final weight", "mean |w - 1/2|", "floor (a) emp."});
  Json per_distance = Json::array();
  std::vector<double> best_a_mean(V), best_a_lo(V), best_a_hi(V), best_b_mean(V), best_b_lo(V), best_b_hi(V);
  std::vector<double> w_mean(V), w_lo(V), w_hi(V);
  Index failures = 0;
  Json failed = Json::array();
  for (std::size_t v = 0; v < V; ++v) {
    const auto& seeds = results[v];
    const auto best_a = per_seed(seeds, [](const SeedResult& s) { return curve_minimum(s.rows, &StudyRow::kl_a).value; });
    const auto best_epoch = per_seed(seeds, [](const SeedResult& s) {
      return static_cast<double>(curve_minimum(s.rows, &StudyRow::kl_a).epoch);
    });
    const auto final_a = per_seed(seeds, [](const SeedResult& s) { return curve_last(s.rows, &StudyRow::kl_a); });
    const auto best_b = per_seed(seeds, [](const SeedResult& s) { return curve_minimum(s.rows, &StudyRow::kl_b).value; });
    const auto w_best = per_seed(seeds, weight_at_best);
    const auto w_final = per_seed(seeds, [](const SeedResult& s) { return curve_last(s.rows, &StudyRow::weight_right); });
    const auto w_error = per_seed(seeds, mean_weight_error);
    const auto floor_emp = per_seed(seeds, [](const SeedResult& s) { return s.floors.empirical_a; });
    const auto floor_pop = per_seed(seeds, [](const SeedResult& s) { return s.floors.population_a; });
    for (const auto& s : seeds)
      if (s.failure) {
        ++failures;
        failed.push_back({{"distance", distances[v]}, {"seed", s.seed_index}, {"epoch", s.failed_epoch},
                          {"message", *s.failure}});
      }
    table.add_row({format_double(distances[v]), mean_pm(best_a), mean_pm(best_epoch, 4), mean_pm(final_a),
                   with_b ? mean_pm(best_b) : std::string("-"), mean_pm(w_best), mean_pm(w_final),
                   mean_pm(w_error), mean_pm(floor_emp)});
    per_distance.push_back({{"distance", distances[v]},
                            {"best_kl_a", spread_json(best_a)},
                            {"epoch_of_best_kl_a", spread_json(best_epoch)},
                            {"final_kl_a", spread_json(final_a)},
                            {"best_kl_b", spread_json(best_b)},
                            {"weight_right_at_best", spread_json(w_best)},
                            {"weight_right_final", spread_json(w_final)},
                            {"mean_weight_error", spread_json(w_error)},
                            {"floor_population_a", spread_json(floor_pop)},
                            {"floor_empirical_a", spread_json(floor_emp)}});
    const Spread a = spread(best_a), b = spread(best_b), w = spread(w_error);
    best_a_mean[v] = a.mean, best_a_lo[v] = a.mean - a.ci95, best_a_hi[v] = a.mean + a.ci95;
    best_b_mean[v] = b.mean, best_b_lo[v] = b.mean - b.ci95, best_b_hi[v] = b.mean + b.ci95;
    w_mean[v] = w.mean, w_lo[v] = w.mean - w.ci95, w_hi[v] = w.mean + w.ci95;
  }
  // How fast the best KL grows with the distance: least-squares slope of
  // log(mean best KL (a)) against log d (Theorem 2 bounds it by a polynomial in d).
  double growth = std::numeric_limits<double>::quiet_NaN();
  {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (std::size_t v = 0; v < V; ++v) {
      if (!(best_a_mean[v] > 0)) continue;
      const double x = std::log(distances[v]), y = std::log(best_a_mean[v]);
      sx += x, sy += y, sxx += x * x, sxy += x * y, ++n;
    }
    if (n >= 2 && n * sxx - sx * sx > 0) growth = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  }
  Json summary{{"experiment", name()},
               {"seeds", options.seeds},
               {"epochs", s0.epochs},
               {"n", s0.n},
               {"kl_a", fmt::format("score-integrated density at t0 = {}, against the clean target", s0.kl.t0)},
               {"distances", per_distance},
               {"growth_exponent_best_kl_a", std::isfinite(growth) ? Json(growth) : Json(nullptr)},
               {"failures", failed}};
  write_json_atomic(dir / "summary.json", summary);

  // Plots.
  std::vector<std::string> warnings, plots;
  std::filesystem::create_directories(dir / "plots");
  const bool several = options.seeds > 1;
  {
    PlotSpec p;
    p.title = fmt::format("best KL over training against mode distance (mean, 95% CI over {} seeds)", options.seeds);
    p.xlabel = "distance between the modes d";
    p.ylabel = "min over epochs of KL(target || learned)";
    p.logy = true;
    if (several) p.series.push_back(Series::band("", distances, best_a_lo, best_a_hi));
    p.series.push_back(Series::line_points("(a) score-integrated", distances, best_a_mean));
    if (with_b) {
      if (several) p.series.push_back(Series::band("", distances, best_b_lo, best_b_hi));
      p.series.push_back(Series::line_points("(b) PF-ODE", distances, best_b_mean));
    }
    for (auto& sr : p.series)
      if (sr.kind == SeriesKind::Band)
        for (std::size_t i = 0; i < sr.lo.size(); ++i) sr.lo[i] = std::max(sr.lo[i], best_a_mean[i] / 10);
    p.key = "top left";
    if (render_or_warn(p, dir / "plots" / "best_kl.png", warnings)) plots.push_back("plots/best_kl.png");
  }
  {
    PlotSpec p;
    p.title = "KL (a) along training, by mode distance";
    p.xlabel = "epoch";
    p.ylabel = "KL(target || learned), definition (a)";
    p.logy = true;
    for (std::size_t v = 0; v < V; ++v) {
      const CurveBand band = curve_band(results[v], &StudyRow::kl_a);
      p.series.push_back(Series::line(variants[v].label, band.epoch, band.mean));
    }
    p.key = "outside right";
    if (render_or_warn(p, dir / "plots" / "kl.png", warnings)) plots.push_back("plots/kl.png");
  }
  {
    PlotSpec p;
    p.title = "error of the learned mode weight |w - 1/2| along training (mean over seeds)";
    p.xlabel = "epoch";
    p.ylabel = "|w - 1/2|, w the learned mass on x > 0";
    for (std::size_t v = 0; v < V; ++v) {
      const CurveBand band = weight_error_band(results[v]);
      if (!band.epoch.empty()) p.series.push_back(Series::line(variants[v].label, band.epoch, band.mean));
    }
    p.key = "outside right";
    if (render_or_warn(p, dir / "plots" / "weights.png", warnings)) plots.push_back("plots/weights.png");
  }
  {
    PlotSpec p;
    p.title = fmt::format("mode-weight error against distance (mean, 95% CI over {} seeds)", options.seeds);
    p.xlabel = "distance between the modes d";
    p.ylabel = "mean over training of |w - 1/2|";
    if (several) p.series.push_back(Series::band("", distances, w_lo, w_hi));
    p.series.push_back(Series::line_points("learned weight error", distances, w_mean));
    p.key = "top left";
    if (render_or_warn(p, dir / "plots" / "weight_vs_distance.png", warnings))
      plots.push_back("plots/weight_vs_distance.png");
  }
  // Learned densities of the nearest and the farthest modes at the snapshot
  // epochs (seed 0), like Li2023 Figs. 4–5.
  {
    const std::size_t near = static_cast<std::size_t>(std::min_element(distances.begin(), distances.end()) -
                                                      distances.begin());
    const std::size_t far = static_cast<std::size_t>(std::max_element(distances.begin(), distances.end()) -
                                                     distances.begin());
    PanelGrid g;
    g.title = "learned density (a) over the target, seed 0: nearest modes (top), farthest (bottom)";
    std::vector<std::size_t> rows{near};
    if (far != near) rows.push_back(far);
    g.rows = static_cast<int>(rows.size());
    g.cols = static_cast<int>(results[near][0].snapshots.size());
    for (std::size_t v : rows) {
      const auto& snaps = results[v][0].snapshots;
      const double mu = distances[v] / 2, reach = mu + 4 * std::sqrt(s0.target_var);
      for (const auto& snap : snaps) {
        PlotSpec p;
        p.title = fmt::format("{}, epoch {}", variants[v].label, snap.epoch);
        p.xlabel = "x";
        p.ylabel = "density";
        p.xrange = std::pair{-reach, reach};
        p.key = (v == near && snap.epoch == snaps.front().epoch) ? "top right" : "off";
        auto target = Series::line("target", to_std(snap.x), to_std(snap.log_p.array().exp()));
        target.color = "black";
        p.series.push_back(target);
        p.series.push_back(Series::line("learned (a)", to_std(snap.x), to_std(snap.log_q_a.array().exp())));
        g.panels.push_back(p);
      }
    }
    if (g.cols > 0 && render_or_warn(g, dir / "plots" / "densities.png", warnings))
      plots.push_back("plots/densities.png");
  }
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);

  MarkdownReport report;
  report.heading("mode-shift: distant modes hurt generalization");
  report.paragraph(fmt::format(
      "Li et al. (2023), Theorem 2: for the target ½N(-d/2, 1) + ½N(d/2, 1) the generalization bound of a score "
      "model trained by gradient descent and stopped early grows polynomially with the mode distance d; their "
      "Figs. 4–5 show the learned density at several epochs, with one mode's weight learned wrong when the modes "
      "are far apart. Here each distance is the early-stopping study ({} training points, {} epochs of {} lr {}, "
      "batch {}, the reference network with {} hidden units) over {} seed{}, with mean and 95% confidence "
      "intervals (Student t) over seeds.",
      s0.n, s0.epochs, s0.trainer.optimizer.name, format_double(s0.trainer.optimizer.lr), s0.trainer.batch_size,
      s0.mlp.hidden, options.seeds, several ? "s" : ""));
  report.table(table);
  report.paragraph(fmt::format(
      "Best KL (a) is the minimum over training of KL(p_0 || q) with q the score-integrated density at t0 = {} "
      "(the early-stopping optimum); the weight w is the learned mass on x > 0 (true value ½) at that epoch and at "
      "the last one, and mean |w - 1/2| averages the weight's error over every evaluation after epoch 0. A "
      "least-squares fit of log(mean best KL (a)) against log d gives an exponent of {}.",
      format_double(s0.kl.t0), std::isfinite(growth) ? fmt::format("{:.2f}", growth) : std::string("(undefined)")));
  if (failures > 0)
    report.paragraph(fmt::format("{} run{} stopped early (see summary.json, failures); their rows up to there are "
                                 "in metrics.csv.",
                                 failures, failures == 1 ? "" : "s"));
  for (const auto& p : plots) report.image(p, p);
  report.write(dir / "report.md");
  if (!options.quiet) fmt::print("{}\n", table.to_text());
  if (failures > 0)
    throw NumericalError(fmt::format("{} of {} runs stopped early: {} (outputs written)", failures,
                                     V * static_cast<std::size_t>(options.seeds), failed.front().at("message").get<std::string>()));
}

}  // namespace diffgen
