#include "targets/swiss_roll.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace diffgen {
namespace {

constexpr double kTurnStart = 1.5 * std::numbers::pi;  // t = 1.5π (1 + 2u) runs over [1.5π, 4.5π]
constexpr double kTurnEnd = 4.5 * std::numbers::pi;

// E t² for t uniform on [kTurnStart, kTurnEnd].
double mean_t_squared() {
  return (std::pow(kTurnEnd, 3) - std::pow(kTurnStart, 3)) / (3.0 * (kTurnEnd - kTurnStart));
}

void check_roll_options(double noise, double scale) {
  if (!(noise >= 0.0) || !std::isfinite(noise) || !(scale > 0.0) || !std::isfinite(scale))
    throw ConfigError(fmt::format("Swiss roll: noise = {} must be finite and >= 0, scale = {} finite and > 0", noise,
                                  scale));
}

}  // namespace

SwissRoll::SwissRoll(double noise, double scale) : noise_(noise), scale_(scale) { check_roll_options(noise, scale); }

Matrix SwissRoll::sample(Index n, Rng& rng) const {
  Matrix x(n, 2);
  for (Index i = 0; i < n; ++i) {
    const double t = rng.uniform(kTurnStart, kTurnEnd);
    const double e1 = rng.normal(), e2 = rng.normal();
    x(i, 0) = scale_ * (t * std::cos(t) + noise_ * e1);
    x(i, 1) = scale_ * (t * std::sin(t) + noise_ * e2);
  }
  return x;
}

double SwissRoll::mean_squared_norm() const {
  return scale_ * scale_ * (mean_t_squared() + 2.0 * noise_ * noise_);
}

GaussianMixture swiss_roll_mixture(Index components, double noise, double scale) {
  check_roll_options(noise, scale);
  if (components < 1)
    throw ConfigError(fmt::format("Swiss-roll mixture: components = {} is not allowed (need >= 1)", components));
  const double cell = (kTurnEnd - kTurnStart) / static_cast<double>(components);
  // Why this variance: see the header (total local spread of the roll in a cell).
  const double variance = scale * scale * (noise * noise + (1.0 + mean_t_squared()) * cell * cell / 24.0);
  Matrix means(components, 2);
  for (Index k = 0; k < components; ++k) {
    const double t = kTurnStart + (static_cast<double>(k) + 0.5) * cell;
    means(k, 0) = scale * t * std::cos(t);
    means(k, 1) = scale * t * std::sin(t);
  }
  const Vector weights = Vector::Constant(components, 1.0 / static_cast<double>(components));
  return GaussianMixture(weights, means, Matrix::Constant(components, 2, variance));
}

}  // namespace diffgen
