// A smooth function of one variable known only through evaluations that are
// too costly to repeat inside a loop (e.g. the Chen2025 bound's data-only
// terms as a function of T, each a Monte Carlo sum over m² pairs): tabulated
// once on a uniform grid, then read back by piecewise-cubic Hermite
// interpolation with node slopes from second-order finite differences. The
// interpolant and its slope reproduce every quadratic exactly.
#pragma once

#include <functional>
#include <vector>

#include "core/types.hpp"

namespace diffgen {

class TabulatedCurve {
 public:
  // f at `nodes` >= 3 equally spaced points from lo to hi (lo < hi).
  // Throws std::invalid_argument on a bad range, too few nodes or a
  // non-finite value (naming the point).
  TabulatedCurve(const std::function<double(double)>& f, double lo, double hi, Index nodes);

  double lo() const { return lo_; }
  double hi() const { return hi_; }
  // The interpolant and its derivative at x, clamped to [lo, hi].
  double value(double x) const;
  double slope(double x) const;

 private:
  // The interval holding x and x's position in it, u in [0, 1].
  std::pair<std::size_t, double> locate(double x) const;

  double lo_, hi_, h_;
  std::vector<double> f_, df_;
};

}  // namespace diffgen
