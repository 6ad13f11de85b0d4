#include "numerics/minimize.hpp"

#include <algorithm>
#include <cmath>

namespace diffgen {

LineMinimum golden_section(const std::function<double(double)>& f, double lo, double hi, Index steps) {
  const double phi = 0.5 * (std::sqrt(5.0) - 1.0);
  double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
  double f1 = f(x1), f2 = f(x2);
  LineMinimum best{f1 < f2 ? x1 : x2, std::min(f1, f2), 2};
  for (Index step = 0; step < steps; ++step) {
    if (f1 < f2) {
      // The minimum lies in [lo, x2]: x1 becomes the upper interior point.
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = f(x1);
      if (f1 < best.value) best.value = f1, best.x = x1;
    } else {
      // The minimum lies in [x1, hi]: x2 becomes the lower interior point.
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = f(x2);
      if (f2 < best.value) best.value = f2, best.x = x2;
    }
    ++best.evaluations;
  }
  return best;
}

}  // namespace diffgen
