// sampler-kl's outputs (experiments/sampler_kl.hpp): metrics.csv, the power
// fits and steps needed, the literature's rates, plots, summary.json, report.
// Tested by sampler_kl_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

#include "bounds/final_kl_estimate.hpp"
#include "experiments/report_templates.hpp"
#include "experiments/sampler_kl.hpp"
#include "numerics/power_fit.hpp"
#include "report/columns.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using FitResult = SamplerFit;

// The Lipschitz constant of the two-mode target's score at t = 0,
// max |∂² log p| = max(1, μ²/var - 1) / var, for the Chen et al. 2023 rate.
double score_lipschitz(double mu, double var) {
  return std::max(1.0, mu * mu / var - 1.0) / var;
}

const Columns<SamplerRow>& sampler_columns() {
  static const Columns<SamplerRow> columns = [] {
    Columns<SamplerRow> c;
    const auto path = [](const SamplerRow& r, double v) {
      return r.has_path ? CsvCell::finite_or_missing(v) : CsvCell::missing();
    };
    const auto d1 = [](const SamplerRow& r) { return r.has_density(); };
    c.add("seed", [](const SamplerRow& r) { return CsvCell(r.seed); }, false);
    c.add("dimension", [](const SamplerRow& r) { return CsvCell(r.dimension); }, false);
    c.add("rule", [](const SamplerRow& r) { return CsvCell(step_rule_name(r.rule)); }, false);
    c.add("grid", [](const SamplerRow& r) { return CsvCell(enum_name(r.grid)); }, false);
    c.add("estimator", [](const SamplerRow& r) { return CsvCell(enum_name(r.estimator)); }, false);
    c.add("steps", [](const SamplerRow& r) { return CsvCell(r.steps); }, false);
    c.add("t_max", [=](const SamplerRow& r) { return path(r, r.path.t_max); });
    c.add("delta_max", [=](const SamplerRow& r) { return path(r, r.path.delta_max); });
    c.add("kl_final",
          [=](const SamplerRow& r) { return d1(r) ? CsvCell::finite_or_missing(r.kl_reported()) : CsvCell(); });
    c.add("kl_final_lower",
          [=](const SamplerRow& r) { return d1(r) ? CsvCell::finite_or_missing(r.kl_lower) : CsvCell(); });
    c.add("kl_final_error",
          [=](const SamplerRow& r) { return d1(r) ? CsvCell::finite_or_missing(r.kl_error()) : CsvCell(); });
    c.add("kl_final_exact", [=](const SamplerRow& r) { return d1(r) ? CsvCell(r.kl_exact()) : CsvCell(); });
    c.add("kl_final_kind", [=](const SamplerRow& r) { return d1(r) ? CsvCell(enum_name(r.kl_kind())) : CsvCell(); });
    c.add("delta_n", [=](const SamplerRow& r) { return path(r, r.delta_reported().value); });
    c.add("delta_n_se", [=](const SamplerRow& r) { return path(r, r.delta_reported().standard_error); });
    c.add("delta_n_source", [](const SamplerRow& r) { return r.has_path ? CsvCell(r.delta_source()) : CsvCell(); });
    const auto mc = [=](const SamplerRow& r, double v) { return r.dimension > 1 ? path(r, v) : CsvCell(); };
    c.add("delta_n_monte_carlo", [=](const SamplerRow& r) { return mc(r, r.path.delta_n.value); });
    c.add("delta_n_monte_carlo_se", [=](const SamplerRow& r) { return mc(r, r.path.delta_n.standard_error); });
    for (const auto& [name, field] :
         {std::pair{"discretization", &PathKl::discretization}, std::pair{"estimation", &PathKl::estimation},
          std::pair{"bound", &PathKl::bound}, std::pair{"bound_grid", &PathKl::bound_grid},
          std::pair{"mutual_information", &PathKl::mutual_information}}) {
      c.add(name, [=, f = field](const SamplerRow& r) { return path(r, (r.path.*f).value); });
      c.add(std::string(name) + "_se", [=, f = field](const SamplerRow& r) { return path(r, (r.path.*f).standard_error); });
    }
    c.add("density_points", [=](const SamplerRow& r) { return d1(r) ? CsvCell(r.density_points) : CsvCell(); });
    return c;
  }();
  return columns;
}

