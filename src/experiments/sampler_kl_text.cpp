// sampler-kl's report context (reports/sampler-kl.md) and terminal tables.
// Tested by sampler_kl_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bounds/final_kl_estimate.hpp"
#include "experiments/sampler_kl.hpp"
#include "report/spread.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;

std::string rule_label(StepRule r) {
  return r == StepRule::MeanOnly ? "mean-only" : "covariance-matched";
}

std::string slope_text(const SamplerFit* f) {
  return f ? format_pm(f->fit.slope, f->fit.slope_ci95) : "-";
}

std::string steps_text(const SamplerFit* f, Index n_max) {
  if (!f) return "-";
  if (f->measured) return std::to_string(*f->measured);
  // The fitted line's crossing, when it is a modest extrapolation of a clear decrease.
  if (std::isfinite(f->power_law_steps) && f->fit.slope < -0.5 && f->power_law_steps < 100.0 * static_cast<double>(n_max))
    return fmt::format("> {} (≈{} by the fit)", n_max, format_significant(f->power_law_steps, 2));
  return fmt::format("> {}", n_max);
}

Table fit_table(const SamplerKlSettings& s, const std::vector<SamplerFit>& fits) {
  Table table({"d", "estimator", "grid", "step rule", "slope KL final", "slope Δ_n", "slope Δ_n, Monte Carlo",
               fmt::format("n: KL final ≤ {}", s.threshold), fmt::format("n: Δ_n ≤ {}", s.threshold)});
  const auto find = [&](const SamplerSeriesKey& key, const std::string& metric) -> const SamplerFit* {
    for (const auto& f : fits)
      if (!(f.key < key) && !(key < f.key) && f.metric == metric) return &f;
    return nullptr;
  };
  const Index n_max = s.steps.back();
  for (Index d : s.dimensions)
    for (EstimatorKind est : s.estimators)
      for (GridKind g : s.grids)
        for (StepRule rule : s.rules) {
          if (!estimator_runs(s, est, d, g)) continue;
          const SamplerSeriesKey key{0, d, rule, g, est};
          const SamplerFit *kf = find(key, "kl_final"), *df = find(key, "delta_n"),
                           *mf = find(key, "delta_n_monte_carlo");
          table.add_row({d, std::string(enum_name(est)), std::string(enum_name(g)), rule_label(rule),
                         d == 1 ? slope_text(kf) : "-", slope_text(df), d == 1 ? "-" : slope_text(mf),
                         d == 1 ? steps_text(kf, n_max) : "-", steps_text(df, n_max)});
        }
  return table;
}

std::string estimators_text(const SamplerKlSettings& s) {
  std::string t;
  for (EstimatorKind e : s.estimators) {
    if (!t.empty()) t += ", ";
    if (e == EstimatorKind::Exact) t += "exact (closed form)";
    if (e == EstimatorKind::Perturbed)
      t += fmt::format("exact + {} along u (ε_k = {} at every step)", s.perturbation, s.perturbation);
    if (e == EstimatorKind::Trained)
      t += fmt::format("a {} score network ({} hidden units, {} lr {}, {} epochs on {} samples, {} SDE) through "
                       "Tweedie's formula (d = 1)",
                       s.model.kind, s.model.mlp.hidden, enum_name(s.train.trainer.optimizer.kind),
                       s.train.trainer.optimizer.lr, s.train.epochs, s.trained_n, enum_name(s.sde.kind));
  }
  return t;
}

// Δ_n of a row: the exact value, with the Monte Carlo estimate and its 95%
// interval beside it in d > 1 (only the estimate where no reduction exists).
std::string delta_text(const SamplerRow& r) {
  if (!r.has_path) return "-";
  const Estimate& mc = r.path.delta_n;
  const std::string monte_carlo =
      format_significant(mc.value, 3) + " ± " + format_significant(1.96 * mc.standard_error, 2);
  if (r.dimension == 1) return format_significant(mc.value, 3);
  if (!std::isfinite(r.delta_reduction)) return monte_carlo + " (Monte Carlo)";
  return fmt::format("{} (1-D reduction; Monte Carlo {})", format_significant(r.delta_reduction, 3), monte_carlo);
}

// The final KL of a d = 1 row, with what it is when not exact.
std::string kl_final_text(const SamplerRow& r) {
  if (!r.has_density()) return "-";
  const std::string v = format_significant(r.kl_reported(), 3);
  if (r.kl_kind() == KlFinalKind::Exact) return v;
  const std::string lower = format_significant(r.kl_lower, 3);
  return r.kl_kind() == KlFinalKind::PathKl ? fmt::format("between {} and Δ_n", lower)
                                            : fmt::format("between {} and {} (upper estimate)", lower, v);
}

