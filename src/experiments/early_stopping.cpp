// `diffgen run early-stopping` (experiments/early_stopping.hpp): one training
// study per seed; metrics.csv, densities.csv, summary.json, plots and the
// report (reports/early-stopping.md).
// Tested by early_stopping_test.cpp.
#include "experiments/early_stopping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "experiments/report_templates.hpp"
#include "experiments/study_grid.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void write_densities(const std::vector<SeedResult>& seeds, RunWriter& out) {
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
  out.csv("densities.csv", t);
}

struct TableColumn {
  std::string name;
  std::vector<CurvePoint> curve;
  bool with_sd;
};

std::vector<TableColumn> table_columns(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s) {
  const bool several = seeds.size() > 1;
  const std::string small = fmt::format("t0 = {}", s.has_kl_small() ? s.kl_small.t0 : s.kl.t0);
  std::vector<TableColumn> columns;
  const auto add = [&](std::string name, double StudyRow::*metric, bool sd) {
    auto curve = mean_curve(seeds, metric);
    if (!curve.empty()) columns.push_back({std::move(name), std::move(curve), sd});
  };
  add("KL (a)", &StudyRow::kl_a, several);
  add("KL (b)", &StudyRow::kl_b, several);
  add("KL (a) " + small, &StudyRow::kl_a_small, false);
  // The KL from the empirical density at t0_small where it is measured, else at t0.
  add("KL p_emp→(a) " + small, s.has_kl_small() ? &StudyRow::kl_emp_a_small : &StudyRow::kl_emp_a, false);
  add("weight x>0", &StudyRow::weight_right, false);
  add("memorized", &StudyRow::memorized_fraction, false);
  add("d train", &StudyRow::nn_distance, false);
  add("d fresh", &StudyRow::nn_distance_fresh, false);
  add("nearer train", &StudyRow::closer_to_train, false);
  columns.push_back({"train loss", mean_curve(seeds, &StudyRow::train_loss), false});
  return columns;
}

// The table of results against epoch: every `every` epochs, the last, and the
// epoch of the KL (a) mean curve's minimum; a column for each measure taken.
Table results_table(const std::vector<SeedResult>& seeds, Index every, const TrainingStudySettings& s) {
  const auto columns = table_columns(seeds, s);
  Index best = -1;
  double best_v = kNaN;
  for (const auto& c : mean_curve(seeds, &StudyRow::kl_a))
    if (!std::isfinite(best_v) || c.spread.mean < best_v) {
      best_v = c.spread.mean;
      best = c.epoch;
    }
  std::vector<std::string> header{"epoch"};
  for (const auto& c : columns) {
    header.push_back(c.name);
    if (c.with_sd) header.push_back("sd");
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
      const auto it = std::find_if(c.curve.begin(), c.curve.end(), [&](const CurvePoint& p) { return p.epoch == r.epoch; });
      const bool found = it != c.curve.end();
      any = any || (found && c.name != "train loss");
      row.push_back(found ? TableCell(it->spread.mean) : TableCell(""));
      if (c.with_sd) row.push_back(found ? TableCell(it->spread.sd) : TableCell(""));
    }
    if (!any && !last && r.epoch != 0) continue;
    row.push_back(r.epoch == best ? "<- min (a)" : "");
    t.add_row(std::move(row));
  }
  return t;
}

std::string headline(const Json& def, const std::string& label) {
  if (!def.contains("mean_curve")) return fmt::format("{}: not evaluated", label);
  const auto& m = def["mean_curve"];
  return fmt::format("{}: minimum {} at epoch {}, final {} at epoch {}", label,
                     format_significant(m["min"].get<double>(), 4), m["epoch_of_min"].get<Index>(),
                     format_significant(m["final"].get<double>(), 4), m["final_epoch"].get<Index>());
}

