// The generalization bound of Chen, Zhu & Shkurti (ICLR 2025), the parts
// computed from the training data and the encoder E_T(x) = N(a(T) x, v(T) I)
// of the VP SDE (THEORY.md §7; the authors' code, read line by line, in
// notes/chen2025-code.md §A.3):
//
//   bound = term1 + √2 R term2 + √2 R term3 + sm_loss,
//   term1 = −(1/m) Σ_i KL(E_T(x_i) ‖ (1/m) Σ_j E_T(x_j))   ∈ [−log m, 0],
//   term2 = (1/m) Σ_i KL(E_T(x_i) ‖ N(0, I))   (or the mean of √KL_i),
//   term3 = L √(∫_0^T β / (2m)).
//
// Every ingredient the authors computed in more than one way takes the
// variant by name; the defaults are the consistent reading (v_T everywhere,
// the exact entropy with a full-mixture log-sum-exp, the closed-form ∫β).
#pragma once

#include <array>
#include <string_view>
#include <utility>

#include "bounds/mmse.hpp"
#include "core/options.hpp"
#include "core/rng.hpp"
#include "core/types.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// The encoder's variance: v_T (consistent; the image code), or the standard
// deviation σ_T = √v_T used as a variance (the toy code's term1).
enum class EncoderVariance { Variance, StdAsVariance };

template <>
struct EnumNames<EncoderVariance> {
  static constexpr std::array table{std::pair{EncoderVariance::Variance, std::string_view("variance")},
                                    std::pair{EncoderVariance::StdAsVariance, std::string_view("std-as-variance")}};
};

// ∫_0^T β(u) du: closed form B(T) = β_min T + ½ T² (β_max − β_min); the toy
// code's left Riemann sum over N = 1000 steps, δ Σ_{k<N} β(kδ); or the image
// code's inclusive sum (T/N) Σ_{k=0..N} β(kT/N) with N = int(T / 1e-3) in
// floating point (N = 1399 at T = 1.4).
enum class BetaIntegral { ClosedForm, LeftRiemann, InclusiveSum };

template <>
struct EnumNames<BetaIntegral> {
  static constexpr std::array table{std::pair{BetaIntegral::ClosedForm, std::string_view("closed-form")},
                                    std::pair{BetaIntegral::LeftRiemann, std::string_view("left-riemann")},
                                    std::pair{BetaIntegral::InclusiveSum, std::string_view("inclusive-sum")}};
};

double beta_integral(const VpSde& sde, double T, BetaIntegral rule);

// term2's form: the mean of KL_i (the image code) or of √KL_i (the toy code).
enum class EncoderTermForm { MeanKl, MeanRootKl };

template <>
struct EnumNames<EncoderTermForm> {
  static constexpr std::array table{std::pair{EncoderTermForm::MeanKl, std::string_view("mean-kl")},
                                    std::pair{EncoderTermForm::MeanRootKl, std::string_view("mean-root-kl")}};
};

// KL(N(μ, v I) ‖ N(0, I)) = ½(‖μ‖² + d v − d − d ln v) for μ = a x, in
// closed form, for every row x of `data`.
Vector encoder_kls(const Matrix& data, double a, double v);

// term2: the mean over the rows of encoder_kls, or of their square roots.
double encoder_term(const Matrix& data, double a, double v, EncoderTermForm form);

// term1 by Monte Carlo: −(1/m) Σ_i KL(N(μ_i, v I) ‖ (1/m) Σ_j N(μ_j, w I)),
// μ_i = a x_i, with `draws` points z ~ N(μ_i, v I) per i. exact_entropy: the
// log p part is −H = −½ d (1 + ln 2π v) (consistent; with w = v the KL is
// then estimated without the variance of log p); otherwise the paired Monte
// Carlo average of log N(z; μ_i, v I) (the toy code). The mixture's log q is
// a log-sum-exp over all m components.
struct MixtureTermOptions {
  Index draws = 1000;           // per training point (toy code: 1000; image code: 100)
  bool exact_entropy = true;
  double kernel_variance = 0.0;  // w; 0: the encoder's variance v (consistent)
  std::string validate() const;
};

// The value and its Monte Carlo standard error (independent draws per i).
Estimate mixture_term(const Matrix& data, double a, double v, const MixtureTermOptions& options, Rng& rng);

// term3 = L √(∫β / (2m)).
double generator_term(double score_norm_bound, double beta_integral_value, Index m);

// The four terms and the bound they make with R (the sub-Gaussian constant).
struct BoundTerms {
  Estimate term1;
  double term2 = 0.0;
  double term3 = 0.0;
  Estimate sm_loss;
  double R = 1.0;
  // term1 + √2 R term2 + √2 R term3 + sm_loss, with the standard error of
  // its Monte Carlo parts (term1 and sm_loss, independent).
  Estimate bound() const;
};

}  // namespace diffgen
