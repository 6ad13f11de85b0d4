#include "models/vector_math.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace diffgen {
namespace {

// Adding and subtracting 1.5·2^52 rounds a double with |x| < 2^51 to the
// nearest integer (ties to even), using only additions.
constexpr double kRoundShift = 6755399441055744.0;
constexpr double kTwoPi = 2.0 * std::numbers::pi;
// Above this |y| the reduction in turns is no longer exact.
constexpr double kTurnsLimit = 1125899906842624.0;  // 2^50

}  // namespace

void sigmoid(const double* __restrict h, double* __restrict out, Index n) {
  // x = −h, clamped so that 2^round(x/ln 2) stays a normal double (a separate
  // loop: the clamp keeps the main loop from vectorizing otherwise).
  for (Index k = 0; k < n; ++k) {
    const double x = -h[k];
    const double lo = x < -708.0 ? -708.0 : x;
    out[k] = lo > 709.0 ? 709.0 : lo;
  }
  // e^x = 2^m e^r with x = m ln 2 + r, |r| <= ln2 / 2 (Cody–Waite, ln 2 in
  // two parts), and e^r = (Q + rP) / (Q − rP), the Padé form of Cephes' exp.
  // Then 1 / (1 + e^x) = (Q − rP) / ((Q − rP) + 2^m (Q + rP)): one division.
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  constexpr double P0 = 1.26177193074810590878e-4, P1 = 3.02994407707441961300e-2, P2 = 9.99999999999999999910e-1;
  constexpr double Q0 = 3.00198505138664455042e-6, Q1 = 2.52448340349684104192e-3, Q2 = 2.27265548208155028766e-1,
                   Q3 = 2.00000000000000000009e0;
  for (Index k = 0; k < n; ++k) {
    const double x = out[k];
    const double shifted = x * kLog2e + kRoundShift;
    const double m = shifted - kRoundShift;
    const double r = (x - m * kLn2Hi) - m * kLn2Lo;
    const double z = r * r;
    const double rp = r * ((P0 * z + P1) * z + P2);
    const double q = ((Q0 * z + Q1) * z + Q2) * z + Q3;
    // 2^m: the low bits of `shifted` hold m; move them into the exponent field.
    const std::uint64_t two_m = (std::bit_cast<std::uint64_t>(shifted) << 52) + std::bit_cast<std::uint64_t>(1.0);
    const double den = q - rp;
    out[k] = den / (den + std::bit_cast<double>(two_m) * (q + rp));
  }
}

void sincos_2pi(const double* __restrict y, double* __restrict s, double* __restrict c, Index n) {
  // fdlibm's __kernel_sin and __kernel_cos coefficients, for |x| <= π/4.
  constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03, S3 = -1.98412698298579493134e-04,
                   S4 = 2.75573137070700676789e-06, S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
  constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05,
                   C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
  for (Index k = 0; k < n; ++k) {
    // 2πy = 2π(integer + q/4 + g): f = y − round(y) ∈ [−½, ½] and
    // g = f − q/4 ∈ [−1/8, 1/8] are exact; only x = 2πg is rounded.
    const double f = y[k] - ((y[k] + kRoundShift) - kRoundShift);
    const double q = (4.0 * f + kRoundShift) - kRoundShift;
    const double x = (f - 0.25 * q) * kTwoPi;
    const double z = x * x;
    const double sin_x = x + z * x * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
    const double tail = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    const double half_z = 0.5 * z, w = 1.0 - half_z;
    const double cos_x = w + (((1.0 - w) - half_z) + z * tail);
    // Rotate by q quarter turns, q ∈ {−2, …, 2}: cos(qπ/2) = 1 − |q|, sin(qπ/2) = q (2 − |q|).
    const double abs_q = std::fabs(q);
    const double cos_q = 1.0 - abs_q, sin_q = q * (2.0 - abs_q);
    s[k] = cos_q * sin_x + sin_q * cos_x;
    c[k] = cos_q * cos_x - sin_q * sin_x;
  }
  for (Index k = 0; k < n; ++k) {
    if (!(std::fabs(y[k]) < kTurnsLimit)) {
      s[k] = std::sin(kTwoPi * y[k]);
      c[k] = std::cos(kTwoPi * y[k]);
    }
  }
}

}  // namespace diffgen
