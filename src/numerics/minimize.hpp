// Minimization of a function of one variable without derivatives.
//
// Golden-section search (Kiefer 1953): for f unimodal on [lo, hi], keep two
// interior points x1 < x2 at the golden ratios φ = (√5 − 1)/2 of the bracket,
//   x1 = hi − φ (hi − lo),   x2 = lo + φ (hi − lo),
// and drop the end beyond the larger of f(x1), f(x2); the kept interior point
// is one of the new bracket's two, so each step costs one evaluation and
// shrinks the bracket by φ ≈ 0.618.
#pragma once

#include <functional>

#include "core/types.hpp"

namespace diffgen {

struct LineMinimum {
  double x = 0.0;      // the best point evaluated
  double value = 0.0;  // f(x)
  Index evaluations = 0;
};

// Golden-section search for the minimum of f on [lo, hi]: the two interior
// points, then `steps` more evaluations. Returns the best point evaluated (the
// ends lo and hi are never evaluated; a tie keeps the earlier point, and x2
// over x1 when the first two tie).
LineMinimum golden_section(const std::function<double(double)>& f, double lo, double hi, Index steps);

}  // namespace diffgen
