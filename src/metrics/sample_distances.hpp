// Test errors measured from samples alone, for targets without a density
// (the Swiss roll) and to reproduce Chen2025's toy metric (THEORY.md §7;
// notes/chen2025-code.md §A.6, E.3).
#pragma once

#include "core/types.hpp"

namespace diffgen {

// log KDE(x) = log (1/n) Σ_j N(x; y_j, h² I) at every row x of X, with the
// points y_j the rows of Y (sklearn's KernelDensity(kernel="gaussian").score_samples).
Vector kde_log_density(const Matrix& X, const Matrix& Y, double bandwidth);

// The authors' toy test metric, KL(p_test ‖ q_gen) estimated as
//   mean_{x∈test} log KDE_test(x) − mean_{x∈test} log KDE_gen(x),
// bandwidth 0.1 in their code. The test KDE is evaluated on its own points,
// which biases it upward: a perfect generator scores about 0.136 on the
// Swiss roll with 1000 points each (notes E.3), so report that floor beside it.
double kde_kl(const Matrix& test, const Matrix& generated, double bandwidth = 0.1);

// The energy distance 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ between the laws of
// two samples (U-statistics within each sample, so it is unbiased): 0 exactly
// when the laws are equal, and it needs no density.
double energy_distance(const Matrix& a, const Matrix& b);

}  // namespace diffgen
