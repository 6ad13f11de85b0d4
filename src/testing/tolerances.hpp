// Named tolerances of the tests, each with what it allows for. A test that
// needs another states its own next to the reason.
#pragma once

namespace diffgen::tolerance {

// Monte Carlo checks: within this many standard errors (a false alarm once in
// ~16,000 checks of a normal statistic).
inline constexpr double kStandardErrors = 4.0;

// One formula evaluated two ways in double precision (relative).
inline constexpr double kRoundoff = 1e-12;

// One KL by two routes on the same quadrature grid.
inline constexpr double kSameQuadrature = 1e-9;

}  // namespace diffgen::tolerance
