#include "targets/swiss_roll.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace diffgen {
namespace {

constexpr double kTurnStart = 1.5 * std::numbers::pi;  // t = 1.5π (1 + 2u) runs over [1.5π, 4.5π]
constexpr double kTurnEnd = 4.5 * std::numbers::pi;

}  // namespace

SwissRoll::SwissRoll(double noise, double scale) : noise_(noise), scale_(scale) {
  if (!(noise >= 0.0) || !std::isfinite(noise) || !(scale > 0.0) || !std::isfinite(scale))
    throw ConfigError(fmt::format("Swiss roll: noise = {} must be finite and >= 0, scale = {} finite and > 0", noise,
                                  scale));
}

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
  const double mean_t2 = (std::pow(kTurnEnd, 3) - std::pow(kTurnStart, 3)) / (3.0 * (kTurnEnd - kTurnStart));
  return scale_ * scale_ * (mean_t2 + 2.0 * noise_ * noise_);
}

}  // namespace diffgen
