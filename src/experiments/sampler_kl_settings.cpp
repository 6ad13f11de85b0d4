// sampler-kl's keys (experiments/sampler_kl.hpp) and the checks across them.
// Tested by sampler_kl_test.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "experiments/sampler_kl.hpp"

namespace diffgen {
namespace {

using S = SamplerKlSettings;

OptionTable<S> make_table() {
  OptionTable<S> t;
  t.add("seed", [](S& s) -> auto& { return s.seed; },
        "base seed; seed k of --seeds K draws the Monte Carlo samples (d > 1) and trains the network from streams of "
        "(seed, k); the quadratures of d = 1 do not depend on it",
        {.min = 0});
  t.add("target.mu", [](S& s) -> auto& { return s.target_mu; },
        "modes at ±mu·u, u = (1, ..., 1)/√d: the target is ½N(-mu·u, var I) + ½N(mu·u, var I) (the foundation "
        "experiment's target in d = 1)",
        {.min = 0.0, .min_exclusive = true});
  t.add("target.var", [](S& s) -> auto& { return s.target_var; }, "variance of each mode, per coordinate",
        {.min = 0.0, .min_exclusive = true});
  t.add("dimensions", [](S& s) -> auto& { return s.dimensions; },
        "dimensions d of the target; d = 1 by quadrature (with the final-marginal KL), d > 1: Δ_n exact by reduction "
        "to d = 1 (when 1 is run) beside its Monte Carlo estimate, bounds by Monte Carlo with standard errors",
        {.min = 1, .max = 64});
  t.add("steps", [](S& s) -> auto& { return s.steps; },
        "numbers of steps n; powers of two share all the work of the largest (the grids are nested)",
        {.min = 1, .max = 65536});
  t.add("rules", [](S& s) -> auto& { return s.rules; },
        "step rules: mean (Ŷ += δ f + √δ Z) and covariance (also + δ Σ^{1/2} Z', Reeves & Pfister's randomized step)");
  t.add("grids", [](S& s) -> auto& { return s.grids; },
        "time grids on [0, grid.t_max]: uniform t_k = t_max k/n, geometric (user: grid.user only)");
  t.add("grid.t_max", [](S& s) -> auto& { return s.t_max; },
        "final time t_n: the output Ŷ_n / t_n estimates X + N(0, I / t_n), so the sampler is compared with the "
        "target smoothed by noise of standard deviation 1/√t_n (0.1 at 100: a tenth of a mode's width)",
        {.min = 0.0, .max = 1e6, .min_exclusive = true});
  t.add("grid.t_min", [](S& s) -> auto& { return s.t_min; },
        "geometric grid: the points t_min ρ^k, k = 0..n, ρ = (t_max/t_min)^(1/n), with the first moved to 0",
        {.min = 0.0, .min_exclusive = true});
  t.add("grid.user", [](S& s) -> auto& { return s.user_grid; },
        "an extra grid, times increasing from 0 (e.g. [0, 0.01, 0.1, 1, 10, 100]); empty: none",
        {.min = 0.0, .min_items = 0});
  t.add("estimators", [](S& s) -> auto& { return s.estimators; },
        "estimators of E[X | Y_t = y]: exact (closed form), perturbed (exact + perturbed.eps along (1, ..., 1)/√d), "
        "trained (a score network trained on the target, through Tweedie's formula; d = 1 only)");
  t.add("perturbed.eps", [](S& s) -> auto& { return s.perturbation; },
        "size ε of the perturbation: ε_k² = ε² at every step", {.min = 0.0});
  t.add("data.n", [](S& s) -> auto& { return s.trained_n; }, "trained: training-set size", {.min = 1, .max = 1e7});
  t.include(sde_options(), [](S& s) -> auto& { return s.sde; });
  t.include(model_options(), [](S& s) -> auto& { return s.model; });
  t.include(train_options(), [](S& s) -> auto& { return s.train; });
  t.add("trained_grids", [](S& s) -> auto& { return s.trained_grids; },
        "grids the trained estimator runs on (of grids, and user for grid.user). Not uniform by default: below its "
        "smallest signal-to-noise ratio the network is queried at its horizon, where its covariance estimate is far "
        "too large, and on a uniform grid the first, long step then spreads the samples so widely that the output "
        "density costs about 80 CPU-seconds more");
  t.add("mc.samples", [](S& s) -> auto& { return s.mc_samples; },
        "d > 1: Monte Carlo draws (X, N) (even: antithetic pairs), shared by every time, step count, rule and "
        "estimator",
        {.min = 4, .max = 1e7});
  t.add("quadrature.points", [](S& s) -> auto& { return s.quadrature_points; },
        "d = 1: quadrature nodes over y for every expectation over Y_t (at least 4 per standard deviation of a "
        "component are used; 401 and 3201 agree to 1e-10 in Δ_n)",
        {.min = 101, .max = 1e6});
  t.add("density.spacing", [](S& s) -> auto& { return s.density_spacing; },
        "d = 1 output density: grid step as a fraction of the narrowest transition kernel; the final KL is "
        "propagated at this spacing and checked at 4/3 of it, and called exact when the interval that holds it "
        "(the difference of the two, and bounds from the mass the propagation drops) is narrower than 1e-6 of it",
        {.min = 0.0, .max = 0.75, .min_exclusive = true});
  t.add("fit.min_steps", [](S& s) -> auto& { return s.fit_min_steps; },
        "slopes are fitted by least squares on log-log over the step counts >= this", {.min = 1});
  t.add("threshold", [](S& s) -> auto& { return s.threshold; }, "the KL level for \"steps needed\" (summary and report)",
        {.min = 0.0, .min_exclusive = true});
  return t;
}

}  // namespace

const OptionTable<SamplerKlSettings>& sampler_kl_options() {
  static const OptionTable<S> table = make_table();
  return table;
}

void check_sampler_kl_settings(SamplerKlSettings& s) {
  std::sort(s.dimensions.begin(), s.dimensions.end());
  std::sort(s.steps.begin(), s.steps.end());
  if (!(s.t_min < s.t_max))
    throw ConfigError(fmt::format("grid.t_min = {} must be below grid.t_max = {}", s.t_min, s.t_max));
  if (!s.user_grid.empty()) {
    // The sampler starts from Y_0 = 0 at t = 0: a usable grid that starts there.
    std::string problem = validate_discrete_time_grid(sampler_grid(s, GridKind::User, 0));
    if (problem.empty() && s.user_grid[0] != 0.0) problem = "it starts at t = " + format_double(s.user_grid[0]);
    if (!problem.empty())
      throw ConfigError(fmt::format("grid.user = {} must increase strictly from 0 (the sampler starts from Y_0 = 0 "
                                    "at t = 0) with at least two times: {}",
                                    format_value(DoubleList(s.user_grid)), problem));
  }
  if (s.mc_samples % 2 != 0)
    throw ConfigError(fmt::format("mc.samples = {} must be even (the draws come in antithetic pairs)", s.mc_samples));
  s.train.trainer.eps = s.sde.eps;
  for (const auto& e : {s.sde.validate(), s.model.validate(), s.train.validate()})
    if (!e.empty()) throw ConfigError(e);
}

}  // namespace diffgen
