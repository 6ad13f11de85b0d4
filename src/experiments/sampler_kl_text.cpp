// sampler-kl's report context (reports/sampler-kl.md) and terminal tables.
// Tested by sampler_kl_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

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
  Table table({"d", "estimator", "grid", "step rule", "slope KL final", "slope Δ_n",
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
          const SamplerFit *kf = find(key, "kl_final"), *df = find(key, "delta_n");
          table.add_row({d, std::string(enum_name(est)), std::string(enum_name(g)), rule_label(rule),
                         d == 1 ? slope_text(kf) : "-", slope_text(df), d == 1 ? steps_text(kf, n_max) : "-",
                         steps_text(df, n_max)});
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
          const double dn = r && r->has_path ? r->path.delta_n.value : SamplerRow::kNaN;
          const double kf = r && r->kl_exact() ? r->kl_final : SamplerRow::kNaN;
          line += fmt::format(" {} Δ_n = {}", rule_label(rule), format_significant(dn, 3));
          // Monte Carlo in d > 1: its 95% interval.
          if (d > 1 && r && r->has_path) line += " ± " + format_significant(1.96 * r->path.delta_n.standard_error, 2);
          if (d == 1) line += fmt::format(", KL final = {}", format_significant(kf, 3));
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
  const Index upper = d["kl_final_upper_estimates"].get<Index>();
  std::vector<std::string> out{
      fmt::format("exact final KLs whose comparison mass in the sampler's unresolved tails was ≤ {}: the largest such "
                  "mass was {}; {} value{} above that limit {} reported as upper estimates (marked false in "
                  "kl_final_exact, left out of fits and plots)",
                  kTailMassLimit, format_significant(d["largest_tail_mass_of_exact_kl"].get<double>(), 2), upper,
                  upper == 1 ? "" : "s", upper == 1 ? "is" : "are"),
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
