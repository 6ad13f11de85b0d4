// Time grids for the samplers: schedules are data, built apart from the
// solvers (k-diffusion style). A grid decreases from T to ε; a sampler takes
// one step per consecutive pair.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace diffgen {

// T, T - Δ, ..., ε with Δ = (T - ε) / steps: steps + 1 times.
Vector uniform_time_grid(double T, double eps, Index steps);

// T (ε/T)^{k/steps}, k = 0..steps: equal ratios, so every decade of t gets
// as many steps, for scores that grow like 1/s(t) near ε (networks,
// memorizing models). For a smooth score under VE, whose g(t)² = σ^{2t} is
// largest near T, the uniform grid is better: Heun with 100 steps on the
// exact score of N(0.5, 2) errs by 3e-4 (uniform) vs 3e-2 (geometric).
Vector geometric_time_grid(double T, double eps, Index steps);

// Empty when `grid` is a usable time grid (>= 2 finite times, strictly
// decreasing, the last >= 0), else what is wrong.
std::string validate_time_grid(const Vector& grid);

}  // namespace diffgen
