// The flow studies' keys (experiments/flow_study.hpp) and the checks across them.
// Tested by flow_study_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "experiments/flow_study.hpp"
#include "models/registry.hpp"

namespace diffgen {
namespace {

using S = FlowStudySettings;

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

OptionTable<S> make_table() {
  OptionTable<S> t;
  t.add("seed", [](S& s) -> auto& { return s.seed; }, "base seed; seed k of --seeds K uses streams derived from (seed, k)",
        {.min = 0});
  t.add("data.n", [](S& s) -> auto& { return s.n; },
        "training-set size of the empirical loss. 300, not the foundation's 1000: with m = 512 features the "
        "empirical minimizer at n = 1000 is as good as the early-stopped model (KL 0.00935 against 0.00933, 3 "
        "seeds), so there is no drift to show (README, gradient-flow)",
        {.min = 1, .max = 1e7});
  t.add("n_values", [](S& s) -> auto& { return s.n_values; },
        "training-set sizes of the n sweep (empirical loss, width model.random_features.width; the sets are nested: "
        "each is the first n points of the largest)",
        {.min = 1, .max = 1e7, .min_items = 2});
  t.add("m_values", [](S& s) -> auto& { return s.m_values; },
        "widths of the m sweep (population loss; the features are nested: each model is the widest one's first m)",
        {.min = 1, .max = 4096, .min_items = 2});
  t.add("target.mu", [](S& s) -> auto& { return s.target_mu; },
        "modes at -mu and +mu: the target is ½N(-mu, var) + ½N(mu, var)", {.min = 0.0, .min_exclusive = true});
  t.add("target.var", [](S& s) -> auto& { return s.target_var; }, "variance of each mode",
        {.min = 0.0, .min_exclusive = true});
  t.include(sde_options(), [](S& s) -> auto& { return s.sde; });
  t.include(random_feature_options(), [](S& s) -> auto& { return s.features; });
  t.add("expectation", [](S& s) -> auto& { return s.expectation; },
        "how the loss's expectations are taken. exact: over t by Gauss–Legendre, over z and x0 in closed form (the "
        "training set is fixed, t and z are integrated); draws: a fixed draw set (draws.per_point (t, z) per "
        "training point; draws.population fresh target samples)");
  t.add("t_nodes", [](S& s) -> auto& { return s.t_nodes; },
        "exact: Gauss–Legendre nodes over t (64 -> 128 moves the best KLs of gradient-flow by <= 1%)",
        {.min = 1, .max = 4096});
  t.add("draws.per_point", [](S& s) -> auto& { return s.draws_per_point; },
        "draws: (t, z) draws per training point in the empirical loss", {.min = 1, .max = 1e8});
  t.add("draws.population", [](S& s) -> auto& { return s.draws_population; },
        "draws: fresh target samples (one (t, z) each) in the population loss; costs N·m² flops",
        {.min = 1, .max = 1e9});
  t.add("tau.min", [](S& s) -> auto& { return s.tau_min; },
        "smallest gradient-flow time τ of the grid (dA/dτ = -∇L, L as in THEORY.md §3)",
        {.min = 0.0, .min_exclusive = true});
  t.add("tau.max", [](S& s) -> auto& { return s.tau_max; },
        "largest τ of the grid (the limit τ = ∞, the minimizer A*, is added)", {.min = 0.0, .min_exclusive = true});
  t.add("tau.per_decade", [](S& s) -> auto& { return s.tau_per_decade; }, "τ grid points per decade (log-spaced)",
        {.min = 1, .max = 1000});
  t.add("tau.refine", [](S& s) -> auto& { return s.refine_steps; },
        "golden-section steps on log τ around the grid's KL minimum (best over training; 0: the grid's)",
        {.min = 0, .max = 200});
  t.include(kl_options(), [](S& s) -> auto& { return s.kl; });
  return t;
}

}  // namespace

RandomFeatureOptions FlowStudySettings::default_features() {
  RandomFeatureOptions f;
  f.width = 512;
  f.embed_scale = 0.5;
  return f;
}

const OptionTable<FlowStudySettings>& flow_study_options() {
  static const OptionTable<S> table = make_table();
  return table;
}

FlowStudySettings flow_study_settings(const Config& config, FlowStudySettings defaults) {
  S s = flow_study_options().read(config, std::move(defaults));
  if (auto e = s.sde.validate(); !e.empty()) throw ConfigError(e);
  require(s.features.embed_dim % 2 == 0,
          fmt::format("model.random_features.embed_dim = {} must be even", s.features.embed_dim));
  if (auto e = s.features.validate(); !e.empty()) throw ConfigError("model.random_features: " + e);
  require(s.tau_min < s.tau_max, fmt::format("tau.min = {} must be below tau.max = {}", s.tau_min, s.tau_max));
  s.tau = log_tau_grid(s.tau_min, s.tau_max, s.tau_per_decade);
  const double T = make_sde(s.sde)->T();
  require(s.kl.t0 >= s.sde.eps && s.kl.t0 <= T,
          fmt::format("kl.t0 = {} must lie in [sde.eps, T] = [{}, {}]: the score is trained only there", s.kl.t0,
                      s.sde.eps, T));
  require(s.kl.grid.lo < s.kl.grid.hi, fmt::format("kl.lo = {} must be below kl.hi = {}", s.kl.grid.lo, s.kl.grid.hi));
  if (auto e = s.kl.grid.validate("kl"); !e.empty()) throw ConfigError(e);
  if (auto e = s.kl.validate(); !e.empty()) throw ConfigError(e);
  // The grid must hold the target's mass: 6 standard deviations beyond the outer modes.
  if (auto e = kl_coverage_error(s.kl, s.target_mu + 6.0 * std::sqrt(s.target_var)); !e.empty())
    throw ConfigError(e);
  std::sort(s.n_values.begin(), s.n_values.end());
  std::sort(s.m_values.begin(), s.m_values.end());
  return s;
}

}  // namespace diffgen
