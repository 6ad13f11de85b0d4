// `diffgen run optimizers`: Li2023 Figs. 8–10 — the training study under SGD,
// Adam, and SGD switched to Adam.
// Tested by study_grid_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/error.hpp"
#include "experiments/report_templates.hpp"
#include "experiments/study_grid.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;

enum class Schedule { Sgd, Adam, SgdThenAdam };

}  // namespace

template <>
struct EnumNames<Schedule> {
  static constexpr std::array table{std::pair{Schedule::Sgd, std::string_view("sgd")},
                                    std::pair{Schedule::Adam, std::string_view("adam")},
                                    std::pair{Schedule::SgdThenAdam, std::string_view("sgd-then-adam")}};
};

namespace {

// One schedule over seeds: best and final KL of both definitions.
struct ScheduleSummary {
  Spread best_a, epoch_a, final_a, best_b, epoch_b, final_b, floor_emp;
};

ScheduleSummary summarize(const std::vector<SeedResult>& seeds) {
  const auto epoch_of = [](Index e) { return e < 0 ? std::nan("") : static_cast<double>(e); };
  const auto min_of = [](const SeedResult& s, double StudyRow::*m) { return curve_minimum(s.rows, m); };
  return {spread(per_seed(seeds, [&](const SeedResult& s) { return min_of(s, &StudyRow::kl_a).value; })),
          spread(per_seed(seeds, [&](const SeedResult& s) { return epoch_of(min_of(s, &StudyRow::kl_a).epoch); })),
          spread(per_seed(seeds, [](const SeedResult& s) { return curve_last(s.rows, &StudyRow::kl_a); })),
          spread(per_seed(seeds, [&](const SeedResult& s) { return min_of(s, &StudyRow::kl_b).value; })),
          spread(per_seed(seeds, [&](const SeedResult& s) { return epoch_of(min_of(s, &StudyRow::kl_b).epoch); })),
          spread(per_seed(seeds, [](const SeedResult& s) { return curve_last(s.rows, &StudyRow::kl_b); })),
          spread(per_seed(seeds, [](const SeedResult& s) { return s.floors.empirical_a; }))};
}

class OptimizersStudy final : public StudyGrid {
 public:
  using StudyGrid::StudyGrid;

 protected:
  void report_grid(const GridResults& results, RunWriter& out) const override {
    write_metrics(results, out);
    const TrainingStudySettings& s0 = variants().front().settings;
    const bool with_b = s0.kl_ode_every > 0;
    Table table({"schedule", "best KL (a)", "epoch of best", "final KL (a)", "best KL (b)", "epoch of best (b)",
                 "final KL (b)", "floor (a) emp."});
    Json per = Json::array();
    for (std::size_t v = 0; v < results.size(); ++v) {
      const ScheduleSummary m = summarize(results[v]);
      table.add_row({variants()[v].label, format_pm(m.best_a), format_pm(m.epoch_a, 4), format_pm(m.final_a),
                     with_b ? format_pm(m.best_b) : "-", with_b ? format_pm(m.epoch_b, 4) : "-",
                     with_b ? format_pm(m.final_b) : "-", format_pm(m.floor_emp)});
      per.push_back({{"schedule", variants()[v].slug},         {"label", variants()[v].label},
                     {"best_kl_a", spread_json(m.best_a)},       {"epoch_of_best_kl_a", spread_json(m.epoch_a)},
                     {"final_kl_a", spread_json(m.final_a)},     {"best_kl_b", spread_json(m.best_b)},
                     {"epoch_of_best_kl_b", spread_json(m.epoch_b)}, {"final_kl_b", spread_json(m.final_b)}});
    }
    std::string first_failure;
    Index failures = 0;
    for (std::size_t v = 0; v < results.size(); ++v)
      for (const auto& s : results[v])
        if (s.failure && failures++ == 0) first_failure = variants()[v].label + ": " + *s.failure;
    out.json("summary.json", {{"experiment", "optimizers"}, {"seeds", seeds()}, {"epochs", s0.train.epochs},
                              {"schedules", per}, {"failed_runs", failures}});
    add_plots(results, with_b, out);
    out.render_plots();
    out.report(report_template("optimizers"),
               {{"n", s0.n}, {"batch", s0.train.trainer.batch_size}, {"epochs", s0.train.epochs},
                {"hidden", s0.model.mlp.hidden}, {"seeds", seeds()}, {"plural", seeds() > 1 ? "s" : ""},
                {"table", table.to_markdown()}, {"failed", failures > 0}, {"failures", failures},
                {"first_failure", first_failure}});
    out.terminal(table.to_text() + "\n");
    report_failures(results, out);
  }

 private:
  void add_plots(const GridResults& results, bool with_b, RunWriter& out) const {
    // Side by side, one panel per schedule: KL (a) and (b) with their bands.
    for (const auto& [metric, file, what] : std::vector<std::tuple<double StudyRow::*, std::string, std::string>>{
             {&StudyRow::kl_a, "kl_a", "(a) score-integrated"}, {&StudyRow::kl_b, "kl_b", "(b) PF-ODE"}}) {
      if (metric == &StudyRow::kl_b && !with_b) continue;
      out.plot(file, panels(results, metric, what));
    }
    PlotSpec p;
    p.title = "KL (a) along training, every schedule (mean over seeds)";
    p.xlabel = "epoch";
    p.ylabel = "KL(target || learned), definition (a)";
    p.logy = true;
    p.key = "bottom left";
    for (std::size_t v = 0; v < results.size(); ++v) {
      const CurveBand b = curve_band(results[v], &StudyRow::kl_a);
      if (!b.epoch.empty()) p.series.push_back(Series::line(variants()[v].label, b.epoch, b.mean));
    }
    out.plot("kl_overlay", std::move(p));
  }