// Least squares on log-log over the step counts >= fit.min_steps, and the
// smallest n whose value reaches the threshold.
FitResult fit_series(const SamplerKlSettings& s, const SamplerSeriesKey& key, const std::vector<const SamplerRow*>& list,
                     const std::string& metric) {
  FitResult fr{key, metric, {}, std::nullopt, kNaN, "output density"};
  if (metric != "kl_final") fr.source = metric == "delta_n" && !list.empty() ? list[0]->delta_source() : "Monte Carlo";
  std::vector<double> xf, yf;
  for (const SamplerRow* r : list) {
    const bool usable = metric == "kl_final" ? r->kl_resolved() : r->has_path;
    const double v = metric == "kl_final"              ? r->kl_reported()
                     : metric == "delta_n_monte_carlo" ? r->path.delta_n.value
                                                       : r->delta_reported().value;
    if (!usable) continue;
    if (!fr.measured && v <= s.threshold) fr.measured = r->steps;
    if (r->steps >= s.fit_min_steps) {
      xf.push_back(static_cast<double>(r->steps));
      yf.push_back(v);
    }
  }
  fr.fit = fit_power_law(xf, yf);
  if (std::isfinite(fr.fit.slope) && fr.fit.slope < 0.0)
    fr.power_law_steps = std::exp((std::log(s.threshold) - fr.fit.intercept) / fr.fit.slope);
  return fr;
}

Json fit_json(const SamplerKlSettings& s, const FitResult& f) {
  const auto n_max = static_cast<double>(s.steps.back());
  Json j{{"dimension", f.key.dimension},
         {"rule", std::string(step_rule_name(f.key.rule))},
         {"grid", enum_name(f.key.grid)},
         {"estimator", enum_name(f.key.estimator)},
         {"seed", f.key.seed},
         {"metric", f.metric},
         {"source", f.source},
         {"points", f.fit.points}};
  j["slope"] = std::isfinite(f.fit.slope) ? Json(f.fit.slope) : Json(nullptr);
  j["slope_se"] = std::isfinite(f.fit.slope_se) ? Json(f.fit.slope_se) : Json(nullptr);
  j["steps_measured"] = f.measured ? Json(*f.measured) : Json(nullptr);
  j["steps_power_law"] = std::isfinite(f.power_law_steps) ? Json(f.power_law_steps) : Json(nullptr);
  j["power_law_extrapolated"] = std::isfinite(f.power_law_steps) &&
                                (f.power_law_steps > n_max || f.power_law_steps < static_cast<double>(s.fit_min_steps));
  return j;
}

// Literature rates (THEORY.md §9), with their constants and logarithmic
// factors set to 1: orders of magnitude of sufficient step counts, not predictions.
Json literature_json(const SamplerKlSettings& s) {
  const double lipschitz = score_lipschitz(s.target_mu, s.target_var);
  Json rates = Json::array();
  for (Index d : s.dimensions) {
    const double delta_ou = 1.0 / (2.0 * s.t_max);  // OU time whose SNR e^{-2δ}/(1 - e^{-2δ}) ≈ 1/(2δ) is t_max
    rates.push_back({{"dimension", d},
                     {"benton_2024", static_cast<double>(d) * std::pow(std::log(1.0 / delta_ou), 2) / s.threshold},
                     {"chen_2023", lipschitz * lipschitz * static_cast<double>(d) / s.threshold}});
  }
  return {{"note",
           "sufficient step counts for KL <= threshold from the rates of THEORY.md §9 with constants and log "
           "factors set to 1 (orders of magnitude): Benton et al. 2024 d log²(1/δ)/ε² with δ = 1/(2 t_max) (the "
           "OU time of the same signal-to-noise ratio) and ε² = threshold; Chen et al. 2023 L² d/ε² with L the "
           "Lipschitz constant of the target's score"},
          {"score_lipschitz", lipschitz},
          {"rates", rates}};
}

// Whether a row satisfies KL final ≤ Δ_n ≤ grid bound ≤ bound (THEORY.md
// §9): exactly (to rounding) in d = 1, where only exact final KLs enter; in
// d > 1 within 2 standard errors of the Monte Carlo bounds.
bool bound_chain_holds(const SamplerRow& r) {
  const double slack = r.dimension == 1 ? 0.0 : 2.0;
  const double dn = r.delta_reported().value;
  const auto below = [](double a, double b, double se) { return a <= b * (1.0 + 1e-9) + 1e-14 + se; };
  return (!r.kl_exact() || below(r.kl_final, dn, 0.0)) &&
         below(dn, r.path.bound_grid.value, slack * r.path.bound_grid.standard_error) &&
         below(r.path.bound_grid.value, r.path.bound.value,
               slack * std::hypot(r.path.bound_grid.standard_error, r.path.bound.standard_error));
}

