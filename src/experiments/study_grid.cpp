#include "experiments/study_grid.hpp"

#include "data/points_file.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>

#include "numerics/statistics.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> to_std(const Vector& v) {
  return {v.data(), v.data() + v.size()};
}

}  // namespace

StudyGrid::StudyGrid(std::string experiment, const Config& config, std::vector<StudyVariant> variants, Index seeds)
    : experiment_(std::move(experiment)), config_(config), variants_(std::move(variants)), seeds_(seeds) {
  for (const auto& v : variants_)
    for (Index k = 0; k < seeds_; ++k) {
      const auto& s = v.settings;
      TaskInfo t;
      t.key = v.slug.empty() ? fmt::format("seed-{}", k) : fmt::format("{}-seed-{}", v.slug, k);
      // Training dominates: epochs × points × width.
      t.cost = static_cast<double>(s.train.epochs) * static_cast<double>(s.n) *
               static_cast<double>(s.model.kind == "mlp" ? s.model.mlp.hidden : s.model.random_features.width);
      t.units = training_study_work(s);
      t.kind = "training study";
      tasks_.push_back(std::move(t));
    }
}

TaskValue StudyGrid::run_task(Index task, const TaskContext& context) const {
  const Index v = task / seeds_, k = task % seeds_;
  const StudyCheckpointing checkpointing{context.checkpoint_file(), experiment_, &config_, seeds_};
  return make_value(run_training_study(
      variants_[static_cast<std::size_t>(v)].settings, k, [&](Index units) { context.progress(units); },
      checkpointing));
}

Json StudyGrid::encode(Index, const TaskValue& value) const {
  return seed_result_to_json(value_as<SeedResult>(value));
}

TaskValue StudyGrid::decode(Index, const Json& json) const {
  return make_value(seed_result_from_json(json));
}

GridResults StudyGrid::results_of(const std::vector<TaskValue>& values) const {
  GridResults results(variants_.size());
  for (std::size_t v = 0; v < variants_.size(); ++v)
    for (Index k = 0; k < seeds_; ++k)
      results[v].push_back(value_as<SeedResult>(values[v * static_cast<std::size_t>(seeds_) + k]));
  return results;
}

void StudyGrid::report(const std::vector<TaskValue>& values, RunWriter& out) const {
  // Each seed's training set, so that its floors can be checked again
  // (data.file with data.from_target); a data file is the user's already.
  for (const auto& v : variants_)
    for (Index k = 0; k < seeds_ && !v.settings.data; ++k)
      out.text(v.slug.empty() ? fmt::format("train-seed-{}.npy", k) : fmt::format("train-{}-seed-{}.npy", v.slug, k),
               encode_points_npy(training_set(v.settings, k)));
  report_grid(results_of(values), out);
}

SeedTable StudyGrid::seed_table(const std::vector<TaskValue>& values, Index k) const {
  // Sweeps grid one variant; several are one table with the tags as keys.
  const GridResults results = results_of(values);
  SeedTable table;
  for (std::size_t v = 0; v < variants_.size(); ++v) {
    SeedTable one = study_seed_table(results[v][static_cast<std::size_t>(k)]);
    if (v == 0) {
      table = one;
      table.key_values.clear();
      table.values.clear();
      std::vector<std::string> tags;
      for (const auto& [name, value] : variants_[v].tags) tags.push_back(name);
      table.keys.insert(table.keys.begin(), tags.begin(), tags.end());
      if (variants_.size() > 1) table.scalars.clear();
    }
    for (std::size_t r = 0; r < one.values.size(); ++r) {
      std::vector<std::string> keys;
      for (const auto& [name, value] : variants_[v].tags) keys.push_back(value.text());
      keys.insert(keys.end(), one.key_values[r].begin(), one.key_values[r].end());
      table.key_values.push_back(std::move(keys));
      table.values.push_back(one.values[r]);
    }
    if (variants_.size() > 1)
      for (const auto& [name, x] : one.scalars) table.scalars[variants_[v].slug + "." + name] = x;
    if (table.failure.empty() && !one.failure.empty()) table.failure = one.failure;
  }
  return table;
}

void StudyGrid::write_metrics(const GridResults& results, RunWriter& out) const {
  std::vector<std::string> leading;
  if (!variants_.empty())
    for (const auto& [name, value] : variants_.front().tags) leading.push_back(name);
  leading.emplace_back("seed");
  CsvTable csv = study_columns().table(leading);
  for (std::size_t v = 0; v < variants_.size(); ++v)
    for (const auto& seed : results[v])
      for (const auto& r : seed.rows) {
        std::vector<CsvCell> cells;
        for (const auto& [name, value] : variants_[v].tags) cells.push_back(value);
        cells.emplace_back(seed.seed_index);
        study_columns().add_row(csv, std::move(cells), r);
      }
  out.csv("metrics.csv", csv);
}