  PanelGrid panels(const GridResults& results, double StudyRow::*metric, const std::string& what) const {
    PanelGrid g;
    g.title = fmt::format("KL {} along training (mean, 95% CI over {} seed{})", what, seeds(), seeds() > 1 ? "s" : "");
    g.cols = static_cast<int>(results.size());
    g.width = 560 * g.cols;
    g.height = 440;
    double lo = 1e300, hi = 0;
    std::vector<CurveBand> bands;
    for (const auto& seeds_of : results) {
      bands.push_back(curve_band(seeds_of, metric));
      for (double y : bands.back().mean)
        if (y > 0 && std::isfinite(y)) lo = std::min(lo, y), hi = std::max(hi, y);
    }
    for (std::size_t v = 0; v < results.size(); ++v) {
      PlotSpec p;
      p.title = variants()[v].label;
      p.xlabel = "epoch";
      p.ylabel = "KL(target || learned)";
      p.logy = true;
      p.key = "off";
      if (hi > 0) p.yrange = std::pair{lo / 2, hi * 2};
      auto& b = bands[v];
      for (double& x : b.lo) x = std::max(x, lo / 2);
      if (seeds() > 1 && !b.epoch.empty()) p.series.push_back(Series::band("", b.epoch, b.lo, b.hi));
      if (!b.epoch.empty()) p.series.push_back(Series::line("mean", b.epoch, b.mean));
      g.panels.push_back(p);
    }
    return g;
  }
};

class OptimizersExperiment final : public Experiment {
 public:
  std::string name() const override { return "optimizers"; }
  std::string purpose() const override {
    return "Li et al. 2023 Figs. 8-10: the early-stopping curve under SGD, Adam, and SGD then Adam";
  }
  Schema keys() const override {
    Schema s;
    add_training_study_keys(s, defaults(),
                            {"train.optimizer", "train.lr", "train.switch.epoch", "train.switch.optimizer",
                             "train.switch.lr", "data.file", "data.from_target"});
    s.add(KeySpec{"schedules", ValueType::StringList, StringList{"sgd", "adam", "sgd-then-adam"},
                  "optimizer schedules to compare: sgd (SGD at sgd_lr), adam (Adam at adam_lr), sgd-then-adam (SGD, "
                  "switched to Adam at adam_lr after switch_after epochs; Li2023 Fig. 10)",
                  std::nullopt, std::nullopt, false, false, enum_choices<Schedule>()});
    s.add_double("sgd_lr", 0.5, "SGD learning rate (Li2023 Fig. 3)", 0.0, std::nullopt, true);
    s.add_double("adam_lr", 1e-4, "Adam learning rate (1e-4 in the comments of Li2023's code)", 0.0, std::nullopt,
                 true);
    s.add_int("switch_after", 1000, "sgd-then-adam: epochs of SGD before the switch to Adam", 1);
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    const TrainingStudySettings base = training_study_options().read(config, defaults());
    const double sgd_lr = config.get_double("sgd_lr"), adam_lr = config.get_double("adam_lr");
    const Index switch_after = config.get_int("switch_after");
    std::vector<StudyVariant> variants;
    for (const auto& name : config.get_string_list("schedules")) {
      const Schedule schedule = parse_enum<Schedule>("schedules", name);
      const std::string sgd = fmt::format("SGD lr {}", format_double(sgd_lr));
      const std::string adam = fmt::format("Adam lr {}", format_double(adam_lr));
      StudyVariant v;
      v.slug = name;
      v.label = schedule == Schedule::Sgd    ? sgd
                : schedule == Schedule::Adam ? adam
                                             : fmt::format("{}, then {} after epoch {}", sgd, adam, switch_after);
      v.tags = {{"schedule", name}};
      v.settings = base;
      auto& train = v.settings.train;
      train.trainer.optimizer.kind = schedule == Schedule::Adam ? OptimizerKind::Adam : OptimizerKind::Sgd;
      train.trainer.optimizer.lr = schedule == Schedule::Adam ? adam_lr : sgd_lr;
      if (schedule == Schedule::SgdThenAdam) {
        if (switch_after >= train.epochs)
          throw ConfigError(fmt::format("switch_after = {} must be below train.epochs = {} for sgd-then-adam",
                                        switch_after, train.epochs));
        train.switch_epoch = switch_after;
        train.switch_kind = OptimizerKind::Adam;
        train.switch_lr = adam_lr;
      }
      complete_training_study_settings(v.settings);
      variants.push_back(std::move(v));
    }
    return std::make_unique<OptimizersStudy>(name(), config, std::move(variants), seeds);
  }

 private:
  // 4000 epochs: Adam at 1e-4 reaches its KL (b) minimum near epoch 2000-2500
  // and rises after it, the clean early-stopping curve SGD at 0.5 blurs.
  static TrainingStudySettings defaults() {
    TrainingStudySettings s;
    s.train.epochs = 4000;
    s.kl_every = 20;
    s.memorization_every = 0;
    s.memorizer_sets = 0;  // the memorizer ratio is early-stopping's
    s.checkpoint_every = 500;
    s.plot_epochs = {0, 1000, 2000, 4000};
    return s;
  }
};

}  // namespace

std::unique_ptr<Experiment> make_optimizers_experiment() {
  return std::make_unique<OptimizersExperiment>();
}

}  // namespace diffgen
