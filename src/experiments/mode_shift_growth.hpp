// How mode-shift's best KL (a) grows with the distance d between the modes.
// Li2023 Theorem 2 bounds the early-stopped error by a polynomial in d, so the
// reading is an exponent: the least-squares slope of log(best KL (a)) against
// log d, fitted per seed. The seeds' slopes give the exponent's 95% interval
// (Student's t); the claim about growth is worded by that interval, since at
// a few seeds "does not grow" and "grows like d^0.3" are often both inside it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/study_grid.hpp"
#include "numerics/power_fit.hpp"

namespace diffgen {

// results[v][k]: distance v, seed k. Each seed's best KL (a) over training at
// every distance, fitted against `distances` on log–log axes; a seed with a
// missing or non-positive best KL at some distance is left out of the spread.
SeedSlopes fit_best_kl_growth(const std::vector<double>& distances, const GridResults& results);

// "-0.03 ± 0.36" (mean and 95% interval over seeds); the value alone with one
// seed; "-" without a slope.
std::string growth_exponent_text(const SeedSlopes& fit);

// The seeds' exponents, "0.12, -0.3, ..." (2 significant digits; "-" for a
// seed left out).
std::string growth_per_seed_text(const SeedSlopes& fit);

// What the interval allows one to say, e.g. "growth slower than d^0.33 — no
// growth cannot be told from mild growth". With one seed: no interval exists.
std::string growth_reading(const SeedSlopes& fit);

// summary.json's growth_exponent_best_kl_a: the spread over seeds
// {count, mean, sd, ci95, min, max}, per_seed (null where left out),
// seeds_left_out, the fit of the seed-mean curve, method and reading.
nlohmann::json growth_json(const SeedSlopes& fit);

}  // namespace diffgen
