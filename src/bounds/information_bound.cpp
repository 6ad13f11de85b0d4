#include "bounds/information_bound.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

// The toy code's number of reverse steps, which also sets its Riemann sum.
constexpr Index kToyRiemannSteps = 1000;
// The image code's step size: N = int(T / 1e-3) (image_bound_fast_estimation.py).
constexpr double kImageStepSize = 1e-3;

void require_encoder(double a, double v, Index m) {
  if (!(std::isfinite(a) && v > 0.0 && std::isfinite(v)))
    throw ConfigError(fmt::format("the encoder N(a x, v I) needs a finite a and a finite v > 0 (got a = {}, v = {})",
                                  format_double(a), format_double(v)));
  if (m < 1) throw ConfigError("the bound needs at least one training point");
}

// log Σ_j exp(c_j) without overflow.
double log_sum_exp(const Vector& c) {
  const double top = c.maxCoeff();
  return top + std::log((c.array() - top).exp().sum());
}

}  // namespace

double beta_integral(const VpSde& sde, double T, BetaIntegral rule) {
  if (!(T > 0.0) || !std::isfinite(T))
    throw ConfigError(fmt::format("∫β over [0, T] needs a finite T > 0 (got {})", format_double(T)));
  if (rule == BetaIntegral::ClosedForm) return sde.beta_integral(T);
  if (rule == BetaIntegral::LeftRiemann) {
    const double delta = T / static_cast<double>(kToyRiemannSteps);
    double sum = 0.0;
    for (Index k = 0; k < kToyRiemannSteps; ++k) sum += sde.beta(static_cast<double>(k) * delta);
    return delta * sum;
  }
  // The truncation is the image code's own: 1.4 / 1e-3 = 1399.99..., N = 1399.
  const double steps = T / kImageStepSize;
  if (!(steps >= 1.0 && steps < 1e9))
    throw ConfigError(fmt::format("the inclusive ∫β sum needs 1e-3 <= T < 1e6 (got T = {})", format_double(T)));
  const auto n = static_cast<Index>(steps);
  double sum = 0.0;
  for (Index k = 0; k <= n; ++k) sum += sde.beta(static_cast<double>(k) / static_cast<double>(n) * T);
  return T * sum / static_cast<double>(n);
}

Vector encoder_kls(const Matrix& data, double a, double v) {
  require_encoder(a, v, data.rows());
  const auto d = static_cast<double>(data.cols());
  const Vector norms = data.rowwise().squaredNorm();
  return (0.5 * (a * a * norms.array() + d * v - d - d * std::log(v))).matrix();
}

double encoder_term(const Matrix& data, double a, double v, EncoderTermForm form) {
  const Vector kl = encoder_kls(data, a, v);
  // KL_i >= 0; rounding can leave -1e-17 where it is 0, whose root is NaN.
  return form == EncoderTermForm::MeanKl ? kl.mean() : kl.array().max(0.0).sqrt().mean();
}

std::string MixtureTermOptions::validate() const {
  if (draws < 2) return fmt::format("draws = {} must be at least 2 (for a standard error)", draws);
  if (!(kernel_variance >= 0.0) || !std::isfinite(kernel_variance))
    return fmt::format("kernel_variance = {} must be a finite value >= 0 (0: the encoder's)",
                       format_double(kernel_variance));
  return "";
}

Estimate mixture_term(const Matrix& data, double a, double v, const MixtureTermOptions& options, Rng& rng) {
  const Index m = data.rows(), d = data.cols();
  require_encoder(a, v, m);
  if (auto e = options.validate(); !e.empty()) throw ConfigError("term1: " + e);
  const double w = options.kernel_variance > 0.0 ? options.kernel_variance : v;
  const Matrix mu = a * data;
  const double log_norm_p = -0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi * v);
  const double log_norm_q = -0.5 * static_cast<double>(d) * std::log(2.0 * std::numbers::pi * w);
  const double minus_entropy = log_norm_p - 0.5 * static_cast<double>(d);
  // The draws, made serially so that the numbers do not depend on the thread count.
  Matrix xi(m * options.draws, d);
  rng.fill_normal(xi);
  // Per i: the mean and variance over k of log p(z_ik) − log q(z_ik).
  Vector mean(m), variance(m);
  parallel_for(m, 1, [&](Index b, Index e) {
    Vector c(m), diff(options.draws);
    for (Index i = b; i < e; ++i) {
      for (Index k = 0; k < options.draws; ++k) {
        const auto z_noise = xi.row(i * options.draws + k);
        const Eigen::RowVectorXd z = mu.row(i) + std::sqrt(v) * z_noise;
        c = (log_norm_q - 0.5 * (mu.rowwise() - z).rowwise().squaredNorm().array() / w).matrix();
        const double log_q = log_sum_exp(c) - std::log(static_cast<double>(m));
        const double log_p = options.exact_entropy ? minus_entropy : log_norm_p - 0.5 * z_noise.squaredNorm();
        diff[k] = log_p - log_q;
      }
      mean[i] = diff.mean();
      variance[i] = (diff.array() - mean[i]).square().sum() / static_cast<double>(options.draws - 1);
    }
  });
  const double md = static_cast<double>(m);
  return {-mean.mean(), std::sqrt(variance.sum() / static_cast<double>(options.draws)) / md};
}

double generator_term(double score_norm_bound, double beta_integral_value, Index m) {
  if (!(score_norm_bound >= 0.0) || !std::isfinite(score_norm_bound) || !(beta_integral_value >= 0.0) || m < 1)
    throw ConfigError(fmt::format("term3 needs L >= 0, ∫β >= 0 and m >= 1 (got L = {}, ∫β = {}, m = {})",
                                  format_double(score_norm_bound), format_double(beta_integral_value), m));
  return score_norm_bound * std::sqrt(beta_integral_value / (2.0 * static_cast<double>(m)));
}

Estimate BoundTerms::bound() const {
  const double c = std::numbers::sqrt2 * R;
  return {term1.value + c * term2 + c * term3 + sm_loss.value,
          std::hypot(term1.standard_error, sm_loss.standard_error)};
}

}  // namespace diffgen
