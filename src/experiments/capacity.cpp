#include "experiments/capacity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
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
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> scalings_of(const Config& config) {
  const std::string text = config.get_string("scalings");
  if (text == "both") return {"fixed", "width"};
  return {text};
}

std::vector<Index> widths_of(const Config& config) {
  std::vector<Index> widths;
  for (double w : parse_positive_list("widths", config.get_string("widths"))) {
    if (w != std::floor(w) || w > 1'000'000)
      throw ConfigError(fmt::format("widths = '{}': {} is not a whole number of hidden units in [1, 1000000]",
                                    config.get_string("widths"), format_double(w)));
    widths.push_back(static_cast<Index>(w));
  }
  return widths;
}

// Width-major within each scaling: fixed first, then width-aware.
std::vector<StudyVariant> variants_of(const Config& config) {
  std::vector<StudyVariant> variants;
  for (const auto& scaling : scalings_of(config)) {
    for (Index w : widths_of(config)) {
      const Config c =
          study_config(config, {{"hidden", static_cast<std::int64_t>(w)}, {"output_scaling", scaling}});
      StudyVariant v;
      v.slug = fmt::format("{}-H{}", scaling, w);
      v.label = fmt::format("H = {} ({})", w, scaling);
      v.tags = {{"output_scaling", scaling}, {"hidden", w}};
      try {
        v.settings = TrainingStudySettings::from_config(c);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("widths = '{}': at hidden = {}: {}", config.get_string("widths"), w, e.what()));
      }
      variants.push_back(std::move(v));
    }
  }
  return variants;
}

double kl_at_epoch(const SeedResult& s, Index epoch) {
  for (const auto& r : s.rows)
    if (r.epoch == epoch) return r.kl_a;
  return kNaN;
}

}  // namespace

Schema CapacityExperiment::schema() const {
  // Fig. 11 reads KL at epoch 1000. A PF-ODE KL of a 2048-wide network costs
  // about a second, so (b) only at the start and the end.
  Schema s = study_schema({"hidden", "output_scaling", "data.file"}, {{"epochs", std::int64_t{1000}},
                                  {"kl_ode.every", std::int64_t{1000}},
                                  {"memorization.every", std::int64_t{0}},
                                  {"checkpoint.every", std::int64_t{500}},
                                  {"plot.epochs", std::string("0,1000")}});
  s.add_string("widths", "4,8,16,32,64,128,256,512,1024,2048",
               "hidden widths H of the reference network (comma-separated); hidden is set per width");
  s.add_string("scalings", "both",
               "output constants to run: fixed (the authors' output_scale at every width), width (output_scale · "
               "sqrt(16/H), equal at H = 16), or both",
               {"fixed", "width", "both"});
  s.add_double("kl_threshold", 0.15,
               "report the first epoch where KL (a) falls to this value (Fig. 11's epochs-to-threshold)", 0.0,
               std::nullopt, true);
  return s;
}

void CapacityExperiment::validate(const Config& config) const { variants_of(config); }

