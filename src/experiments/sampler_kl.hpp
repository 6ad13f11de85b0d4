// `diffgen run sampler-kl`: Reeves & Pfister 2025 (THEORY.md §9) — how many
// steps a discrete-time sampler needs. For a two-mode mixture in d = 1 and
// d = 8, the exact path KL Δ_n between the comparison process and the
// sampler, its upper bounds and (in d = 1) the KL between the final
// marginals with an interval that holds it, against the number of steps
// (d = 8 by its exact reduction to d = 1), for the mean-only and the
// covariance-matched step, uniform and geometric grids, and estimators of
// E[X | Y_t] with a known error (exact, exact plus a fixed perturbation, a
// trained score network). The plan and tasks are sampler_kl.cpp; the report
// sampler_kl_report.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include "bounds/path_kl.hpp"
#include "experiments/experiment.hpp"
#include "models/registry.hpp"
#include "numerics/power_fit.hpp"
#include "report/table.hpp"
#include "sampling/discrete_time.hpp"
#include "training/train_options.hpp"

namespace diffgen {

enum class EstimatorKind { Exact, Perturbed, Trained };
enum class GridKind { Uniform, Geometric, User };

template <>
struct EnumNames<EstimatorKind> {
  static constexpr std::array table{std::pair{EstimatorKind::Exact, std::string_view("exact")},
                                    std::pair{EstimatorKind::Perturbed, std::string_view("perturbed")},
                                    std::pair{EstimatorKind::Trained, std::string_view("trained")}};
};
template <>
struct EnumNames<GridKind> {
  static constexpr std::array table{std::pair{GridKind::Uniform, std::string_view("uniform")},
                                    std::pair{GridKind::Geometric, std::string_view("geometric")},
                                    std::pair{GridKind::User, std::string_view("user")}};
};

struct SamplerKlSettings {
  std::uint64_t seed = 0;
  double target_mu = 3.0, target_var = 1.0;  // ½N(-μu, var I) + ½N(μu, var I), u = (1, ..., 1)/√d
  std::vector<Index> dimensions{1, 8};
  std::vector<Index> steps{8, 16, 32, 64, 128, 256, 512, 1024};
  std::vector<StepRule> rules{StepRule::MeanOnly, StepRule::CovarianceMatched};
  std::vector<GridKind> grids{GridKind::Uniform, GridKind::Geometric};
  double t_max = 100.0;  // t_n: the output Ŷ_n / t_n estimates X + N(0, I / t_n)
  double t_min = 1e-3;   // geometric grids: t_min ρ^k with the first point moved to 0
  DoubleList user_grid;  // empty: none
  std::vector<EstimatorKind> estimators{EstimatorKind::Exact, EstimatorKind::Perturbed, EstimatorKind::Trained};
  double perturbation = 0.01;  // ε of f = E[X | y] + ε u
  // The trained estimator (d = 1): a score network trained on the target.
  Index trained_n = 1000;
  SdeOptions sde;
  ModelOptions model;
  TrainOptions train;
  std::vector<GridKind> trained_grids{GridKind::Geometric};  // grids the trained estimator runs on
  Index mc_samples = 1000;        // d > 1
  Index quadrature_points = 401;  // d = 1
  double density_spacing = 0.6;   // d = 1 exact output density (checked at 4/3 of it)
  Index fit_min_steps = 64;       // slopes are fitted over steps >= this
  double threshold = 0.01;        // "how many steps for KL <= threshold"

  SamplerKlSettings();
};

// What the final-marginal KL of a row is (d = 1): exact (the propagated
// value, within FinalKlEstimateOptions' relative tolerance), an upper
// estimate (the upper end of the propagation's interval, where the
// sampler's density is only known from cut tails), or the path KL Δ_n where
// that is lower (data processing: the final marginals' KL is at most Δ_n).
enum class KlFinalKind { Exact, UpperEstimate, PathKl };

template <>
struct EnumNames<KlFinalKind> {
  static constexpr std::array table{std::pair{KlFinalKind::Exact, std::string_view("exact")},
                                    std::pair{KlFinalKind::UpperEstimate, std::string_view("upper_estimate")},
                                    std::pair{KlFinalKind::PathKl, std::string_view("path_kl")}};
};

// Fits and plots use the final KLs known to within this fraction: the exact
// ones, and upper estimates whose interval is this narrow (a log-log slope
// does not see such errors; the trained network's values are known to
// about 1e-4, where the propagation converges slowly in the spacing).
inline constexpr double kKlFitWidth = 1e-3;

// One observation: a (seed, dimension, rule, grid, estimator, steps) cell.
struct SamplerRow {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Index seed = 0, dimension = 1;
  StepRule rule = StepRule::MeanOnly;
  GridKind grid = GridKind::Uniform;
  EstimatorKind estimator = EstimatorKind::Exact;
  Index steps = 0;
  PathKl path;
  // d = 1: the propagated final KL, an interval that holds it
  // (bounds/final_kl_estimate.hpp) and whether it is exact.
  double kl_final = kNaN, kl_lower = kNaN, kl_upper = kNaN;
  bool kl_within_tolerance = false;
  Index density_points = 0;
  // d > 1: Δ_n from the 1-D reduction of the symmetric target (NaN when d = 1 was not run).
  double delta_reduction = kNaN;
  bool has_path = false;
  std::string failure;