Index StudyGrid::report_failures(const GridResults& results, RunWriter& out) const {
  Index failures = 0;
  for (std::size_t v = 0; v < variants_.size(); ++v)
    for (const auto& s : results[v]) {
      const std::string who = variants_.size() > 1 ? variants_[v].label + ", seed " : "seed ";
      if (s.failure) {
        ++failures;
        out.fail(fmt::format("{}{} stopped at epoch {}: {} (outputs up to that epoch written to {})", who,
                             s.seed_index, s.failed_epoch, *s.failure, out.dir().string()));
      }
      // A floor that failed leaves the per-epoch KLs intact: they are written,
      // the floor is missing ("-"), and the run still ends with exit code 4.
      for (const auto& f : s.floors.failures)
        out.fail(fmt::format("{}{}: oracle floor not computed, {} (every per-epoch KL is written to {})", who,
                             s.seed_index, f, out.dir().string()));
    }
  return failures;
}

const Columns<StudyRow>& study_columns() {
  static const Columns<StudyRow> columns = [] {
    Columns<StudyRow> c;
    c.add("epoch", [](const StudyRow& r) { return CsvCell(r.epoch); }, false);
    c.add("steps", [](const StudyRow& r) { return CsvCell(r.steps); }, false);
    c.number("train_loss", &StudyRow::train_loss);
    c.number("kl_a", &StudyRow::kl_a);
    c.number("kl_b", &StudyRow::kl_b);
    c.number("memorized_fraction", &StudyRow::memorized_fraction);
    c.number("nn_distance", &StudyRow::nn_distance);
    c.number("kl_a_small", &StudyRow::kl_a_small);
    c.number("kl_emp_a", &StudyRow::kl_emp_a);
    c.number("kl_emp_a_small", &StudyRow::kl_emp_a_small);
    c.number("weight_right", &StudyRow::weight_right);
    c.number("memorized_baseline", &StudyRow::memorized_baseline);
    c.number("nn_distance_fresh", &StudyRow::nn_distance_fresh);
    c.number("closer_to_train", &StudyRow::closer_to_train);
    // Added after the others, so that earlier columns keep their places.
    c.number("kl_b_error", &StudyRow::kl_b_error);
    return c;
  }();
  return columns;
}

SeedTable study_seed_table(const SeedResult& result) {
  SeedTable table;
  table.keys = {"epoch"};
  const auto names = study_columns().names();
  table.metrics.assign(names.begin() + 2, names.end());  // after epoch and steps
  for (const auto& r : result.rows) {
    table.key_values.push_back({std::to_string(r.epoch)});
    // In study_columns()'s order (a mismatch is an internal error of the sweep).
    table.values.push_back({r.train_loss, r.kl_a, r.kl_b, r.memorized_fraction, r.nn_distance, r.kl_a_small,
                            r.kl_emp_a, r.kl_emp_a_small, r.weight_right, r.memorized_baseline, r.nn_distance_fresh,
                            r.closer_to_train, r.kl_b_error});
  }
  auto epoch_or_nan = [](Index e) { return e < 0 ? kNaN : static_cast<double>(e); };
  const CurveMinimum a = curve_minimum(result.rows, &StudyRow::kl_a);
  const CurveMinimum b = curve_minimum(result.rows, &StudyRow::kl_b);
  table.scalars = {{"best_kl_a", a.value},
                   {"best_epoch_a", epoch_or_nan(a.epoch)},
                   {"final_kl_a", curve_last(result.rows, &StudyRow::kl_a)},
                   {"best_kl_b", b.value},
                   {"best_epoch_b", epoch_or_nan(b.epoch)},
                   {"final_kl_b", curve_last(result.rows, &StudyRow::kl_b)},
                   {"floor_population_a", result.floors.population_a},
                   {"floor_empirical_a", result.floors.empirical_a},
                   {"floor_population_b", result.floors.population_b},
                   {"floor_empirical_b", result.floors.empirical_b}};
  if (result.failure) {
    table.failure = *result.failure;
  } else if (!result.floors.failures.empty()) {
    table.failure = "oracle floor not computed, " + result.floors.failures.front();
  }
  return table;
}

std::vector<PlotSpec> density_panels(const SeedResult& seed, double reach, const std::string& title, bool with_b) {
  std::vector<PlotSpec> panels;
  for (const auto& snap : seed.snapshots) {
    PlotSpec p;
    p.title = title.empty() ? fmt::format("epoch {}", snap.epoch) : fmt::format("{}, epoch {}", title, snap.epoch);
    p.xlabel = "x";
    p.ylabel = "density";
    p.xrange = std::pair{-reach, reach};
    p.key = &snap == &seed.snapshots.front() ? "top right" : "off";
    auto target = Series::line("target", to_std(snap.x), to_std(snap.log_p.array().exp()));
    target.color = "black";
    p.series.push_back(target);
    p.series.push_back(Series::line(with_b ? "(a)" : "learned (a)", to_std(snap.x), to_std(snap.log_q_a.array().exp())));
    if (with_b && snap.x_b.size() > 0)
      p.series.push_back(Series::line("(b) PF-ODE", to_std(snap.x_b), to_std(snap.log_q_b.array().exp())));
    panels.push_back(std::move(p));
  }
  return panels;
}

}  // namespace diffgen