void CapacityExperiment::run(const Config& config, const RunOptions& options) const {
  const auto variants = variants_of(config);
  const auto results = run_study_grid(name(), config, variants, options);
  const auto& dir = options.out_dir;
  const auto widths = widths_of(config);
  const auto scalings = scalings_of(config);
  const double threshold = config.get_double("kl_threshold");
  const TrainingStudySettings& s0 = variants.front().settings;
  const Index last = s0.epochs;

  write_grid_metrics(variants, results, dir / "metrics.csv");

  Table table({"scaling", "H", "c", fmt::format("KL (a) at epoch {}", last), "best KL (a)",
               fmt::format("epochs to KL <= {}", format_double(threshold)), "reached", "diverged"});
  Json rows = Json::array();
  struct Line {
    std::vector<double> w, kl, kl_lo, kl_hi, ep, ep_mean, ep_lo, ep_hi;
  };
  std::vector<Line> lines(scalings.size());
  for (std::size_t v = 0; v < variants.size(); ++v) {
    const auto& seeds = results[v];
    const auto& st = variants[v].settings;
    std::vector<double> at_last, best, epochs_to;
    Index diverged = 0, reached = 0;
    Index first_failure = -1;
    for (const auto& s : seeds) {
      at_last.push_back(kl_at_epoch(s, last));
      best.push_back(curve_minimum(s.rows, &StudyRow::kl_a).value);
      const Index e = first_epoch_at_or_below(s.rows, &StudyRow::kl_a, threshold);
      epochs_to.push_back(e < 0 ? kNaN : static_cast<double>(e));
      reached += e >= 0 ? 1 : 0;
      if (s.failure) {
        ++diverged;
        if (first_failure < 0 || s.failed_epoch < first_failure) first_failure = s.failed_epoch;
      }
    }
    const Index K = static_cast<Index>(seeds.size());
    table.add_row({st.output_scaling, st.mlp.hidden, format_significant(st.mlp.output_scale, 3), mean_pm(at_last),
                   mean_pm(best), mean_pm(epochs_to, 4), fmt::format("{}/{}", reached, K),
                   diverged == 0 ? std::string("-")
                                 : fmt::format("{}/{} (epoch {})", diverged, K, first_failure)});
    const Spread a = spread(at_last), e = spread(epochs_to);
    rows.push_back({{"output_scaling", st.output_scaling},
                    {"hidden", st.mlp.hidden},
                    {"output_scale", st.mlp.output_scale},
                    {"kl_a_at_last_epoch", a.count ? Json{{"mean", a.mean}, {"ci95", a.ci95}, {"n", a.count}} : Json()},
                    {"epochs_to_threshold",
                     e.count ? Json{{"mean", e.mean}, {"ci95", e.ci95}, {"n", e.count}} : Json()},
                    {"seeds_reaching_threshold", reached},
                    {"seeds_diverged", diverged}});
    const std::size_t line = static_cast<std::size_t>(
        std::find(scalings.begin(), scalings.end(), st.output_scaling) - scalings.begin());
    auto& L = lines[line];
    if (a.count > 0) {
      L.w.push_back(static_cast<double>(st.mlp.hidden));
      L.kl.push_back(a.mean);
      L.kl_lo.push_back(std::max(a.mean - a.ci95, a.mean / 10));
      L.kl_hi.push_back(a.mean + a.ci95);
    }
    if (e.count > 0) {
      L.ep.push_back(static_cast<double>(st.mlp.hidden));
      L.ep_mean.push_back(e.mean);
      L.ep_lo.push_back(e.mean - e.ci95);
      L.ep_hi.push_back(e.mean + e.ci95);
    }
  }
  write_json_atomic(dir / "summary.json", Json{{"experiment", name()},
                                               {"seeds", options.seeds},
                                               {"epochs", last},
                                               {"kl_threshold", threshold},
                                               {"lr", s0.trainer.optimizer.lr},
                                               {"optimizer", s0.trainer.optimizer.name},
                                               {"widths", rows}});

  std::vector<std::string> warnings, plots;
  std::filesystem::create_directories(dir / "plots");
  const bool several = options.seeds > 1;
  {
    PlotSpec p;
    p.title = fmt::format("KL (a) at epoch {} against hidden width (mean, 95% CI; missing = diverged)", last);
    p.xlabel = "hidden width H";
    p.ylabel = "KL(target || learned)";
    p.logx = p.logy = true;
    for (std::size_t l = 0; l < scalings.size(); ++l) {
      if (lines[l].w.empty()) continue;
      if (several) p.series.push_back(Series::band("", lines[l].w, lines[l].kl_lo, lines[l].kl_hi));
      p.series.push_back(Series::line_points(
          scalings[l] == "fixed" ? "fixed c = output_scale" : "width-aware c = output_scale·sqrt(16/H)", lines[l].w,
          lines[l].kl));
    }
    if (render_or_warn(p, dir / "plots" / "kl_vs_width.png", warnings)) plots.push_back("plots/kl_vs_width.png");
  }
  {
    PlotSpec p;
    p.title = fmt::format("epochs until KL (a) <= {} (mean over the seeds that reach it)", format_double(threshold));
    p.xlabel = "hidden width H";
    p.ylabel = "epochs";
    p.logx = true;
    for (std::size_t l = 0; l < scalings.size(); ++l) {
      if (lines[l].ep.empty()) continue;
      if (several) p.series.push_back(Series::band("", lines[l].ep, lines[l].ep_lo, lines[l].ep_hi));
      p.series.push_back(Series::line_points(scalings[l], lines[l].ep, lines[l].ep_mean));
    }
    if (!p.series.empty() && render_or_warn(p, dir / "plots" / "epochs_to_threshold.png", warnings))
      plots.push_back("plots/epochs_to_threshold.png");
  }
  // KL curves of every width, one panel per scaling.
  {
    PanelGrid g;
    g.title = "KL (a) along training by hidden width (mean over seeds)";
    g.rows = 1;
    g.cols = static_cast<int>(scalings.size());
    g.width = 640 * g.cols;
    g.height = 480;
    for (const auto& scaling : scalings) {
      PlotSpec p;
      p.title = scaling == "fixed" ? "fixed output constant" : "width-aware output constant";
      p.xlabel = "epoch";
      p.ylabel = "KL (a)";
      p.logy = true;
      p.key = "top right";
      for (std::size_t v = 0; v < variants.size(); ++v) {
        if (variants[v].settings.output_scaling != scaling) continue;
        const CurveBand band = curve_band(results[v], &StudyRow::kl_a);
        if (!band.epoch.empty())
          p.series.push_back(Series::line(fmt::format("H = {}", variants[v].settings.mlp.hidden), band.epoch,
                                          band.mean));
      }
      g.panels.push_back(p);
    }
    if (render_or_warn(g, dir / "plots" / "kl_curves.png", warnings)) plots.push_back("plots/kl_curves.png");
  }
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);

  MarkdownReport report;
  report.heading("capacity: KL against hidden width");
  report.paragraph(fmt::format(
      "Li et al. (2023), Fig. 11: the reference network with hidden width H from {} to {}, trained as in "
      "early-stopping ({} training points, {} lr {}, batch {}) for {} epochs, over {} seed{}. The network's output "
      "is multiplied by c / s(t). The authors fix c = 1/16 at every width, which makes wide networks diverge at "
      "lr 0.5 (the output sums H terms, so its size at initialization and the change one SGD step makes to it "
      "grow with H). The width-aware constant c = (1/16)·sqrt(16/H) equals theirs at H = 16 and keeps both "
      "independent of H (the NTK scaling; c ∝ 1/H would also be stable but trains H times slower). Both are "
      "shown; a diverged run is listed with the epoch it stopped.",
      widths.front(), widths.back(), s0.n, s0.trainer.optimizer.name, format_double(s0.trainer.optimizer.lr),
      s0.trainer.batch_size, last, options.seeds, several ? "s" : ""));
  report.table(table);
  for (const auto& p : plots) report.image(p, p);
  report.write(dir / "report.md");
  if (!options.quiet) fmt::print("{}\n", table.to_text());
}

}  // namespace diffgen
