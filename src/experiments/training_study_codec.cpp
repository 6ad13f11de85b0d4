// A training-study seed as JSON, for the engine's result files and MPI.
// Tested by training_study_test.cpp.
#include <nlohmann/json.hpp>

#include "core/json_eigen.hpp"
#include "experiments/training_study.hpp"

namespace diffgen {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StudyRow, epoch, steps, train_loss, kl_a, kl_b, kl_b_error, memorized_fraction, nn_distance,
                                   kl_a_small, kl_emp_a, kl_emp_a_small, weight_right, memorized_baseline,
                                   nn_distance_fresh, closer_to_train)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DensitySnapshot, epoch, x, log_p, log_q_a, x_b, log_q_b)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OracleFloors, population_a, empirical_a, population_b, population_b_error, smoothing_b,
                                   prior_mismatch_b, empirical_b, prior_mismatch_emp_b,
                                   population_a_small, empirical_a_small, population_emp_a, population_emp_a_small,
                                   smoothing_a, smoothing_a_small, memorizer_a_sets, memorizer_a_small_sets, failures)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemorizationBaseline, memorized_fraction, memorized_fraction_se, nn_distance,
                                   nn_distance_fresh, nn_distance_se, nn_distance_fresh_se, closer_to_train,
                                   closer_to_train_se)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StudyDiagnostics, max_target_mass_outside, max_quadrature_error_a,
                                   max_quadrature_error_b, max_solver_error_b, max_quadrature_error_a_small, ode_steps, ode_rejected_steps,
                                   train_seconds, kl_a_seconds, kl_b_seconds, floors_seconds, memorization_seconds)

nlohmann::json seed_result_to_json(const SeedResult& r) {
  return nlohmann::json{{"seed_index", r.seed_index},
                        {"rows", r.rows},
                        {"snapshots", r.snapshots},
                        {"floors", r.floors},
                        {"memorization_baseline", r.memorization_baseline},
                        {"memorization_memorizer", r.memorization_memorizer},
                        {"diagnostics", r.diagnostics},
                        {"failure", r.failure ? nlohmann::json(*r.failure) : nlohmann::json(nullptr)},
                        {"failed_epoch", r.failed_epoch},
                        {"resumed_from_epoch", r.resumed_from_epoch}};
}

SeedResult seed_result_from_json(const nlohmann::json& j) {
  SeedResult r;
  r.seed_index = j.at("seed_index").get<Index>();
  r.rows = j.at("rows").get<std::vector<StudyRow>>();
  r.snapshots = j.at("snapshots").get<std::vector<DensitySnapshot>>();
  r.floors = j.at("floors").get<OracleFloors>();
  r.memorization_baseline = j.at("memorization_baseline").get<MemorizationBaseline>();
  r.memorization_memorizer = j.at("memorization_memorizer").get<MemorizationBaseline>();
  r.diagnostics = j.at("diagnostics").get<StudyDiagnostics>();
  if (!j.at("failure").is_null()) r.failure = j.at("failure").get<std::string>();
  r.failed_epoch = j.at("failed_epoch").get<Index>();
  r.resumed_from_epoch = j.at("resumed_from_epoch").get<Index>();
  return r;
}

}  // namespace diffgen
