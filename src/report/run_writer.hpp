// The writer of a run's folder. Every output of an experiment goes through
// it: CSV tables, JSON, plots, report.md (from the experiment's template) and
// timing.json, each written atomically. Plots are queued and rendered side by
// side; a plot that cannot be drawn (no gnuplot, a gnuplot error) becomes a
// warning and the run's other outputs stand. The library prints nothing: what
// the command line shows (a table, headline lines, warnings) is collected here
// and handed back in the Outcome.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/io.hpp"
#include "report/plot.hpp"

namespace diffgen {

class RunWriter {
 public:
  using Json = nlohmann::json;

  // `dir` is created when missing.
  explicit RunWriter(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }

  // NAME relative to the folder, e.g. "metrics.csv"; atomic writes.
  void csv(const std::string& name, const CsvTable& table) const;
  void json(const std::string& name, const Json& value) const;
  void text(const std::string& name, std::string_view contents) const;

  // Queues plots/NAME.png; render_plots() draws the queue.
  void plot(const std::string& name, PlotSpec spec);
  void plot(const std::string& name, PanelGrid grid);
  // Renders every queued plot on all cores; failures become warnings. Returns
  // the paths written ("plots/kl.png"), in queue order; the queue is emptied.
  std::vector<std::string> render_plots();

  // report.md from `template_text` (Mustache: {{name}}, {{#section}}…{{/section}},
  // lists) with `context`, to which are added `plots` (the plots written, as
  // a list of paths), `warnings` and `plus_minus` (what "±" means in every
  // report). Render the plots first.
  void report(std::string_view template_text, Json context);

  void warn(std::string message) { warnings_.push_back(std::move(message)); }
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Experiment-specific times for timing.json (the run adds its wall time,
  // threads and task times); merged into what was given before.
  void timing(const Json& values) {
    for (const auto& [key, value] : values.items()) timing_[key] = value;
  }
  const Json& timing() const { return timing_; }

  // Text the command line prints on stdout (unless --quiet).
  void terminal(std::string text) { terminal_ += std::move(text); }
  // A numerical failure the command line reports after everything computed
  // was written (exit code 4). The first one counts.
  void fail(std::string message) {
    if (!failure_) failure_ = std::move(message);
  }

  struct Outcome {
    std::string terminal;
    std::vector<std::string> warnings;
    std::optional<std::string> failure;
    std::vector<std::string> plots;
  };
  Outcome outcome() const { return {terminal_, warnings_, failure_, plots_}; }

 private:
  struct Job {
    std::string path;
    std::function<void(const std::filesystem::path&)> render;
  };

  std::filesystem::path dir_;
  std::vector<Job> queue_;
  std::vector<std::string> plots_;
  std::vector<std::string> warnings_;
  std::string terminal_;
  std::optional<std::string> failure_;
  Json timing_ = Json::object();
};

// What "±" means in every report and README table of diffgen.
inline constexpr std::string_view kPlusMinusMeaning =
    "± is the half-width of a 95% confidence interval: of the mean over seeds (Student's t), of a slope fitted "
    "to one curve (the regression's t interval) or of a Monte Carlo estimate (1.96 standard errors); a single "
    "seed shows its value alone";

// Renders a Mustache template with a JSON context: objects are sections,
// arrays repeat their section, false/null/empty arrays hide it, numbers are
// shown by the shortest text that reads back exactly. Nothing is escaped (the
// output is Markdown). std::invalid_argument for a malformed template.
std::string render_template(std::string_view template_text, const nlohmann::json& context);

}  // namespace diffgen
