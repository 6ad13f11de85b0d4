#include "experiments/study_table.hpp"

#include <cmath>
#include <limits>

namespace diffgen {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

const std::vector<std::pair<std::string, double StudyRow::*>>& study_metrics() {
  static const std::vector<std::pair<std::string, double StudyRow::*>> metrics = {
      {"train_loss", &StudyRow::train_loss},
      {"kl_a", &StudyRow::kl_a},
      {"kl_b", &StudyRow::kl_b},
      {"memorized_fraction", &StudyRow::memorized_fraction},
      {"nn_distance", &StudyRow::nn_distance},
      {"kl_a_small", &StudyRow::kl_a_small},
      {"kl_emp_a", &StudyRow::kl_emp_a},
      {"kl_emp_a_small", &StudyRow::kl_emp_a_small},
      {"weight_right", &StudyRow::weight_right},
      {"nn_distance_fresh", &StudyRow::nn_distance_fresh},
      {"memorized_baseline", &StudyRow::memorized_baseline},
      {"closer_to_train", &StudyRow::closer_to_train},
  };
  return metrics;
}

CurveMinimum curve_minimum(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  CurveMinimum best{kNaN, -1};
  for (const auto& r : rows) {
    const double v = r.*metric;
    if (std::isfinite(v) && (best.epoch < 0 || v < best.value)) best = {v, r.epoch};
  }
  return best;
}

double curve_last(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it)
    if (std::isfinite((*it).*metric)) return (*it).*metric;
  return kNaN;
}

Index first_epoch_at_or_below(const std::vector<StudyRow>& rows, double StudyRow::*metric, double threshold) {
  for (const auto& r : rows)
    if (std::isfinite(r.*metric) && r.*metric <= threshold) return r.epoch;
  return -1;
}

SeedTable study_seed_table(const SeedResult& result) {
  SeedTable table;
  table.keys = {"epoch"};
  for (const auto& [name, field] : study_metrics()) table.metrics.push_back(name);
  for (const auto& r : result.rows) {
    std::vector<double> row{static_cast<double>(r.epoch)};
    for (const auto& [name, field] : study_metrics()) row.push_back(r.*field);
    table.rows.push_back(std::move(row));
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
  if (result.failure) table.failure = *result.failure;
  table.interrupted = result.interrupted;
  return table;
}

}  // namespace diffgen
