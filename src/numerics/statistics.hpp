// Summaries over seeds: mean, standard deviation, range and a 95% confidence
// interval for the mean (Student's t), ignoring missing (NaN) values.
#pragma once

#include <vector>

#include "core/types.hpp"

namespace diffgen {

struct Spread {
  int count = 0;    // finite values
  double mean = 0;  // NaN when count = 0
  double sd = 0;    // sample standard deviation; 0 when count < 2
  double min = 0, max = 0;
  double ci95 = 0;  // half-width of the 95% confidence interval of the mean; 0 when count < 2
};

Spread spread(const std::vector<double>& values);

// A value with its Monte Carlo standard error (0 for a quadrature).
struct Estimate {
  double value = 0.0;
  double standard_error = 0.0;
};

// The mean of independent draws and its standard error sd/√n (sample
// standard deviation); needs at least two draws.
Estimate mean_estimate(const Vector& draws);

// The 0.975 quantile of Student's t with `dof` degrees of freedom (dof >= 1).
double student_t975(int dof);

// Spearman's rank correlation of paired values (ties take their mean rank):
// the Pearson correlation of the ranks, in [−1, 1]. NaN when fewer than two
// pairs, a length mismatch, a non-finite value, or a sample whose ranks are
// all equal.
double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace diffgen
