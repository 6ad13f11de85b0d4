// Elementwise functions for the networks' hot loops, written as plain loops
// of IEEE additions, multiplications and divisions that the compiler
// vectorizes. They are several times faster than the libm calls they replace
// and give the same bits on every machine (libm's last bits can differ
// between versions). Accuracy, checked in vector_math_test.cpp: sigmoid
// within 3 ulp of the exact value; sin and cos within 3e-16 of the exact
// sin(2πy), cos(2πy).
#pragma once

#include "core/types.hpp"

namespace diffgen {

// out[k] = 1 / (1 + e^{−h[k]}) for k < n; h and out must not overlap.
// NaN gives NaN; h < −708 gives about 1e-308 instead of underflowing to 0.
void sigmoid(const double* h, double* out, Index n);

// s[k] = sin(2π y[k]) and c[k] = cos(2π y[k]) for k < n (no overlap between
// y, s and c). The argument is reduced in turns (y minus its nearest
// integer, then quarter turns), which is exact, so the result is accurate
// for every |y| < 2^50; larger or non-finite y fall back to std::sin/std::cos.
void sincos_2pi(const double* y, double* s, double* c, Index n);

}  // namespace diffgen
