// The KL between the final marginals of a 1-D discrete-time sampler and the
// comparison process (bounds/output_density.hpp), with an error estimate
// per value, and the rule that calls a value exact.
//
// Two errors remain in a propagated KL. (1) Where the sampler misses whole
// regions of the target, q there comes from far tails that the propagation
// cut (kernels at ± kernel_width standard deviations, nodes below the mass
// floor), and the KL is overestimated: FinalKl bounds it from both sides,
// from the mass that was lost. (2) The trapezoid rule's error, which no
// bound covers: the density is propagated a second time with every grid
// spacing `check_ratio` times coarser, and the difference between the two
// KLs is taken as its size (an overestimate of the finer value's error:
// on the two-mode target the error falls by orders of magnitude from
// spacing 0.8 to 0.6). The value reported is the finer one; the interval
// [lower, upper] widens the bounds of (1) by the difference (2), and the
// value is called exact when the interval is narrower than
// relative_tolerance times it (plus a rounding floor). Checked against the closed form of a
// Gaussian target, where short uniform grids make (1) dominate.
#pragma once

#include <string>

#include "bounds/output_density.hpp"

namespace diffgen {

struct FinalKlEstimateOptions {
  // The reported value's propagation: spacing 0.6 (relative errors below
  // 1e-10 on the two-mode target), kernels to ± 14 standard deviations and a
  // mass floor of 1e-30 (so that the lost mass rarely matters).
  OutputDensityOptions density{.spacing = 0.6, .kernel_width = 14.0, .mass_floor = 1e-30};
  // The check's spacings (both density.spacing and density.final_spacing)
  // are this many times the value's; density.spacing times it must be <= 1.
  double check_ratio = 4.0 / 3.0;
  // A value is exact when upper - lower <= relative_tolerance times the
  // value plus absolute_tolerance: the rounding floor of the sum, whose
  // terms p log(p/q) - p + q each carry an error of about 1e-16 p.
  double relative_tolerance = 1e-6;
  double absolute_tolerance = 1e-14;
  std::string validate() const;
};

struct FinalKlEstimate {
  double kl = 0.0;  // the propagated KL at density's spacings
  // An interval that holds the true KL: the lost-mass bounds of the value's
  // propagation, each moved out by |kl - check| (lower >= 0; upper may be +∞
  // where q vanished under the comparison's mass).
  double lower = 0.0, upper = 0.0;
  double check = 0.0;  // the KL of the coarser propagation
  bool exact = false;  // upper - lower <= relative_tolerance · kl + absolute_tolerance
  Index points = 0;    // most grid points of any step of the value's propagation
  double error() const { return upper - lower; }
};

// Both propagations and the interval. ConfigError for bad options (and
// whatever output_density refuses); NumericalError as output_density.
FinalKlEstimate estimate_final_kl(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid,
                                  const GaussianMixture& target, const FinalKlEstimateOptions& options = {});

}  // namespace diffgen