Json diagnostics_json(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows) {
  double worst_z = 0.0, worst_error = 0.0;
  Index reduction_checks = 0, largest_density = 0, chain_rows = 0, chain_violations = 0;
  std::map<KlFinalKind, Index> kinds{
      {KlFinalKind::Exact, 0}, {KlFinalKind::UpperEstimate, 0}, {KlFinalKind::PathKl, 0}};
  for (const auto& r : rows) {
    if (std::isfinite(r.delta_reduction) && r.path.delta_n.standard_error > 0.0) {
      worst_z = std::max(worst_z, std::abs(r.path.delta_n.value - r.delta_reduction) / r.path.delta_n.standard_error);
      ++reduction_checks;
    }
    if (r.has_path) {
      ++chain_rows;
      if (!bound_chain_holds(r)) ++chain_violations;
    }
    if (!r.has_density()) continue;
    largest_density = std::max(largest_density, r.density_points);
    ++kinds[r.kl_kind()];
    if (r.kl_exact() && r.kl_final > 0.0) worst_error = std::max(worst_error, (r.kl_upper - r.kl_lower) / r.kl_final);
  }
  return {{"monte_carlo_checks_against_the_1d_reduction", reduction_checks},
          {"largest_z_against_the_1d_reduction", worst_z},
          {"kl_final_exact", kinds[KlFinalKind::Exact]},
          {"kl_final_upper_estimates", kinds[KlFinalKind::UpperEstimate]},
          {"kl_final_path_kl", kinds[KlFinalKind::PathKl]},
          {"kl_final_relative_tolerance", FinalKlEstimateOptions().relative_tolerance},
          {"largest_relative_error_of_exact_kl", worst_error},
          {"bound_chain_rows", chain_rows},
          {"bound_chain_violations", chain_violations},
          {"largest_density_grid", largest_density},
          {"mc_samples", s.mc_samples},
          {"quadrature_points", s.quadrature_points}};
}

Json failures_json(const std::vector<SamplerRow>& rows) {
  Json failures = Json::array();
  for (const auto& r : rows)
    if (!r.failure.empty())
      failures.push_back({{"seed", r.seed},
                          {"dimension", r.dimension},
                          {"rule", std::string(step_rule_name(r.rule))},
                          {"grid", enum_name(r.grid)},
                          {"estimator", enum_name(r.estimator)},
                          {"steps", r.steps},
                          {"message", r.failure}});
  return failures;
}

}  // namespace

KlFinalKind SamplerRow::kl_kind() const {
  if (kl_exact()) return KlFinalKind::Exact;
  return has_path && path.delta_n.value < kl_upper ? KlFinalKind::PathKl : KlFinalKind::UpperEstimate;
}

bool SamplerRow::kl_resolved() const {
  if (kl_exact()) return true;
  const double v = kl_reported();
  return has_density() && std::isfinite(v) && kl_error() <= kKlFitWidth * v;
}

double SamplerRow::kl_reported() const {
  if (std::isnan(kl_final)) return kl_final;  // no density (d > 1, a failure)
  switch (kl_kind()) {
    case KlFinalKind::Exact:
      return kl_final;
    case KlFinalKind::PathKl:
      return path.delta_n.value;
    case KlFinalKind::UpperEstimate:
      break;
  }
  return kl_upper;
}

double SamplerRow::kl_error() const {
  return (kl_exact() ? kl_upper : kl_reported()) - kl_lower;
}

Estimate SamplerRow::delta_reported() const {
  return std::isfinite(delta_reduction) ? Estimate{delta_reduction, 0.0} : path.delta_n;
}

std::string_view SamplerRow::delta_source() const {
  if (dimension == 1) return "quadrature";
  return std::isfinite(delta_reduction) ? "1-D reduction" : "Monte Carlo";
}

