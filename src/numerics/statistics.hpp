// Summaries over seeds: mean, standard deviation, range and a 95% confidence
// interval for the mean (Student's t), ignoring missing (NaN) values.
#pragma once

#include <vector>

namespace diffgen {

struct Spread {
  int count = 0;    // finite values
  double mean = 0;  // NaN when count = 0
  double sd = 0;    // sample standard deviation; 0 when count < 2
  double min = 0, max = 0;
  double ci95 = 0;  // half-width of the 95% confidence interval of the mean; 0 when count < 2
};

Spread spread(const std::vector<double>& values);

// The 0.975 quantile of Student's t with `dof` degrees of freedom (dof >= 1).
double student_t975(int dof);

// Spearman's rank correlation of paired values (ties take their mean rank):
// the Pearson correlation of the ranks, in [−1, 1]. NaN when fewer than two
// pairs, a length mismatch, a non-finite value, or a sample whose ranks are
// all equal.
double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace diffgen