// The report's numbers and switches (reports/early-stopping.md).
Json report_context(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, const Json& summary,
                    const Table& table) {
  const bool exact = s.has_target();
  const StudyDefinitions def = study_definitions(s);
  const Index K = static_cast<Index>(seeds.size());
  const auto& opt = s.train.trainer.optimizer;
  Json c{{"exact", exact}, {"with_b", exact && s.kl_ode_every > 0}, {"with_small", s.has_kl_small()},
         {"memorization", s.memorization_every > 0}, {"seeds", K}, {"plural", K > 1 ? "s" : ""},
         {"n", summary["n"]}, {"dim", s.dim()}, {"data_file", s.data_file}, {"with_data_file", !s.data_file.empty()}, {"no_kl", def.no_kl},
         {"model", s.model.kind}, {"hidden", s.model.mlp.hidden}, {"optimizer", enum_name(opt.kind)},
         {"lr", format_double(opt.lr)}, {"batch", s.train.trainer.batch_size}, {"mu", format_double(s.target_mu)},
         {"var", format_double(s.target_var)}, {"sde", enum_name(s.sde.kind)}, {"epochs", s.train.epochs},
         {"def_a", def.kl_a}, {"def_b", def.kl_b}, {"def_small", def.kl_small}, {"kl_every", s.kl_every},
         {"kl_ode_every", s.kl_ode_every}, {"t0", format_double(s.kl.t0)},
         {"t0_small", format_double(s.kl_small.t0)}, {"samples", s.memorization_samples},
         {"memorization_every", s.memorization_every}, {"table", table.to_markdown()}};
  c["emp_t0s"] = s.has_kl_small() ? fmt::format("{} and {}", s.kl.t0, s.kl_small.t0) : format_double(s.kl.t0);
  if (summary.contains("memorization")) {
    c["memorization_definition"] = summary["memorization"]["definition"];
    std::vector<double> fraction;
    for (const auto& sr : seeds) fraction.push_back(curve_last(sr.rows, &StudyRow::memorized_fraction));
    c["memorized_final"] = format_pm(spread(fraction));
  }
  if (exact) {
    c["headline_a"] = headline(summary["kl_a"], "KL (a), seed mean");
    c["floor_lines"] = floor_lines(seeds, s);
    if (summary.contains("kl_b")) c["headline_b"] = headline(summary["kl_b"], "KL (b), seed mean");
  }
  if (s.has_kl_small()) {
    c["headline_small"] = headline(summary["kl_a_small"], fmt::format("KL (a) at t0 = {}, seed mean", s.kl_small.t0));
  }
  const auto reading = memorization_reading(seeds, s);
  c["reading"] = reading.lines;
  c["has_reading"] = !reading.lines.empty();
  const auto& d = summary["diagnostics"];
  c["mass_outside"] = format_significant(d["max_target_mass_outside_grid"].get<double>(), 2);
  c["quadrature_a"] = format_significant(d["max_quadrature_error_a"].get<double>(), 2);
  c["quadrature_b"] = format_significant(d["max_quadrature_error_b"].get<double>(), 2);
  c["solver_b"] = format_significant(d["max_solver_error_b"].get<double>(), 2);
  c["quadrature_small"] = format_significant(d["max_quadrature_error_a_small"].get<double>(), 2);
  c["small_points"] = s.kl_small.grid.points;
  c["ode_steps"] = d["ode_steps"];
  c["ode_rejected"] = d["ode_rejected_steps"];
  c["failures"] = Json::array();
  c["floor_failures"] = Json::array();
  for (const auto& f : summary["failures"]) c[f.contains("floor") ? "floor_failures" : "failures"].push_back(f);
  return c;
}

Json timing_of(const std::vector<SeedResult>& seeds) {
  double train = 0, kl_a = 0, kl_b = 0, floors = 0, memorization = 0;
  Json resumed = Json::array();
  for (const auto& s : seeds) {
    const auto& d = s.diagnostics;
    train += d.train_seconds, kl_a += d.kl_a_seconds, kl_b += d.kl_b_seconds;
    floors += d.floors_seconds, memorization += d.memorization_seconds;
    resumed.push_back(s.resumed_from_epoch >= 0 ? Json(s.resumed_from_epoch) : Json(nullptr));
  }
  return {{"seconds_training", train},         {"seconds_kl_a", kl_a},
          {"seconds_kl_b", kl_b},              {"seconds_floors", floors},
          {"seconds_memorization", memorization}, {"resumed_from_epoch", resumed}};
}

class EarlyStoppingStudy final : public StudyGrid {
 public:
  using StudyGrid::StudyGrid;

 protected:
  void report_grid(const GridResults& results, RunWriter& out) const override {
    const auto& seeds = results[0];
    const TrainingStudySettings& s = variants()[0].settings;
    write_metrics(results, out);
    if (s.has_target()) write_densities(seeds, out);
    std::vector<std::string> warnings;
    Json summary = early_stopping_summary(seeds, s, warnings);
    for (auto& w : warnings) out.warn(std::move(w));
    add_study_plots(seeds, s, out);
    out.render_plots();
    summary["warnings"] = out.warnings();
    out.json("summary.json", summary);
    const Index every = s.has_target() && s.kl_ode_every > 0 ? s.kl_ode_every
                        : !s.has_target() && s.memorization_every > 0
                            ? s.memorization_every
                            : std::max<Index>(s.kl_every, std::max<Index>(1, s.train.epochs / 20));
    const Table table = results_table(seeds, every, s);
    out.report(report_template("early-stopping"), report_context(seeds, s, summary, table));
    out.timing(timing_of(seeds));
    out.terminal(table.to_text() + "\n");
    if (s.has_target()) {
      out.terminal(headline(summary["kl_a"], "KL (a)") + "\n");
      if (summary.contains("kl_b")) out.terminal(headline(summary["kl_b"], "KL (b)") + "\n");
      out.terminal(fmt::format("oracle floors (a): population {}, empirical {}\n",
                               format_pm(floor_spread(seeds, &OracleFloors::population_a)),
                               format_pm(floor_spread(seeds, &OracleFloors::empirical_a))));
    } else {
      out.terminal("KL " + study_definitions(s).no_kl + "\n");
    }
    report_failures(results, out);
  }
};

class EarlyStoppingExperiment final : public Experiment {
 public:
  std::string name() const override { return "early-stopping"; }
  std::string purpose() const override {
    return "Li et al. 2023 Fig. 3: KL(target || learned) along training falls, bottoms out, then rises";
  }
  Schema keys() const override {
    Schema s;
    add_training_study_keys(s);
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    StudyVariant v;
    v.settings = training_study_settings(config);
    return std::make_unique<EarlyStoppingStudy>(name(), config, std::vector<StudyVariant>{std::move(v)}, seeds);
  }
};

}  // namespace

std::unique_ptr<Experiment> make_early_stopping_experiment() {
  return std::make_unique<EarlyStoppingExperiment>();
}

}  // namespace diffgen
