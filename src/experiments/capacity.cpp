// `diffgen run capacity`: Li2023 Fig. 11 — the training study with hidden
// widths from 4 to 2048, for the authors' fixed output constant and a
// width-aware one. A width that diverges is a result here, not a failure.
// Tested by study_grid_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "experiments/report_templates.hpp"
#include "experiments/study_grid.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double kl_at_epoch(const SeedResult& s, Index epoch) {
  for (const auto& r : s.rows)
    if (r.epoch == epoch) return r.kl_a;
  return kNaN;
}

// One width under one output constant, over seeds.
struct WidthSummary {
  const StudyVariant* variant;
  Spread at_last, best, epochs_to;
  Index reached = 0, diverged = 0, first_failure = -1;
};

WidthSummary summarize(const StudyVariant& v, const std::vector<SeedResult>& seeds, Index last, double threshold) {
  WidthSummary w{&v, {}, {}, {}};
  std::vector<double> at_last, best, epochs_to;
  for (const auto& s : seeds) {
    at_last.push_back(kl_at_epoch(s, last));
    best.push_back(curve_minimum(s.rows, &StudyRow::kl_a).value);
    const Index e = first_epoch_at_or_below(s.rows, &StudyRow::kl_a, threshold);
    epochs_to.push_back(e < 0 ? kNaN : static_cast<double>(e));
    w.reached += e >= 0 ? 1 : 0;
    if (s.failure) {
      ++w.diverged;
      if (w.first_failure < 0 || s.failed_epoch < w.first_failure) w.first_failure = s.failed_epoch;
    }
  }
  w.at_last = spread(at_last), w.best = spread(best), w.epochs_to = spread(epochs_to);
  return w;
}

Json width_json(const WidthSummary& w) {
  const auto& mlp = w.variant->settings.model.mlp;
  return {{"output_scaling", enum_name(mlp.scaling)},  {"hidden", mlp.hidden},
          {"output_scale", mlp.output_constant()},      {"kl_a_at_last_epoch", spread_json(w.at_last)},
          {"best_kl_a", spread_json(w.best)},           {"epochs_to_threshold", spread_json(w.epochs_to)},
          {"seeds_reaching_threshold", w.reached},       {"seeds_diverged", w.diverged}};
}

// A spread's mean and CI band against the width, one line per output constant.
void add_line(PlotSpec& p, const std::vector<WidthSummary>& ws, OutputScaling scaling, Spread WidthSummary::*field,
              bool log_axis, bool several, const std::string& label) {
  std::vector<double> x, y, lo, hi;
  for (const auto& w : ws) {
    const Spread& s = w.*field;
    if (w.variant->settings.model.mlp.scaling != scaling || s.count == 0) continue;
    x.push_back(static_cast<double>(w.variant->settings.model.mlp.hidden));
    y.push_back(s.mean);
    lo.push_back(log_axis ? std::max(s.mean - s.ci95, s.mean / 10) : s.mean - s.ci95);
    hi.push_back(s.mean + s.ci95);
  }
  if (x.empty()) return;
  if (several) p.series.push_back(Series::band("", x, lo, hi));
  p.series.push_back(Series::line_points(label, x, y));
}

class CapacityStudy final : public StudyGrid {
 public:
  CapacityStudy(const Config& config, std::vector<StudyVariant> variants, Index seeds,
                std::vector<OutputScaling> scalings, double threshold)
      : StudyGrid("capacity", config, std::move(variants), seeds), scalings_(std::move(scalings)), threshold_(threshold) {}

 protected:
  void report_grid(const GridResults& results, RunWriter& out) const override {
    write_metrics(results, out);
    const TrainingStudySettings& s0 = variants().front().settings;
    const Index last = s0.train.epochs;
    std::vector<WidthSummary> ws;
    Json rows = Json::array();
    for (std::size_t v = 0; v < results.size(); ++v) {
      ws.push_back(summarize(variants()[v], results[v], last, threshold_));
      rows.push_back(width_json(ws.back()));
    }
    out.json("summary.json", {{"experiment", "capacity"}, {"seeds", seeds()}, {"epochs", last},
                              {"kl_threshold", threshold_}, {"lr", s0.train.trainer.optimizer.lr},
                              {"optimizer", enum_name(s0.train.trainer.optimizer.kind)}, {"widths", rows}});
    add_plots(results, ws, last, out);
    out.render_plots();
    const Table table = summary_table(ws, last);
    const auto& widths = variants();
    out.report(report_template("capacity"),
               {{"h_min", widths.front().settings.model.mlp.hidden}, {"h_max", widths.back().settings.model.mlp.hidden},
                {"n", s0.n}, {"optimizer", enum_name(s0.train.trainer.optimizer.kind)},
                {"lr", format_double(s0.train.trainer.optimizer.lr)}, {"batch", s0.train.trainer.batch_size},
                {"epochs", last}, {"seeds", seeds()}, {"plural", seeds() > 1 ? "s" : ""},
                {"table", table.to_markdown()}});
    out.terminal(table.to_text() + "\n");
  }

 private:
  Table summary_table(const std::vector<WidthSummary>& ws, Index last) const {
    Table table({"scaling", "H", "c", fmt::format("KL (a) at epoch {}", last), "best KL (a)",
                 fmt::format("epochs to KL <= {}", format_double(threshold_)), "reached", "diverged"});
    for (const auto& w : ws) {
      const auto& mlp = w.variant->settings.model.mlp;
      table.add_row({std::string(enum_name(mlp.scaling)), mlp.hidden, format_significant(mlp.output_constant(), 3),
                     format_pm(w.at_last), format_pm(w.best), format_pm(w.epochs_to, 4),
                     fmt::format("{}/{}", w.reached, seeds()),
                     w.diverged == 0 ? std::string("-")
                                     : fmt::format("{}/{} (epoch {})", w.diverged, seeds(), w.first_failure)});
    }
    return table;
  }

