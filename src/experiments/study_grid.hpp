// Several variants of the training study (a mode distance, an optimizer
// schedule, a network width) × K seeds: the plan behind early-stopping (one
// variant), mode-shift, optimizers and capacity. Every (variant, seed) is one
// task (experiments/training_study.hpp) with its own checkpoint; each
// experiment adds only its summary and report. Each variant is bit-identical
// to `diffgen run early-stopping` with the same settings.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/io.hpp"
#include "experiments/experiment.hpp"
#include "experiments/study_readings.hpp"
#include "experiments/training_study.hpp"
#include "report/columns.hpp"

namespace diffgen {

struct StudyVariant {
  std::string slug;   // file-name safe, unique within the grid; "" for a single variant (keys seed-K)
  std::string label;  // legends and tables
  std::vector<std::pair<std::string, CsvCell>> tags;  // leading columns of metrics.csv, e.g. {"distance", 6.0}
  TrainingStudySettings settings;
};

// results[v][k]: variant v, seed k.
using GridResults = std::vector<std::vector<SeedResult>>;

class StudyGrid : public Study {
 public:
  StudyGrid(std::string experiment, const Config& config, std::vector<StudyVariant> variants, Index seeds);

  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index task, const TaskContext& context) const override;
  Json encode(Index task, const TaskValue& value) const override;
  TaskValue decode(Index task, const Json& json) const override;
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override;
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override;

 protected:
  // The experiment's summary and report of the finished grid.
  virtual void report_grid(const GridResults& results, RunWriter& out) const = 0;

  const std::vector<StudyVariant>& variants() const { return variants_; }
  Index seeds() const { return seeds_; }
  const std::string& experiment() const { return experiment_; }
  // metrics.csv: the variants' tags, seed, then study_columns().
  void write_metrics(const GridResults& results, RunWriter& out) const;
  // Failed seeds (in variant, seed order) reach the command line as exit 4
  // after every output is written; returns how many there were.
  Index report_failures(const GridResults& results, RunWriter& out) const;

 private:
  GridResults results_of(const std::vector<TaskValue>& values) const;

  std::string experiment_;
  Config config_;
  std::vector<StudyVariant> variants_;
  Index seeds_;
  std::vector<TaskInfo> tasks_;
};

// The columns of a study's rows, in the order of every metrics.csv.
const Columns<StudyRow>& study_columns();

// Keys {"epoch"}; metrics study_columns() after epoch and steps; scalars:
// best_kl_a, best_epoch_a, final_kl_a, best_kl_b, best_epoch_b, final_kl_b
// and the oracle floors.
SeedTable study_seed_table(const SeedResult& result);

// The densities of seed 0 at the snapshot epochs, one panel each: the target,
// definition (a) and, where evaluated, (b) (Li2023 Figs. 4-5). `title` heads
// each panel before its epoch; `with_b` adds the PF-ODE density.
std::vector<PlotSpec> density_panels(const SeedResult& seed, double reach, const std::string& title, bool with_b);

}  // namespace diffgen
