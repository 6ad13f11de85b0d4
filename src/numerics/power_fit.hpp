// Power laws fitted on log–log axes, for rates such as Li2023 Theorem 1's
// KL = O(n^{-2/5} + m^{-4/5}): y ≈ c x^β by least squares on (log x, log y),
// with the slope's confidence interval either from the regression's own
// residuals or from the spread of per-seed slopes.
#pragma once

#include <string>
#include <vector>

#include "numerics/statistics.hpp"

namespace diffgen {

struct PowerFit {
  int points = 0;   // pairs used: x > 0 and y > 0, both finite
  int skipped = 0;  // pairs left out (a log needs positive values)
  double slope = 0.0;
  double intercept = 0.0;  // log c (natural log): log y ≈ intercept + slope · log x
  // Standard error of the slope from the residuals, s / √Σ(u − ū)² with
  // s² = Σ residual² / (points − 2); NaN with fewer than 3 points.
  double slope_se = 0.0;
  double slope_ci95 = 0.0;  // t(0.975, points − 2) · slope_se; NaN with fewer than 3 points
  double r2 = 0.0;          // 1 − SSR / SST (NaN when all log y are equal)
  bool ok() const { return points >= 2; }
  // c x^β.
  double predict(double x) const;
};

// Least squares on (log x, log y). With fewer than 2 usable pairs (or all x
// equal) the result has ok() false and NaN numbers.
PowerFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y);

// A slope per seed and its spread over the seeds, plus the fit of the
// seed-mean curve.
struct SeedSlopes {
  std::vector<PowerFit> per_seed;  // one per row of y
  // Over the seeds whose fit used every point (a seed with a non-positive
  // value is left out rather than fitted on fewer points, unless `partial`):
  // mean, sd and the Student-t 95% interval of the mean slope.
  Spread slope;
  int seeds_left_out = 0;
  PowerFit of_mean;            // the fit of the seed-mean curve, with its regression interval
  std::vector<double> mean_y;  // the seed-mean curve (arithmetic or geometric), NaN where no seed has a value

  // The reported slope and the half-width of its 95% interval: over seeds
  // when at least two seeds have a slope, else the regression interval of the
  // seed-mean fit. `method` says which.
  double headline_slope() const;
  double headline_ci95() const;
  std::string method() const;
};

// y_per_seed[k][i] is seed k's value at x[i] (every row as long as x); NaN
// where a seed has no value. `geometric`: the seed-mean curve averages log y
// (for quantities such as times that span decades), else y itself.
// `partial`: a seed missing some values is still fitted on the rest when at
// least 3 remain (for censored quantities, e.g. a stopping time that does not
// exist past some n); otherwise such a seed is left out.
SeedSlopes fit_power_law_over_seeds(const std::vector<double>& x, const std::vector<std::vector<double>>& y_per_seed,
                                    bool geometric = false, bool partial = false);

}  // namespace diffgen
