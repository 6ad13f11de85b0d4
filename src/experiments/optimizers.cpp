#include "experiments/optimizers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

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

struct Schedule {
  std::string name;  // sgd | adam | sgd-then-adam
  std::string label;
};

std::vector<Schedule> schedules_of(const Config& config) {
  const std::string text = config.get_string("schedules");
  std::vector<Schedule> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (item != "sgd" && item != "adam" && item != "sgd-then-adam")
      throw ConfigError(fmt::format("schedules = '{}': '{}' is not a schedule (sgd, adam, sgd-then-adam)", text, item));
    for (const auto& s : out)
      if (s.name == item) throw ConfigError(fmt::format("schedules = '{}' lists {} twice", text, item));
    const std::string sgd = fmt::format("SGD lr {}", format_value(config.get("sgd.lr")));
    const std::string adam = fmt::format("Adam lr {}", format_value(config.get("adam.lr")));
    out.push_back({item, item == "sgd" ? sgd
                         : item == "adam"
                             ? adam
                             : fmt::format("{}, then {} after epoch {}", sgd, adam, config.get_int("switch_after"))});
    start = comma + 1;
  }
  return out;
}

std::vector<StudyVariant> variants_of(const Config& config) {
  std::vector<StudyVariant> variants;
  for (const auto& schedule : schedules_of(config)) {
    const bool adam_only = schedule.name == "adam";
    std::vector<std::pair<std::string, Value>> owned = {
        {"optimizer", std::string(adam_only ? "adam" : "sgd")}, {"lr", config.get(adam_only ? "adam.lr" : "sgd.lr")}};
    if (schedule.name == "sgd-then-adam") {
      if (config.get_int("switch_after") >= config.get_int("epochs"))
        throw ConfigError(fmt::format("switch_after = {} must be below epochs = {} for sgd-then-adam",
                                      config.get_int("switch_after"), config.get_int("epochs")));
      owned.push_back({"switch.epoch", config.get("switch_after")});
      owned.push_back({"switch.optimizer", std::string("adam")});
      owned.push_back({"switch.lr", config.get("adam.lr")});
    }
    const Config c = study_config(config, owned);
    StudyVariant v;
    v.slug = schedule.name;
    v.label = schedule.label;
    v.tags = {{"schedule", schedule.name}};
    v.settings = TrainingStudySettings::from_config(c);
    variants.push_back(std::move(v));
  }
  return variants;
}

}  // namespace

Schema OptimizersExperiment::schema() const {
  // 4000 epochs: Adam at 1e-4 reaches its KL (b) minimum near epoch 2000-2500
  // and rises after it, the clean early-stopping curve SGD at 0.5 blurs.
  Schema s = study_schema({"optimizer", "lr", "switch.epoch", "switch.optimizer", "switch.lr", "data.file"},
                          {{"epochs", std::int64_t{4000}},
                                  {"kl.every", std::int64_t{20}},
                                  {"memorization.every", std::int64_t{0}},
                                  {"checkpoint.every", std::int64_t{500}},
                                  {"plot.epochs", std::string("0,1000,2000,4000")}});
  s.add_string("schedules", "sgd,adam,sgd-then-adam",
               "optimizer schedules to compare (comma-separated): sgd (SGD at sgd.lr), adam (Adam at adam.lr), "
               "sgd-then-adam (SGD, switched to Adam at adam.lr after switch_after epochs; Li2023 Fig. 10)");
  s.add_double("sgd.lr", 0.5, "SGD learning rate (Li2023 Fig. 3)", 0.0, std::nullopt, true);
  s.add_double("adam.lr", 1e-4, "Adam learning rate (1e-4 in the comments of Li2023's code)", 0.0, std::nullopt, true);
  s.add_int("switch_after", 1000, "sgd-then-adam: epochs of SGD before the switch to Adam", 1);
  return s;
}

void OptimizersExperiment::validate(const Config& config) const { variants_of(config); }