  void add_plots(const GridResults& results, const std::vector<WidthSummary>& ws, Index last, RunWriter& out) const {
    const bool several = seeds() > 1;
    PlotSpec kl;
    kl.title = fmt::format("KL (a) at epoch {} against hidden width (mean, 95% CI; missing = diverged)", last);
    kl.xlabel = "hidden width H";
    kl.ylabel = "KL(target || learned)";
    kl.logx = kl.logy = true;
    PlotSpec ep;
    ep.title = fmt::format("epochs until KL (a) <= {} (mean over the seeds that reach it)", format_double(threshold_));
    ep.xlabel = "hidden width H";
    ep.ylabel = "epochs";
    ep.logx = true;
    for (OutputScaling scaling : scalings_) {
      add_line(kl, ws, scaling, &WidthSummary::at_last, true, several,
               scaling == OutputScaling::Fixed ? "fixed c = output_scale" : "width-aware c = output_scale·sqrt(16/H)");
      add_line(ep, ws, scaling, &WidthSummary::epochs_to, false, several, std::string(enum_name(scaling)));
    }
    out.plot("kl_vs_width", std::move(kl));
    if (!ep.series.empty()) out.plot("epochs_to_threshold", std::move(ep));
    // KL curves of every width, one panel per output constant.
    PanelGrid g;
    g.title = "KL (a) along training by hidden width (mean over seeds)";
    g.cols = static_cast<int>(scalings_.size());
    g.width = 640 * g.cols;
    g.height = 480;
    for (OutputScaling scaling : scalings_) {
      PlotSpec p;
      p.title = scaling == OutputScaling::Fixed ? "fixed output constant" : "width-aware output constant";
      p.xlabel = "epoch";
      p.ylabel = "KL (a)";
      p.logy = true;
      for (std::size_t v = 0; v < variants().size(); ++v) {
        if (variants()[v].settings.model.mlp.scaling != scaling) continue;
        const CurveBand band = curve_band(results[v], &StudyRow::kl_a);
        if (!band.epoch.empty())
          p.series.push_back(
              Series::line(fmt::format("H = {}", variants()[v].settings.model.mlp.hidden), band.epoch, band.mean));
      }
      g.panels.push_back(p);
    }
    out.plot("kl_curves", std::move(g));
  }

  std::vector<OutputScaling> scalings_;
  double threshold_;
};

class CapacityExperiment final : public Experiment {
 public:
  std::string name() const override { return "capacity"; }
  std::string purpose() const override {
    return "Li et al. 2023 Fig. 11: KL against hidden width, with the authors' fixed output constant and a "
           "width-aware one";
  }
  Schema keys() const override {
    Schema s;
    add_training_study_keys(s, defaults(),
                            {"model.mlp.hidden", "model.mlp.output_scaling", "data.file", "data.from_target"});
    s.add(KeySpec{"widths", ValueType::IntList, IntList{4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048},
                  "hidden widths H of the reference network; model.mlp.hidden is set per width", 1.0, 1e6});
    s.add(KeySpec{"scalings", ValueType::StringList, StringList{"fixed", "width"},
                  "output constants to run: fixed (the authors' output_scale at every width) and width "
                  "(output_scale · sqrt(16/H), equal at H = 16)",
                  std::nullopt, std::nullopt, false, false, enum_choices<OutputScaling>()});
    s.add_double("kl_threshold", 0.15,
                 "report the first epoch where KL (a) falls to this value (Fig. 11's epochs-to-threshold)", 0.0,
                 std::nullopt, true);
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    const TrainingStudySettings base = training_study_options().read(config, defaults());
    std::vector<OutputScaling> scalings;
    for (const auto& name : config.get_string_list("scalings")) scalings.push_back(parse_enum<OutputScaling>("scalings", name));
    std::vector<StudyVariant> variants;
    // Width-major within each output constant: fixed first, then width-aware.
    for (OutputScaling scaling : scalings)
      for (std::int64_t w : config.get_int_list("widths")) {
        StudyVariant v;
        v.slug = fmt::format("{}-H{}", enum_name(scaling), w);
        v.label = fmt::format("H = {} ({})", w, enum_name(scaling));
        v.tags = {{"output_scaling", std::string(enum_name(scaling))}, {"hidden", w}};
        v.settings = base;
        v.settings.model.mlp.hidden = w;
        v.settings.model.mlp.scaling = scaling;
        try {
          complete_training_study_settings(v.settings);
        } catch (const ConfigError& e) {
          throw ConfigError(fmt::format("widths: at hidden = {}: {}", w, e.what()));
        }
        variants.push_back(std::move(v));
      }
    return std::make_unique<CapacityStudy>(config, std::move(variants), seeds, scalings,
                                           config.get_double("kl_threshold"));
  }

 private:
  // Fig. 11 reads KL at epoch 1000. A PF-ODE KL of a 2048-wide network costs
  // about a second, so (b) only at the start and the end.
  static TrainingStudySettings defaults() {
    TrainingStudySettings s;
    s.train.epochs = 1000;
    s.kl_ode_every = 1000;
    s.memorization_every = 0;
    s.memorizer_sets = 0;  // the memorizer ratio is early-stopping's
    s.checkpoint_every = 500;
    s.plot_epochs = {0, 1000};
    return s;
  }
};

}  // namespace

std::unique_ptr<Experiment> make_capacity_experiment() {
  return std::make_unique<CapacityExperiment>();
}

}  // namespace diffgen
