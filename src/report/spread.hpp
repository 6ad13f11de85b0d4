// A spread over seeds (numerics/statistics.hpp) as every output shows it:
// one JSON form in summary.json, one text form "mean ± half-width" in
// reports and tables (kPlusMinusMeaning, report/run_writer.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "numerics/statistics.hpp"

namespace diffgen {

// {count, mean, sd, ci95, min, max}; {count: 0, mean: null} without a finite value.
nlohmann::json spread_json(const Spread& s);

// "0.0123 ± 0.0011" (the mean and the half-width of its 95% confidence
// interval), "0.0123" for one seed, "-" for none; the mean with `digits`
// significant digits, the half-width with two.
std::string format_pm(const Spread& s, int digits = 3);
// "value ± half_width" for any 95% interval (a fitted slope's, a Monte Carlo
// estimate's); the value alone when the half-width is not finite.
std::string format_pm(double value, double half_width, int digits = 3);

// A computed value with its numerical error estimate (quadrature, solver),
// not a spread: "0.002495 (error estimate 1.1e-06)". A value not above its
// error estimate is not a number diffgen can vouch for, so it reads
// "< 1.1e-06 (zero within its error estimate)"; a negative KL from solver
// error is never printed. "-" for a non-finite value.
std::string format_with_error(double value, double error, int digits = 4);

}  // namespace diffgen