void OptimizersExperiment::run(const Config& config, const RunOptions& options) const {
  const auto variants = variants_of(config);
  const auto results = run_study_grid(name(), config, variants, options);
  const auto& dir = options.out_dir;
  const TrainingStudySettings& s0 = variants.front().settings;
  const bool with_b = s0.kl_ode_every > 0;
  const bool several = options.seeds > 1;
  write_grid_metrics(variants, results, dir / "metrics.csv");

  Table table({"schedule", "best KL (a)", "epoch of best", "final KL (a)", "best KL (b)", "epoch of best (b)",
               "final KL (b)", "floor (a) emp."});
  Json per = Json::array();
  Index failures = 0;
  std::string first_failure;
  for (std::size_t v = 0; v < variants.size(); ++v) {
    std::vector<double> best_a, epoch_a, final_a, best_b, epoch_b, final_b, floor_emp;
    for (const auto& s : results[v]) {
      const CurveMinimum a = curve_minimum(s.rows, &StudyRow::kl_a), b = curve_minimum(s.rows, &StudyRow::kl_b);
      best_a.push_back(a.value);
      epoch_a.push_back(a.epoch < 0 ? std::nan("") : static_cast<double>(a.epoch));
      final_a.push_back(curve_last(s.rows, &StudyRow::kl_a));
      best_b.push_back(b.value);
      epoch_b.push_back(b.epoch < 0 ? std::nan("") : static_cast<double>(b.epoch));
      final_b.push_back(curve_last(s.rows, &StudyRow::kl_b));
      floor_emp.push_back(s.floors.empirical_a);
      if (s.failure) {
        ++failures;
        if (first_failure.empty()) first_failure = variants[v].label + ": " + *s.failure;
      }
    }
    table.add_row({variants[v].label, mean_pm(best_a), mean_pm(epoch_a, 4), mean_pm(final_a),
                   with_b ? mean_pm(best_b) : "-", with_b ? mean_pm(epoch_b, 4) : "-", with_b ? mean_pm(final_b) : "-",
                   mean_pm(floor_emp)});
    auto js = [](const std::vector<double>& x) {
      const Spread s = spread(x);
      return s.count ? Json{{"mean", s.mean}, {"ci95", s.ci95}, {"n", s.count}} : Json();
    };
    per.push_back({{"schedule", variants[v].slug},
                   {"label", variants[v].label},
                   {"best_kl_a", js(best_a)},
                   {"epoch_of_best_kl_a", js(epoch_a)},
                   {"final_kl_a", js(final_a)},
                   {"best_kl_b", js(best_b)},
                   {"epoch_of_best_kl_b", js(epoch_b)},
                   {"final_kl_b", js(final_b)}});
  }
  write_json_atomic(dir / "summary.json", Json{{"experiment", name()},
                                               {"seeds", options.seeds},
                                               {"epochs", s0.epochs},
                                               {"schedules", per},
                                               {"failed_runs", failures}});

  std::vector<std::string> warnings, plots;
  std::filesystem::create_directories(dir / "plots");
  // Side by side, one panel per schedule: KL (a) and (b) with their bands.
  for (const auto& [metric, file, what] : std::vector<std::tuple<double StudyRow::*, std::string, std::string>>{
           {&StudyRow::kl_a, "kl_a.png", "(a) score-integrated"}, {&StudyRow::kl_b, "kl_b.png", "(b) PF-ODE"}}) {
    if (metric == &StudyRow::kl_b && !with_b) continue;
    PanelGrid g;
    g.title =
        fmt::format("KL {} along training (mean, 95% CI over {} seed{})", what, options.seeds, several ? "s" : "");
    g.rows = 1;
    g.cols = static_cast<int>(variants.size());
    g.width = 560 * g.cols;
    g.height = 440;
    double lo = 1e300, hi = 0;
    std::vector<CurveBand> bands;
    for (std::size_t v = 0; v < variants.size(); ++v) {
      bands.push_back(curve_band(results[v], metric));
      for (double y : bands.back().mean)
        if (y > 0 && std::isfinite(y)) lo = std::min(lo, y), hi = std::max(hi, y);
    }
    for (std::size_t v = 0; v < variants.size(); ++v) {
      PlotSpec p;
      p.title = variants[v].label;
      p.xlabel = "epoch";
      p.ylabel = "KL(target || learned)";
      p.logy = true;
      if (hi > 0) p.yrange = std::pair{lo / 2, hi * 2};
      auto& b = bands[v];
      for (double& x : b.lo) x = std::max(x, lo / 2);
      if (several && !b.epoch.empty()) p.series.push_back(Series::band("", b.epoch, b.lo, b.hi));
      if (!b.epoch.empty()) p.series.push_back(Series::line("mean", b.epoch, b.mean));
      p.key = "off";
      g.panels.push_back(p);
    }
    if (render_or_warn(g, dir / "plots" / file, warnings)) plots.push_back("plots/" + file);
  }
  {
    PlotSpec p;
    p.title = "KL (a) along training, every schedule (mean over seeds)";
    p.xlabel = "epoch";
    p.ylabel = "KL(target || learned), definition (a)";
    p.logy = true;
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const CurveBand b = curve_band(results[v], &StudyRow::kl_a);
      if (!b.epoch.empty()) p.series.push_back(Series::line(variants[v].label, b.epoch, b.mean));
    }
    p.key = "bottom left";
    if (render_or_warn(p, dir / "plots" / "kl_overlay.png", warnings)) plots.push_back("plots/kl_overlay.png");
  }
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);

  MarkdownReport report;
  report.heading("optimizers: the early-stopping curve under SGD, Adam, and SGD then Adam");
  report.paragraph(fmt::format(
      "Li et al. (2023), Figs. 8–10: the training study of early-stopping ({} training points, batch {}, {} epochs, "
      "the reference network with {} hidden units) under each optimizer schedule, over {} seed{}, with mean and "
      "95% confidence intervals (Student t) over seeds. SGD at a large step oscillates from evaluation to "
      "evaluation; Adam at a small step moves smoothly, so its minimum over training and the rise after it are "
      "where the early-stopping phenomenon is cleanest.",
      s0.n, s0.trainer.batch_size, s0.epochs, s0.mlp.hidden, options.seeds, several ? "s" : ""));
  report.table(table);
  if (failures > 0) report.paragraph(fmt::format("{} run(s) stopped early: {}", failures, first_failure));
  for (const auto& p : plots) report.image(p, p);
  report.write(dir / "report.md");
  if (!options.quiet) fmt::print("{}\n", table.to_text());
  if (failures > 0)
    throw NumericalError(fmt::format("{} run(s) stopped early; first: {} (outputs written)", failures, first_failure));
}

}  // namespace diffgen
