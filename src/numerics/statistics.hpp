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

}  // namespace diffgen
