#include "sde/sde.hpp"

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
  if (kind != "ve" && kind != "vp" && kind != "ou")
    return "sde = '" + kind + "' is not a known process (allowed: ve, vp, ou)";
  if (kind == "ve" && !(sigma > 1.0)) return "sde.sigma must be > 1 for the VE process";
  if (kind == "vp" && !(beta_min > 0.0 && beta_max >= beta_min))
    return "sde.beta_min must be > 0 and sde.beta_max >= sde.beta_min";
  if (!(T >= 0.0) || !std::isfinite(T)) return "sde.T must be a finite number >= 0";
  return {};
}

std::shared_ptr<const Sde> make_sde(const SdeOptions& o) {
  if (auto err = o.validate(); !err.empty()) throw ConfigError(err);
  if (o.kind == "ve") return std::make_shared<VeSde>(o.sigma);
  if (o.kind == "vp") return std::make_shared<VpSde>(o.beta_min, o.beta_max, o.T > 0 ? o.T : 1.0);
  return std::make_shared<OuSde>(o.T > 0 ? o.T : 5.0);
}

}  // namespace diffgen