// Headline numbers at the largest n, read off this run (seed 0).
std::vector<std::string> facts(const SamplerKlSettings& s, const std::vector<SamplerRow>& rows) {
  const Index n_max = s.steps.back();
  const auto row_at = [&](Index d, StepRule rule, GridKind g, EstimatorKind est) -> const SamplerRow* {
    for (const auto& r : rows)
      if (r.seed == 0 && r.dimension == d && r.rule == rule && r.grid == g && r.estimator == est && r.steps == n_max)
        return &r;
    return nullptr;
  };
  std::vector<std::string> out;
  for (Index d : s.dimensions)
    for (EstimatorKind est : s.estimators)
      for (GridKind g : s.grids) {
        if (!estimator_runs(s, est, d, g)) continue;
        std::string line = fmt::format("d = {}, {}, {} grid, n = {}:", d, enum_name(est), enum_name(g), n_max);
        for (StepRule rule : s.rules) {
          const SamplerRow* r = row_at(d, rule, g, est);
          line += fmt::format(" {} Δ_n = {}", rule_label(rule), r ? delta_text(*r) : "-");
          if (d == 1) line += fmt::format(", KL final = {}", r ? kl_final_text(*r) : "-");
          line += ";";
        }
        if (est == EstimatorKind::Perturbed)
          line += fmt::format(" the perturbation alone contributes ½ t_n ε² = {} to Δ_n.",
                              format_significant(0.5 * s.t_max * s.perturbation * s.perturbation, 3));
        out.push_back(line);
      }
  return out;
}

std::vector<std::string> diagnostics(const SamplerKlSettings& s, const Json& summary) {
  const auto& d = summary["diagnostics"];
  const Index exact = d["kl_final_exact"].get<Index>(), upper = d["kl_final_upper_estimates"].get<Index>(),
              capped = d["kl_final_path_kl"].get<Index>();
  std::vector<std::string> out{
      fmt::format("final KLs (d = 1): each propagated twice, at density.spacing = {} and {} times coarser, with "
                  "bounds from the mass the propagation drops; {} exact (the interval that holds the KL narrower "
                  "than {} of it; the widest was {} of it); {} upper estimate{} (the interval's upper end) and {} "
                  "capped at the path KL Δ_n (their interval reaches above it), marked in kl_final_kind; fits and "
                  "plots use the values known to within {} of themselves",
                  format_significant(s.density_spacing, 3), format_significant(FinalKlEstimateOptions().check_ratio, 3),
                  exact, format_significant(d["kl_final_relative_tolerance"].get<double>(), 2),
                  format_significant(d["largest_relative_error_of_exact_kl"].get<double>(), 2), upper,
                  upper == 1 ? "" : "s", capped, format_significant(kKlFitWidth, 2)),
      fmt::format("KL final ≤ Δ_n ≤ grid bound ≤ bound (d > 1: within 2 standard errors of the Monte Carlo bounds): "
                  "{} of {} rows",
                  d["bound_chain_rows"].get<Index>() - d["bound_chain_violations"].get<Index>(),
                  d["bound_chain_rows"].get<Index>()),
      fmt::format("Monte Carlo Δ_n (d > 1) against its exact value from the 1-D reduction: {} cells, largest "
                  "|difference| / standard error {}",
                  d["monte_carlo_checks_against_the_1d_reduction"].get<Index>(),
                  format_significant(d["largest_z_against_the_1d_reduction"].get<double>(), 3)),
      fmt::format("largest density grid: {} points; Monte Carlo draws (d > 1): {}; quadrature nodes (d = 1): {}",
                  d["largest_density_grid"].get<Index>(), s.mc_samples, s.quadrature_points),
      "wall-clock times: timing.json"};
  for (const auto& w : summary["warnings"]) out.push_back("note: " + w.get<std::string>());
  for (const auto& f : summary["failures"])
    out.push_back(fmt::format("**failed** (d = {}, {}, {}, {}, n = {}): {}", f["dimension"].get<Index>(),
                              f["rule"].get<std::string>(), f["grid"].get<std::string>(),
                              f["estimator"].get<std::string>(), f["steps"].get<Index>(),
                              f["message"].get<std::string>()));
  return out;
}

}  // namespace

SamplerKlText sampler_kl_text(const SamplerKlSettings& s, Index seeds, const std::vector<SamplerRow>& rows,
                              const Json& summary) {
  SamplerKlText text;
  const Table fits = fit_table(s, sampler_kl_fits(s, rows));
  Table literature({"d", "Benton et al. 2024", "Chen et al. 2023"});
  for (const auto& l : summary["literature"]["rates"])
    literature.add_row({l["dimension"].get<Index>(), format_significant(l["benton_2024"].get<double>(), 2),
                        format_significant(l["chen_2023"].get<double>(), 2)});
  text.fit_table = fits.to_text();
  text.literature_table = literature.to_text();
  std::string dims;
  for (Index d : s.dimensions) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  text.context = {{"t_max", format_significant(s.t_max, 4)},
                  {"t_min", format_significant(s.t_min, 3)},
                  {"mu", format_double(s.target_mu)},
                  {"var", format_double(s.target_var)},
                  {"dimensions", dims},
                  {"estimators", estimators_text(s)},
                  {"fit_min_steps", s.fit_min_steps},
                  {"density_spacing", format_significant(s.density_spacing, 3)},
                  {"check_ratio", format_significant(FinalKlEstimateOptions().check_ratio, 3)},
                  {"kl_tolerance", format_significant(FinalKlEstimateOptions().relative_tolerance, 2)},
                  {"fit_width", format_significant(kKlFitWidth, 2)},
                  {"several", seeds > 1},
                  {"fit_table", fits.to_markdown()},
                  {"threshold", format_double(s.threshold)},
                  {"lipschitz", format_significant(summary["literature"]["score_lipschitz"].get<double>(), 3)},
                  {"literature_table", literature.to_markdown()},
                  {"facts", facts(s, rows)},
                  {"diagnostics", diagnostics(s, summary)},
                  {"seeds", seeds}};
  return text;
}

}  // namespace diffgen