// The d > 1 target is the 1-D mixture along u plus d - 1 independent
// N(0, var) coordinates, and u is also the perturbation's direction, so
// for the exact and perturbed estimators Δ_n(d) = Δ_n(1) + (d - 1) Δ_Gauss
// for the mean-only step (Δ_Gauss = ½ Σ [δ_k v_k - log(1 + δ_k v_k)],
// v_k = var / (1 + t_k var)) and Δ_n(d) = Δ_n(1) for the covariance-matched
// one (the Gaussian coordinates' steps are exact): an exact value, reported
// in place of the Monte Carlo estimate, which checks it.
void add_sampler_reductions(const SamplerKlSettings& s, std::vector<SamplerRow>& rows) {
  std::map<std::tuple<Index, StepRule, GridKind, EstimatorKind, Index>, double> one_d;
  for (const auto& r : rows)
    if (r.dimension == 1 && r.has_path) one_d[{r.seed, r.rule, r.grid, r.estimator, r.steps}] = r.path.delta_n.value;
  for (auto& r : rows) {
    if (r.dimension == 1 || !r.has_path) continue;
    const auto it = one_d.find({r.seed, r.rule, r.grid, r.estimator, r.steps});
    if (it == one_d.end()) continue;
    double gauss = 0.0;
    if (r.rule == StepRule::MeanOnly) {
      const Vector g = sampler_grid(s, r.grid, r.steps);
      for (Index k = 0; k + 1 < g.size(); ++k) {
        const double v = s.target_var / (1.0 + g[k] * s.target_var), dk = g[k + 1] - g[k];
        gauss += 0.5 * (dk * v - std::log1p(dk * v));
      }
    }
    r.delta_reduction = it->second + static_cast<double>(r.dimension - 1) * gauss;
  }
}

SamplerSeries sampler_series(const std::vector<SamplerRow>& rows) {
  SamplerSeries series;
  for (const auto& r : rows)
    if (r.grid != GridKind::User) series[{r.seed, r.dimension, r.rule, r.grid, r.estimator}].push_back(&r);
  return series;
}

std::vector<SamplerFit> sampler_kl_fits(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows) {
  std::vector<SamplerFit> fits;
  for (const auto& [key, list] : sampler_series(rows)) {
    // d = 1: the final KL and Δ_n; d > 1: Δ_n and, beside it, its Monte Carlo estimate.
    const bool one = key.dimension == 1;
    for (const std::string metric : {one ? "kl_final" : "delta_n", one ? "delta_n" : "delta_n_monte_carlo"})
      fits.push_back(fit_series(s, key, list, metric));
  }
  return fits;
}

std::map<std::string, double> sampler_kl_slopes(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows) {
  std::map<std::string, double> out;
  for (const auto& f : sampler_kl_fits(s, rows))
    out[fmt::format("slope.{}.d{}.{}.{}.{}", f.metric, f.key.dimension, step_rule_name(f.key.rule),
                    enum_name(f.key.grid), enum_name(f.key.estimator))] = f.fit.slope;
  return out;
}

void write_sampler_kl_report(const SamplerKlSettings& s, Index seeds, std::vector<SamplerRow> rows, RunWriter& out) {
  CsvTable csv = sampler_columns().table();
  for (const auto& r : rows) sampler_columns().add_row(csv, {}, r);
  out.csv("metrics.csv", csv);
  const bool trained = std::count(s.estimators.begin(), s.estimators.end(), EstimatorKind::Trained) > 0;
  if (trained && !(s.dimensions.size() == 1 && s.dimensions[0] == 1))
    out.warn("the trained estimator is a 1-D network: it is used in d = 1 only");
  add_sampler_kl_plots(s, rows, out);
  out.render_plots();
  Json fits = Json::array();
  for (const auto& f : sampler_kl_fits(s, rows)) fits.push_back(fit_json(s, f));
  const Json failures = failures_json(rows);
  const Json summary{{"experiment", "sampler-kl"},    {"seeds", seeds},          {"threshold", s.threshold},
                     {"t_max", s.t_max},              {"fit_min_steps", s.fit_min_steps},
                     {"fits", fits},                  {"literature", literature_json(s)},
                     {"diagnostics", diagnostics_json(s, rows)}, {"failures", failures},
                     {"warnings", out.warnings()}};
  out.json("summary.json", summary);
  const SamplerKlText text = sampler_kl_text(s, seeds, rows, summary);
  out.report(report_template("sampler-kl"), text.context);
  out.terminal(text.fit_table + "\n");
  out.terminal(fmt::format("literature (KL <= {}, constants set to 1):\n{}\n", format_significant(s.threshold, 3),
                           text.literature_table));
  if (!failures.empty())
    out.fail(fmt::format("sampler-kl: {} cell{} failed, the first: {} (outputs written to {})", failures.size(),
                         failures.size() == 1 ? "" : "s", failures[0]["message"].get<std::string>(),
                         out.dir().string()));
}

}  // namespace diffgen
