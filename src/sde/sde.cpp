#include "sde/sde.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace diffgen {

double Sde::s(double t) const {
  return std::sqrt(s2(t));
}

Matrix Sde::sample_prior(Index n, Index d, Rng& rng) const {
  Matrix X(n, d);
  rng.fill_normal(X);
  return X * prior_std();
}

Vector Sde::prior_log_density(const Matrix& X) const {
  const double var = prior_std() * prior_std();
  const double d = static_cast<double>(X.cols());
  const double log_norm = -0.5 * d * std::log(2.0 * std::numbers::pi * var);
  return (X.rowwise().squaredNorm().array() * (-0.5 / var) + log_norm).matrix();
}

VeSde::VeSde(double sigma) : sigma_(sigma), log_sigma_(std::log(sigma)) {}

// s(t)^2 = (sigma^{2t} - 1) / (2 ln sigma); expm1 keeps precision at small t.
double VeSde::s2(double t) const {
  return std::expm1(2.0 * t * log_sigma_) / (2.0 * log_sigma_);
}

double VeSde::g2(double t) const {
  return std::exp(2.0 * t * log_sigma_);
}

double VeSde::prior_std() const {
  return std::sqrt(s2(1.0));
}

VpSde::VpSde(double beta_min, double beta_max, double T) : beta_min_(beta_min), beta_max_(beta_max), T_(T) {}

// a(t) = exp(-½ ∫_0^t beta).
double VpSde::a(double t) const {
  return std::exp(-0.5 * beta_integral(t));
}

double VpSde::s2(double t) const {
  return -std::expm1(-beta_integral(t));
}

OuSde::OuSde(double T) : T_(T) {}

double OuSde::a(double t) const {
  return std::exp(-t);
}

double OuSde::s2(double t) const {
  return -std::expm1(-2.0 * t);
}

std::string SdeOptions::validate() const {
  if (kind == SdeKind::Ve && !(sigma > 1.0)) return "sde.sigma must be > 1 for the VE process";
  if (kind == SdeKind::Vp && !(beta_min > 0.0 && beta_max >= beta_min))
    return fmt::format("sde.beta_max = {} must be >= sde.beta_min = {} (and sde.beta_min > 0)", beta_max, beta_min);
  if (!(T >= 0.0) || !std::isfinite(T)) return "sde.T must be a finite number >= 0";
  const double horizon = kind == SdeKind::Ve ? 1.0 : T > 0 ? T : kind == SdeKind::Vp ? 1.0 : 5.0;
  if (!(eps > 0.0) || !(eps < horizon))
    return fmt::format("sde.eps = {} must lie in (0, T) = (0, {})", eps, horizon);
  return {};
}

const OptionTable<SdeOptions>& sde_options() {
  static const auto table = [] {
    OptionTable<SdeOptions> t;
    t.add("sde.kind", [](SdeOptions& o) -> auto& { return o.kind; }, "forward process (THEORY.md §1)");
    t.add("sde.sigma", [](SdeOptions& o) -> auto& { return o.sigma; }, "VE: sigma of dx = sigma^t dw",
          {.min = 1.0, .min_exclusive = true});
    t.add("sde.beta_min", [](SdeOptions& o) -> auto& { return o.beta_min; }, "VP: beta(0)",
          {.min = 0.0, .min_exclusive = true});
    t.add("sde.beta_max", [](SdeOptions& o) -> auto& { return o.beta_max; }, "VP: beta(1)",
          {.min = 0.0, .min_exclusive = true});
    t.add("sde.T", [](SdeOptions& o) -> auto& { return o.T; },
          "VP/OU horizon T (0: the process's default, VP 1, OU 5; VE is fixed at 1)", {.min = 0.0});
    t.add("sde.eps", [](SdeOptions& o) -> auto& { return o.eps; },
          "smallest diffusion time: training draws t ~ U[eps, T]; the PF-ODE and the samplers stop at eps",
          {.min = 0.0, .max = 1.0, .min_exclusive = true, .max_exclusive = true});
    return t;
  }();
  return table;
}

std::shared_ptr<const Sde> make_sde(const SdeOptions& o) {
  if (auto err = o.validate(); !err.empty()) throw ConfigError(err);
  switch (o.kind) {
    case SdeKind::Ve:
      return std::make_shared<VeSde>(o.sigma);
    case SdeKind::Vp:
      return std::make_shared<VpSde>(o.beta_min, o.beta_max, o.T > 0 ? o.T : 1.0);
    case SdeKind::Ou:
      break;
  }
  return std::make_shared<OuSde>(o.T > 0 ? o.T : 5.0);
}

}  // namespace diffgen
