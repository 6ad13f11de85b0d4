// Elementwise functions for the networks' hot loops, written as plain loops
// of IEEE additions, multiplications and divisions that the compiler
// vectorizes. They are several times faster than the libm calls they replace
// and give the same bits on every machine (libm's last bits can differ
// between versions). Accuracy, checked in vector_math_test.cpp: sigmoid
// within 3 ulp of the exact value; sin and cos within 3e-16 of the exact
// sin(2πy), cos(2πy).
#pragma once

#include <initializer_list>

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

// One term of linear_combination(): Σ_{q < count} coef[q·coef_stride] ·
// rows[q·row_stride + j] (coef = null: every coefficient is 1).
struct LinearTerms {
  const double* coef;
  Index coef_stride;
  Index count;
  const double* rows;
  Index row_stride;
};

// out[j] = init[j] + Σ over terms, for j < n (init = null: 0); out must not
// overlap the inputs. Eight outputs at a time are accumulated in registers,
// so the loop is vectorized and stores once per output instead of once per
// term; the order of the sums depends only on the terms, never on n or on
// other rows, so a point's result does not depend on its batch. Inline: the
// calls are many and small, and each call site specializes it.
inline void linear_combination(const double* init, std::initializer_list<LinearTerms> terms, Index n, double* out) {
  using Block = Eigen::Array<double, 8, 1>;
  const auto coef = [](const LinearTerms& T, Index q) { return T.coef ? T.coef[q * T.coef_stride] : 1.0; };
  Index j0 = 0;
  for (; j0 + 8 <= n; j0 += 8) {
    Block acc = init ? Block(Eigen::Map<const Block>(init + j0)) : Block::Zero();
    for (const LinearTerms& T : terms)
      for (Index q = 0; q < T.count; ++q) acc += Eigen::Map<const Block>(T.rows + q * T.row_stride + j0) * coef(T, q);
    Eigen::Map<Block>(out + j0) = acc;
  }
  // The same sums, one output at a time, for the last n mod 8.
  for (; j0 < n; ++j0) {
    double acc = init ? init[j0] : 0.0;
    for (const LinearTerms& T : terms)
      for (Index q = 0; q < T.count; ++q) acc += T.rows[q * T.row_stride + j0] * coef(T, q);
    out[j0] = acc;
  }
}

}  // namespace diffgen
