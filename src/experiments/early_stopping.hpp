// `diffgen run early-stopping`: Li2023 §4.1.1, Fig. 3 — KL(target ‖ learned)
// along training on ½N(-3,1) + ½N(3,1): it falls, reaches a minimum, then
// rises as the model drifts toward the training set. The experiment is
// early_stopping.cpp; its summary.json (early_stopping_summary.cpp), the
// memorization reading (memorization_reading.cpp) and plots
// (early_stopping_plots.cpp) are declared here.
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/study_readings.hpp"
#include "experiments/training_study.hpp"
#include "numerics/statistics.hpp"
#include "report/run_writer.hpp"

namespace diffgen {

// The three memorization measures of THEORY.md §8 at the last epoch (seed
// means), each with its reference values and what it points to: JSON for
// summary.json and one Markdown line per measure for report.md.
struct MemorizationReading {
  nlohmann::json json = nlohmann::json::object();
  std::vector<std::string> lines;
};
MemorizationReading memorization_reading(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s);

// The definitions of the measures, as summary.json and report.md state them.
struct StudyDefinitions {
  std::string kl_a, kl_b, kl_small, no_kl;
  std::string emp(double t0) const;
};
StudyDefinitions study_definitions(const TrainingStudySettings& s);

// summary.json of the early-stopping experiment (warnings about the
// quadrature go to `warnings`).
nlohmann::json early_stopping_summary(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                                      std::vector<std::string>& warnings);

// The oracle floors (oracle_floors.cpp): summary.json's "floors", and the
// report's lines naming each for what it is.
nlohmann::json floors_json(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s);
std::vector<std::string> floor_lines(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s);

// Queues the plots of a training study: KL with its floors, KL at the smaller
// t0, the weight of the right mode, the densities of seed 0, memorization of
// samples, the training loss.
void add_study_plots(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s, RunWriter& out);

}  // namespace diffgen