  bool has_density() const { return dimension == 1 && !std::isnan(kl_final); }
  bool kl_exact() const { return std::isfinite(kl_final) && kl_within_tolerance; }
  // Known to within kKlFitWidth of kl_reported().
  bool kl_resolved() const;
  // What is reported: the exact value, or else the lower of the interval's
  // upper end and Δ_n (NaN without a density).
  KlFinalKind kl_kind() const;
  double kl_reported() const;
  // The width of an interval that holds the KL: [kl_lower, kl_upper] for an
  // exact value, [kl_lower, kl_reported()] otherwise.
  double kl_error() const;
  // Δ_n as reported: exact (quadrature in d = 1, the 1-D reduction in
  // d > 1, standard error 0) where it can be, else the Monte Carlo estimate.
  Estimate delta_reported() const;
  std::string_view delta_source() const;  // "quadrature", "1-D reduction" or "Monte Carlo"
};

// The keys of sampler-kl, and the checks across them (ConfigError naming the keys).
const OptionTable<SamplerKlSettings>& sampler_kl_options();
void check_sampler_kl_settings(SamplerKlSettings& settings);

// The grid of `kind` with n steps (the user grid: grid.user, whatever n).
Vector sampler_grid(const SamplerKlSettings& s, GridKind kind, Index n);
// Whether the estimator runs in dimension d on grid kind g.
bool estimator_runs(const SamplerKlSettings& s, EstimatorKind e, Index d, GridKind g);

// The series a fit or a plot follows: a cell without its step count.
struct SamplerSeriesKey {
  Index seed, dimension;
  StepRule rule;
  GridKind grid;
  EstimatorKind estimator;
  // Grids by name (geometric, uniform, user): the order of summary.json's fits.
  auto tie() const { return std::make_tuple(seed, dimension, rule, enum_name(grid), estimator); }
  bool operator<(const SamplerSeriesKey& o) const { return tie() < o.tie(); }
};
using SamplerSeries = std::map<SamplerSeriesKey, std::vector<const SamplerRow*>>;
// Δ_n of every d > 1 row from the d = 1 row of the same cell (the target is
// the 1-D mixture along u plus d - 1 Gaussian coordinates): into delta_reduction.
void add_sampler_reductions(const SamplerKlSettings& s, std::vector<SamplerRow>& rows);

// The rows of each series (user grids excluded: one step count each).
SamplerSeries sampler_series(const std::vector<SamplerRow>& rows);

// A power-law fit against n over n >= fit.min_steps of KL final (d = 1,
// values known to kKlFitWidth), Δ_n (as reported) or, in d > 1, its Monte
// Carlo estimate.
struct SamplerFit {
  SamplerSeriesKey key;
  std::string metric;  // "kl_final" | "delta_n" | "delta_n_monte_carlo"
  PowerFit fit;
  std::optional<Index> measured;  // smallest n reaching the threshold
  double power_law_steps = SamplerRow::kNaN;  // where the fitted line crosses it
  std::string source;  // of the values: "output density", "quadrature", "1-D reduction" or "Monte Carlo"
};
std::vector<SamplerFit> sampler_kl_fits(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows);

// The fitted slope of Δ_n against n (and of the final KL in d = 1) of every
// series of `rows`, named "slope.<metric>.d<d>.<rule>.<grid>.<estimator>".
std::map<std::string, double> sampler_kl_slopes(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows);

// The report's context (reports/sampler-kl.md) and the terminal's tables.
struct SamplerKlText {
  nlohmann::json context;
  std::string fit_table, literature_table;  // as terminal text
};
SamplerKlText sampler_kl_text(const SamplerKlSettings& s, Index seeds, const std::vector<SamplerRow>& rows,
                              const nlohmann::json& summary);
// The plots: per dimension, a panel per (estimator, grid) against n.
void add_sampler_kl_plots(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows, RunWriter& out);

// Writes every output of a run from its rows (in plan order).
void write_sampler_kl_report(const SamplerKlSettings& s, Index seeds, std::vector<SamplerRow> rows, RunWriter& out);

}  // namespace diffgen
