#include "bounds/mmse.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <stdexcept>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "numerics/quadrature.hpp"
#include "targets/denoiser.hpp"

namespace diffgen {
namespace {

// Rows per parallel chunk (fixed: results do not depend on the thread count).
constexpr Index kChunk = 256;

void check(const GaussianMixture& target, double t, const MmseOptions& o) {
  if (auto err = o.validate(); !err.empty()) throw ConfigError(err);
  if (!(t >= 0.0) || !std::isfinite(t)) throw ConfigError("t = " + std::to_string(t) + " (need a finite t >= 0)");
  (void)target;
}

// tr Cov(X | Y_t) for Y_t = t X + √t N at every draw, in fixed chunks.
Vector traces_at(const MixtureDenoiser& exact, const Matrix& X, const Matrix& N, double t) {
  Vector out(X.rows());
  parallel_for(X.rows(), kChunk, [&](Index b, Index e) {
    const Matrix Y = t * X.middleRows(b, e - b) + std::sqrt(t) * N.middleRows(b, e - b);
    out.segment(b, e - b) = exact.posterior_trace(Y, t);
  });
  return out;
}

}  // namespace

std::string MmseOptions::validate() const {
  if (quadrature_points < 9)
    return "quadrature points = " + std::to_string(quadrature_points) + " is not allowed (need >= 9)";
  if (!(quadrature_width >= 4.0) || !std::isfinite(quadrature_width))
    return "quadrature width = " + std::to_string(quadrature_width) + " is not allowed (need >= 4 standard deviations)";
  if (samples < 4 || samples % 2 != 0)
    return "samples = " + std::to_string(samples) + " is not allowed (need an even number >= 4: antithetic pairs)";
  if (legendre_points < 1 || legendre_points > 64)
    return "Gauss–Legendre points = " + std::to_string(legendre_points) + " is not allowed (need 1 to 64)";
  if (!(tolerance >= 1e-15) || !(tolerance < 1e-2))
    return "quadrature tolerance = " + std::to_string(tolerance) + " is not allowed (need 1e-15 <= tolerance < 0.01)";
  return {};
}

ObservationQuadrature observation_quadrature(const GaussianMixture& target, double t, const MmseOptions& o) {
  check(target, t, o);
  if (target.dim() != 1) throw ConfigError("observation quadrature needs a 1-D target");
  ObservationQuadrature q;
  if (t == 0.0) {
    q.y = Matrix::Zero(1, 1);
    q.w = Vector::Ones(1);
    return q;
  }
  // Component k of Y_t is N(t μ_k, t² C_k + t).
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, s_min = lo;
  for (Index k = 0; k < target.components(); ++k) {
    const double m = t * target.means()(k, 0);
    const double s = std::sqrt(t * t * target.covariance(k)(0, 0) + t);
    lo = std::min(lo, m - o.quadrature_width * s);
    hi = std::max(hi, m + o.quadrature_width * s);
    s_min = std::min(s_min, s);
  }
  // At least four nodes per standard deviation of the narrowest component.
  const Index points = std::max<Index>(
      o.quadrature_points, checked_count(4.0 * (hi - lo) / s_min, kMaxGridPoints, "MMSE quadrature of the target") + 1);
  const double h = (hi - lo) / static_cast<double>(points - 1);
  q.y.resize(points, 1);
  for (Index j = 0; j < points; ++j) q.y(j, 0) = lo + h * static_cast<double>(j);
  q.w = target.log_density(q.y, t, std::sqrt(t)).array().exp();
  q.w[0] *= 0.5;
  q.w[points - 1] *= 0.5;
  q.w /= q.w.sum();
  return q;
}

void observation_draws(const GaussianMixture& target, const MmseOptions& o, Matrix& X, Matrix& N) {
  if (auto err = o.validate(); !err.empty()) throw ConfigError(err);
  Rng rx = Rng::stream(o.seed, {kStreamEval, 1});
  Rng rn = Rng::stream(o.seed, {kStreamEval, 2});
  const Index pairs = o.samples / 2, d = target.dim();
  const Matrix x = target.sample(pairs, rx);
  Matrix z(pairs, d);
  rn.fill_normal(z);
  X.resize(2 * pairs, d);
  N.resize(2 * pairs, d);
  for (Index i = 0; i < pairs; ++i) {
    X.row(2 * i) = X.row(2 * i + 1) = x.row(i);
    N.row(2 * i) = z.row(i);
    N.row(2 * i + 1) = -z.row(i);
  }
}

Estimate pair_mean(const Vector& v) {
  const Index pairs = v.size() / 2;
  if (pairs < 1 || v.size() != 2 * pairs) throw std::invalid_argument("pair_mean needs an even number of draws");
  Vector p(pairs);
  for (Index i = 0; i < pairs; ++i) p[i] = 0.5 * (v[2 * i] + v[2 * i + 1]);
  const double n = static_cast<double>(pairs), m = p.mean();
  const double var = pairs > 1 ? (p.array() - m).square().sum() / (n - 1.0) : 0.0;
  return {m, std::sqrt(var / n)};
}

namespace {

// Gauss–Legendre on [a, b] from the nodes and weights on [-1, 1].
Vector legendre_rule(const std::function<Vector(double)>& F, double a, double b, const Vector& x, const Vector& w,
                     Index* evaluations) {
  const double half = 0.5 * (b - a);
  Vector sum;
  for (Index i = 0; i < x.size(); ++i) {
    const Vector f = F(a + half * (x[i] + 1.0));
    if (i == 0) sum = Vector::Zero(f.size());
    sum += (half * w[i]) * f;
  }
  if (evaluations) *evaluations += x.size();
  return sum;
}

Vector adaptive(const std::function<Vector(double)>& F, double a, double b, const Vector& whole, const Vector& x,
                const Vector& w, double tolerance, int depth, Index* evaluations) {
  const double m = 0.5 * (a + b);
  const Vector left = legendre_rule(F, a, m, x, w, evaluations), right = legendre_rule(F, m, b, x, w, evaluations);
  const Vector halves = left + right;
  const double err = (halves - whole).cwiseAbs().maxCoeff();
  if (depth >= 40 || err <= std::max(tolerance * halves.cwiseAbs().maxCoeff(), 1e-300)) return halves;
  return adaptive(F, a, m, left, x, w, tolerance, depth + 1, evaluations) +
         adaptive(F, m, b, right, x, w, tolerance, depth + 1, evaluations);
}

// Keeps [a, b] whole when the rule on it agrees with the rule on its halves
// (the agreement bounds the error of both), else recurses into the halves.
void partition(const std::function<Vector(double)>& F, double a, double b, const Vector& whole, const Vector& x,
               const Vector& w, double tolerance, int depth, std::vector<std::pair<double, double>>& out) {
  const double m = 0.5 * (a + b);
  const Vector left = legendre_rule(F, a, m, x, w, nullptr), right = legendre_rule(F, m, b, x, w, nullptr);
  const Vector halves = left + right;
  const double err = (halves - whole).cwiseAbs().maxCoeff();
  if (depth >= 40 || err <= std::max(tolerance * halves.cwiseAbs().maxCoeff(), 1e-300)) {
    out.emplace_back(a, b);
    return;
  }
  partition(F, a, m, left, x, w, tolerance, depth + 1, out);
  partition(F, m, b, right, x, w, tolerance, depth + 1, out);
}

}  // namespace

std::vector<std::pair<double, double>> adaptive_partition(const std::function<Vector(double)>& F, double a, double b,
                                                          Index points, double tolerance) {
  Vector x, w;
  gauss_legendre(points, x, w);
  std::vector<std::pair<double, double>> out;
  partition(F, a, b, legendre_rule(F, a, b, x, w, nullptr), x, w, tolerance, 0, out);
  return out;
}

Vector integrate_adaptive(const std::function<Vector(double)>& F, double a, double b, Index points, double tolerance,
                          Index* evaluations) {
  Vector x, w;
  gauss_legendre(points, x, w);
  const Vector whole = legendre_rule(F, a, b, x, w, evaluations);
  return adaptive(F, a, b, whole, x, w, tolerance, 0, evaluations);
}

Estimate mmse(const GaussianMixture& target, double t, const MmseOptions& o) {
  check(target, t, o);
  auto shared = std::make_shared<const GaussianMixture>(target);
  const MixtureDenoiser exact(shared);
  if (target.dim() == 1) {
    const auto q = observation_quadrature(target, t, o);
    return {q.w.dot(exact.posterior_trace(q.y, t)), 0.0};
  }
  Matrix X, N;
  observation_draws(target, o, X, N);
  return pair_mean(traces_at(exact, X, N, t));
}

Estimate mutual_information(const GaussianMixture& target, double t, const MmseOptions& o) {
  check(target, t, o);
  auto shared = std::make_shared<const GaussianMixture>(target);
  const MixtureDenoiser exact(shared);
  Matrix X, N;
  if (target.dim() > 1) observation_draws(target, o, X, N);
  // ½ ∫_0^t M(u) du = ½ ∫_0^√t M(v²) 2v dv = ∫_0^√t M(v²) v dv.
  auto integrand = [&](double v) -> Vector {
    if (target.dim() == 1) {
      const auto q = observation_quadrature(target, v * v, o);
      return Vector::Constant(1, v * q.w.dot(exact.posterior_trace(q.y, v * v)));
    }
    return v * traces_at(exact, X, N, v * v);
  };
  const Vector per_draw = integrate_adaptive(integrand, 0.0, std::sqrt(t), o.legendre_points, o.tolerance);
  if (target.dim() == 1) return {per_draw[0], 0.0};
  return pair_mean(per_draw);
}

double mutual_information_from_entropy(const GaussianMixture& target, double t, const MmseOptions& o) {
  check(target, t, o);
  if (target.dim() != 1) throw ConfigError("mutual_information_from_entropy needs a 1-D target");
  if (t == 0.0) return 0.0;
  const auto q = observation_quadrature(target, t, o);
  // The quadrature's weights are h p normalized; h(Y) = -E log p(Y).
  const Vector log_p = target.log_density(q.y, t, std::sqrt(t));
  const double entropy = -q.w.dot(log_p);
  return entropy - 0.5 * std::log(2.0 * std::numbers::pi * std::numbers::e * t);
}

}  // namespace diffgen
