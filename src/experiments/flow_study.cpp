#include "experiments/flow_study.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <numeric>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "numerics/minimize.hpp"
#include "numerics/quadrature.hpp"
#include "report/table.hpp"
#include "training/dsm_loss.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// A component more than this many standard deviations from a kink lies wholly
// on one side of it: Φ(−8.5) ≈ 1e-17 of its mass is on the other, below the
// rounding of the sums it enters.
constexpr double kWindow = 8.5;
const double kInvSqrt2Pi = 1.0 / std::sqrt(2.0 * std::numbers::pi);

// The law's components sorted by mean; a(t) > 0 keeps the order at every t, so
// the components within reach of a kink are one contiguous window.
struct SortedLaw {
  Vector weight, mean, var;
};

SortedLaw sorted(const CleanLaw& law) {
  const Index K = law.size();
  std::vector<Index> order(static_cast<std::size_t>(K));
  std::iota(order.begin(), order.end(), Index{0});
  // Ties broken by index, so the order (and every sum below) is the same on every run.
  std::sort(order.begin(), order.end(),
            [&](Index i, Index j) { return law.mean[i] < law.mean[j] || (law.mean[i] == law.mean[j] && i < j); });
  SortedLaw s{Vector(K), Vector(K), Vector(K)};
  for (Index k = 0; k < K; ++k) {
    s.weight[k] = law.weight[order[k]];
    s.mean[k] = law.mean[order[k]];
    s.var[k] = law.var[order[k]];
  }
  return s;
}

// Where feature i is active: never, everywhere, above its kink (w > 0) or below it (w < 0).
enum class Side : unsigned char { Never, Always, Above, Below };

// The three moments ∫ x^r p(x) dx (r = 0, 1, 2) of the law of x_t below and
// above one point.
struct Tails {
  double lo[3] = {0, 0, 0};
  double up[3] = {0, 0, 0};
};

// E[φ φᵀ] and E[z φ] at one time, accumulated into `second` (upper triangle)
// and `cross` with factors g_scale and z_scale.
void accumulate_moments(const RandomFeatureModel& model, const SortedLaw& law, double t, double a, double s,
                        double g_scale, double z_scale, SquareMatrix& second, Vector& cross) {
  const Index m = model.width(), K = law.weight.size();
  const Vector w = model.input_weights().col(0);
  const Vector c = model.time_weights() * model.embedding()(t).transpose();

  // The law of x_t: components N(a μ_k, a² v_k + s²), and its prefix/suffix
  // sums of the whole-component moments (π, π m, π (m² + σ²)).
  Vector mk(K), sk(K), inv_sk(K), zbuf(K), pdfbuf(K);
  double sigma_max = 0.0;
  for (Index k = 0; k < K; ++k) {
    mk[k] = a * law.mean[k];
    sk[k] = std::sqrt(a * a * law.var[k] + s * s);
    inv_sk[k] = 1.0 / sk[k];
    sigma_max = std::max(sigma_max, sk[k]);
  }
  Matrix prefix(K + 1, 3), suffix(K + 1, 3);
  prefix.row(0).setZero();
  suffix.row(K).setZero();
  for (Index k = 0; k < K; ++k) {
    const double p = law.weight[k];
    prefix(k + 1, 0) = prefix(k, 0) + p;
    prefix(k + 1, 1) = prefix(k, 1) + p * mk[k];
    prefix(k + 1, 2) = prefix(k, 2) + p * (mk[k] * mk[k] + sk[k] * sk[k]);
  }
  for (Index k = K - 1; k >= 0; --k) {
    const double p = law.weight[k];
    suffix(k, 0) = suffix(k + 1, 0) + p;
    suffix(k, 1) = suffix(k + 1, 1) + p * mk[k];
    suffix(k, 2) = suffix(k + 1, 2) + p * (mk[k] * mk[k] + sk[k] * sk[k]);
  }
  const double total[3] = {prefix(K, 0), prefix(K, 1), prefix(K, 2)};

  // Each feature's side and the law's moments below and above its kink.
  std::vector<Side> side(static_cast<std::size_t>(m));
  std::vector<double> kink(static_cast<std::size_t>(m), 0.0);
  std::vector<Tails> tails(static_cast<std::size_t>(m));
  const double* begin = mk.data();
  const double* end = mk.data() + K;
  for (Index i = 0; i < m; ++i) {
    if (w[i] == 0.0) {
      side[i] = c[i] > 0.0 ? Side::Always : Side::Never;
      continue;
    }
    side[i] = w[i] > 0.0 ? Side::Above : Side::Below;
    const double y = -c[i] / w[i];
    kink[i] = y;
    // Components wholly below y count fully in `lo`, wholly above fully in `up`;
    // only those within the window need the Gaussian's tails.
    const Index first = std::lower_bound(begin, end, y - kWindow * sigma_max) - begin;
    const Index last = std::upper_bound(begin, end, y + kWindow * sigma_max) - begin;
    Tails& T = tails[i];
    for (int r = 0; r < 3; ++r) {
      T.lo[r] = prefix(first, r);
      T.up[r] = suffix(last, r);
    }
    // The window's standardized distances, then their densities in one
    // vectorized pass (Eigen's exp), then the tails.
    const Index len = last - first;
    if (len == 0) continue;
    auto z = zbuf.head(len).array();
    auto pdf = pdfbuf.head(len).array();
    z = (y - mk.segment(first, len).array()) * inv_sk.segment(first, len).array();
    pdf = (-0.5 * z.square()).exp() * kInvSqrt2Pi;
    for (Index j = 0; j < len; ++j) {
      const Index k = first + j;
      const double sig = sk[k], mean = mk[k], zj = z[j], pj = pdf[j];
      // The smaller tail from erfc, the larger as its complement: both accurate.
      double below, above;
      if (zj < 0.0) {
        below = 0.5 * std::erfc(-zj / std::numbers::sqrt2);
        above = 1.0 - below;
      } else {
        above = 0.5 * std::erfc(zj / std::numbers::sqrt2);
        below = 1.0 - above;
      }
      const double p = law.weight[k], second_moment = mean * mean + sig * sig;
      // ∫_{-∞}^y x^r N(x; m, σ²) dx: Φ, mΦ − σφ, (m² + σ²)Φ − σ(m + y)φ; the upper tails with +σφ.
      T.lo[0] += p * below;
      T.lo[1] += p * (mean * below - sig * pj);
      T.lo[2] += p * (second_moment * below - sig * (mean + y) * pj);
      T.up[0] += p * above;
      T.up[1] += p * (mean * above + sig * pj);
      T.up[2] += p * (second_moment * above + sig * (mean + y) * pj);
    }
  }

  // E[z φ_i] = s w_i P(feature i active) (Stein's lemma, Cov(z, x_t) = s).
  for (Index i = 0; i < m; ++i) {
    double active = 0.0;
    if (side[i] == Side::Above) active = tails[i].up[0];
    if (side[i] == Side::Below) active = tails[i].lo[0];
    cross[i] += z_scale * s * w[i] * active;
  }

  // E[φ_i φ_j] = w_i w_j M2 + (w_i c_j + c_i w_j) M1 + c_i c_j M0 over the
  // interval where both are active, bounded by at most one kink on each side.
  for (Index j = 0; j < m; ++j) {
    if (side[j] == Side::Never) continue;
    for (Index i = 0; i <= j; ++i) {
      if (side[i] == Side::Never) continue;
      // The interval [L, U]: its ends come from a feature's kink (index) or are infinite (-1).
      Index lower = -1, upper = -1;
      for (Index f : {i, j}) {
        if (side[f] == Side::Above && (lower < 0 || kink[f] > kink[lower])) lower = f;
        if (side[f] == Side::Below && (upper < 0 || kink[f] < kink[upper])) upper = f;
      }
      double M[3];
      if (lower < 0 && upper < 0) {
        for (int r = 0; r < 3; ++r) M[r] = total[r];
      } else if (lower < 0) {
        for (int r = 0; r < 3; ++r) M[r] = tails[upper].lo[r];
      } else if (upper < 0) {
        for (int r = 0; r < 3; ++r) M[r] = tails[lower].up[r];
      } else {
        if (!(kink[lower] < kink[upper])) continue;
        // The difference of the two smaller tail sums loses the least to rounding.
        const Tails &L = tails[lower], &U = tails[upper];
        if (U.lo[0] <= L.up[0]) {
          for (int r = 0; r < 3; ++r) M[r] = U.lo[r] - L.lo[r];
        } else {
          for (int r = 0; r < 3; ++r) M[r] = L.up[r] - U.up[r];
        }
      }
      second(i, j) += g_scale * (w[i] * w[j] * M[2] + (w[i] * c[j] + c[i] * w[j]) * M[1] + c[i] * c[j] * M[0]);
    }
  }
}

void check_model(const RandomFeatureModel& model, const char* where) {
  if (model.dim() != 1)
    throw ConfigError(
        fmt::format("{}: the exact expectations are for 1-D models; this one has d = {}", where, model.dim()));
}

}  // namespace

CleanLaw CleanLaw::from_mixture(const GaussianMixture& mixture) {
  if (mixture.dim() != 1)
    throw ConfigError(fmt::format("clean law: the mixture has d = {}; the exact expectations are 1-D", mixture.dim()));
  const Index K = mixture.weights().size();
  CleanLaw law{mixture.weights(), Vector(K), Vector(K)};
  for (Index k = 0; k < K; ++k) {
    law.mean[k] = mixture.means()(k, 0);
    law.var[k] = mixture.covariance(k)(0, 0);
  }
  return law;
}

CleanLaw CleanLaw::from_points(const Vector& points) {
  const Index n = points.size();
  if (n == 0) throw ConfigError("clean law: no training points");
  return CleanLaw{Vector::Constant(n, 1.0 / static_cast<double>(n)), points, Vector::Zero(n)};
}

FeatureMoments feature_moments(const RandomFeatureModel& model, const CleanLaw& law, double t, double a, double s) {
  check_model(model, "feature moments");
  if (!(s > 0.0) || !std::isfinite(s) || !std::isfinite(a))
    throw ConfigError(fmt::format("feature moments: a = {}, s = {} (need a finite a and a finite s > 0)", a, s));
  const Index m = model.width();
  FeatureMoments out{SquareMatrix::Zero(m, m), Vector::Zero(m)};
  accumulate_moments(model, sorted(law), t, a, s, 1.0, 1.0, out.second, out.noise_cross);
  out.second = out.second.selfadjointView<Eigen::Upper>();
  return out;
}

std::string ExpectedLossOptions::validate() const {
  if (!(eps > 0.0) || !std::isfinite(eps)) return fmt::format("eps = {} must be > 0 and finite", eps);
  if (t_nodes < 1) return fmt::format("t_nodes = {} must be >= 1", t_nodes);
  return {};
}

QuadraticDsmLoss expected_dsm_loss(const RandomFeatureModel& model, const Sde& sde, const CleanLaw& law,
                                   const ExpectedLossOptions& options) {
  check_model(model, "expected DSM loss");
  if (auto err = options.validate(); !err.empty()) throw ConfigError("expected DSM loss: " + err);
  const double T = sde.T();
  if (!(options.eps < T))
    throw ConfigError(fmt::format("expected DSM loss: eps = {} must be below the horizon T = {}", options.eps, T));
  const SortedLaw sl = sorted(law);
  const Index m = model.width(), n_t = options.t_nodes;
  Vector v, wv;
  gauss_legendre_unit(n_t, v, wv);

  // Chunks of t nodes fixed by the problem, summed in chunk order: bit-identical for any thread count.
  constexpr Index kNodesPerChunk = 4;
  const Index chunks = (n_t + kNodesPerChunk - 1) / kNodesPerChunk;
  std::vector<SquareMatrix> G(static_cast<std::size_t>(chunks));
  std::vector<Vector> cross(static_cast<std::size_t>(chunks));
  const double inv_m = 1.0 / static_cast<double>(m);
  parallel_for(n_t, kNodesPerChunk, [&](Index b, Index e) {
    const Index chunk = b / kNodesPerChunk;
    G[chunk] = SquareMatrix::Zero(m, m);
    cross[chunk] = Vector::Zero(m);
    for (Index k = b; k < e; ++k) {
      // E_t f = ∫_0^1 f(eps + (T − eps) v²) 2v dv.
      const double t = options.eps + (T - options.eps) * v[k] * v[k];
      const double weight = 2.0 * v[k] * wv[k];
      const double a = sde.a(t), s = std::sqrt(sde.s2(t));
      // G = E[s² φφᵀ] / m², B = E[s z φ] / m.
      accumulate_moments(model, sl, t, a, s, weight * s * s * inv_m * inv_m, weight * s * inv_m, G[chunk],
                         cross[chunk]);
    }
  });
  QuadraticDsmLoss loss;
  loss.G = SquareMatrix::Zero(m, m);
  Vector B = Vector::Zero(m);
  for (Index c = 0; c < chunks; ++c) {
    loss.G += G[c];
    B += cross[c];
  }
  loss.G = loss.G.selfadjointView<Eigen::Upper>();
  loss.B = B.transpose();
  loss.c0 = 1.0;  // E z² in d = 1
  loss.N = n_t;
  if (!loss.G.allFinite() || !loss.B.allFinite())
    throw NumericalError("expected DSM loss: G or B has a non-finite entry");
  return loss;
}

QuadraticDsmLoss leading_features(const QuadraticDsmLoss& loss, Index m) {
  const Index M = loss.G.rows();
  if (m < 1 || m > M) throw ConfigError(fmt::format("leading features: width {} is not in [1, {}]", m, M));
  const double r = static_cast<double>(M) / static_cast<double>(m);
  QuadraticDsmLoss out;
  out.G = r * r * loss.G.topLeftCorner(m, m);
  out.B = r * loss.B.leftCols(m);
  out.c0 = loss.c0;
  out.N = loss.N;
  return out;
}

std::vector<double> log_tau_grid(double lo, double hi, Index per_decade) {
  if (!(lo > 0.0) || !(hi >= lo) || !std::isfinite(hi) || per_decade < 1)
    throw ConfigError(fmt::format("tau grid: [{}, {}] with {} per decade (need 0 < lo <= hi, finite, >= 1 per decade)",
                                  lo, hi, per_decade));
  std::vector<double> tau;
  const double l0 = std::log10(lo), l1 = std::log10(hi), d = static_cast<double>(per_decade);
  const Index k0 = static_cast<Index>(std::ceil(l0 * d - 1e-9)), k1 = static_cast<Index>(std::floor(l1 * d + 1e-9));
  for (Index k = k0; k <= k1; ++k) tau.push_back(std::pow(10.0, static_cast<double>(k) / d));
  if (tau.empty()) tau.push_back(lo);
  return tau;
}

namespace {

// The grid index of the smallest value of `field`.
Index argmin(const std::vector<FlowPoint>& g, double FlowPoint::*field) {
  Index k = 0;
  for (Index i = 1; i < static_cast<Index>(g.size()); ++i)
    if (g[i].*field < g[k].*field) k = i;
  return k;
}

}  // namespace

FlowCurve evaluate_flow(const ExactGradientFlow& flow, const QuadraticDsmLoss& loss, const QuadraticDsmLoss* reference,
                        RandomFeatureModel& model, const Target& target, const Sde& sde,
                        const FlowCurveOptions& options, const std::function<void(Index)>& progress) {
  if (model.width() != loss.G.rows())
    throw ConfigError(
        fmt::format("evaluate_flow: the model has {} features, the loss {}", model.width(), loss.G.rows()));
  if (options.tau.empty()) throw ConfigError("evaluate_flow: empty tau grid");
  FlowCurve curve;
  auto A_at = [&](double tau) { return std::isinf(tau) ? flow.minimizer() : flow.at(tau); };
  auto point_at = [&](double tau) {
    const Matrix A = A_at(tau);
    model.coefficients() = A;
    FlowPoint p;
    p.tau = tau;
    try {
      p.kl_a = kl_score_integrated(model, target, sde, options.kl).kl;
    } catch (const NumericalError& e) {
      throw NumericalError(fmt::format("KL (a) of the flow at tau = {} failed: {}", tau, e.what()));
    }
    if (!std::isfinite(p.kl_a)) throw NumericalError(fmt::format("KL (a) of the flow at tau = {} is {}", tau, p.kl_a));
    ++curve.kl_evaluations;
    p.train_loss = loss.value(A);
    p.test_loss = reference ? reference->value(A) : kNaN;
    return p;
  };
  for (double tau : options.tau) {
    curve.grid.push_back(point_at(tau));
    if (progress) progress(1);
  }
  curve.limit = point_at(kInf);
  const auto& g = curve.grid;
  const Index last = static_cast<Index>(g.size()) - 1;
  auto bracket = [&](Index k) {
    return std::pair{std::log(g[std::max<Index>(k - 1, 0)].tau), std::log(g[std::min<Index>(k + 1, last)].tau)};
  };

  // KL (a): golden section inside the grid minimum's bracket; every point
  // evaluated is a candidate, so refining never makes the minimum worse.
  const Index k = argmin(g, &FlowPoint::kl_a);
  curve.best = g[k];
  if (options.refine_steps > 0 && last > 0) {
    const auto [lo, hi] = bracket(k);
    golden_section(
        [&](double log_tau) {
          const FlowPoint p = point_at(std::exp(log_tau));
          if (p.kl_a < curve.best.kl_a) curve.best = p;
          return p.kl_a;
        },
        lo, hi, options.refine_steps);
  }
  if (curve.limit.kl_a < curve.best.kl_a) curve.best = curve.limit;

  // The test loss is a quadratic form, cheap to evaluate: refine it the same
  // way without KL, then evaluate KL once at its minimum.
  if (reference) {
    const Index kt = argmin(g, &FlowPoint::test_loss);
    double tau_best = g[kt].tau, loss_best = g[kt].test_loss;
    if (last > 0) {
      const auto [lo, hi] = bracket(kt);
      const auto test_loss = [&](double log_tau) { return reference->value(flow.at(std::exp(log_tau))); };
      const double tau = std::exp(golden_section(test_loss, lo, hi, 60).x);
      if (const double v = reference->value(flow.at(tau)); v < loss_best) tau_best = tau, loss_best = v;
    }
    if (curve.limit.test_loss <= loss_best) tau_best = kInf;
    curve.best_test = std::isinf(tau_best) ? curve.limit : point_at(tau_best);
  } else {
    curve.best_test = FlowPoint{kNaN, kNaN, kNaN, kNaN};
  }
  return curve;
}

double stopping_time(double best_tau, double best_value, double limit_value, double relative) {
  return best_value < limit_value - relative * std::abs(limit_value) ? best_tau : kInf;
}

double dsm_loss_infimum(const GaussianMixture& target, const Sde& sde, const ExpectedLossOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError("DSM loss infimum: " + err);
  const CleanLaw law = CleanLaw::from_mixture(target);
  if (!(law.var.minCoeff() > 0.0))
    throw ConfigError("DSM loss infimum: the target has a point-mass component (variance 0)");
  const double T = sde.T();
  if (!(options.eps < T))
    throw ConfigError(fmt::format("DSM loss infimum: eps = {} must be below the horizon T = {}", options.eps, T));
  Vector v, wv;
  gauss_legendre_unit(options.t_nodes, v, wv);
  double expected = 0.0;
  for (Index k = 0; k < options.t_nodes; ++k) {
    const double t = options.eps + (T - options.eps) * v[k] * v[k];
    const double a = sde.a(t), s2 = sde.s2(t);
    // The law at t: components N(a μ_j, a² v_j + s²); a trapezoid rule over
    // ±12 standard deviations beyond the outer modes.
    double sigma_min = kInf, sigma_max = 0.0, lo = kInf, hi = -kInf;
    for (Index j = 0; j < law.size(); ++j) {
      const double sig = std::sqrt(a * a * law.var[j] + s2);
      sigma_min = std::min(sigma_min, sig);
      sigma_max = std::max(sigma_max, sig);
      lo = std::min(lo, a * law.mean[j]);
      hi = std::max(hi, a * law.mean[j]);
    }
    lo -= 12.0 * sigma_max;
    hi += 12.0 * sigma_max;
    const Index nodes = static_cast<Index>(std::ceil((hi - lo) / (sigma_min / 16.0))) + 1;
    const double h = (hi - lo) / static_cast<double>(nodes - 1);
    Matrix x(nodes, 1);
    for (Index i = 0; i < nodes; ++i) x(i, 0) = lo + h * static_cast<double>(i);
    const Vector log_p = target.log_density(x, a, std::sqrt(s2));
    const Matrix score = target.score(x, a, std::sqrt(s2));
    double fisher = 0.0;
    for (Index i = 0; i < nodes; ++i) {
      const double w = (i == 0 || i == nodes - 1) ? 0.5 * h : h;
      fisher += w * std::exp(log_p[i]) * score(i, 0) * score(i, 0);
    }
    expected += 2.0 * v[k] * wv[k] * s2 * fisher;
  }
  return 1.0 - expected;
}

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

// quadratic_dsm_loss over a draw set in blocks, so that the N·m features are
// never all in memory; the blocks' forms are averaged with their sizes.
QuadraticDsmLoss draw_set_loss(const RandomFeatureModel& model, const Sde& sde, const Matrix& x0, const Vector& t,
                               const Matrix& z) {
  constexpr Index kBlock = 16384;
  const Index N = x0.rows();
  QuadraticDsmLoss total;
  for (Index b = 0; b < N; b += kBlock) {
    const Index len = std::min(kBlock, N - b);
    const QuadraticDsmLoss part =
        quadratic_dsm_loss(model, sde, x0.middleRows(b, len), t.segment(b, len), z.middleRows(b, len));
    const double w = static_cast<double>(len) / static_cast<double>(N);
    if (b == 0) {
      total.G = w * part.G;
      total.B = w * part.B;
      total.c0 = w * part.c0;
    } else {
      total.G += w * part.G;
      total.B += w * part.B;
      total.c0 += w * part.c0;
    }
  }
  total.N = N;
  return total;
}
}  // namespace

void add_flow_study_keys(Schema& schema, Index tau_per_decade) {
  schema.add_int("seed", 0, "base seed; seed k of --seeds K uses streams derived from (seed, k)", 0);
  schema.add_double("target.mu", 3.0, "modes at -mu and +mu: the target is ½N(-mu, var) + ½N(mu, var)", 0.0,
                    std::nullopt, true);
  schema.add_double("target.var", 1.0, "variance of each mode", 0.0, std::nullopt, true);
  schema.add_string("sde.kind", "ve", "forward process (THEORY.md §1)", {"ve", "vp", "ou"});
  schema.add_double("sde.sigma", 25.0, "VE: sigma of dx = sigma^t dw", 1.0, std::nullopt, true);
  schema.add_double("sde.beta_min", 0.1, "VP: beta(0)", 0.0, std::nullopt, true);
  schema.add_double("sde.beta_max", 20.0, "VP: beta(1)", 0.0, std::nullopt, true);
  schema.add_double("sde.T", 0.0, "VP/OU horizon T (0: the process's default, VP 1, OU 5; VE is fixed at 1)", 0.0);
  schema.add_double("eps", 1e-5, "smallest diffusion time: the loss averages over t ~ U[eps, T]", 0.0, 1.0, true, true);
  schema.add_int("embed_dim", 4, "width E of the random features' Fourier time embedding (even)", 2, 4096);
  schema.add_double("embed_scale", 0.5,
                    "frequencies of the time embedding are N(0,1)·embed_scale. 0.5, not the reference network's 30: "
                    "with 30 the features oscillate dozens of times over t in [0, 1] and even the population flow's "
                    "best KL (a) is 0.71 (0.0035 at 0.5; gradient-flow, 3 seeds)",
                    0.0, std::nullopt, true);
  schema.add_double("rf.init_std", 0.0, "A(0) has N(0, init_std²) entries; 0: the flow starts from A = 0", 0.0);
  schema.add_string("expectation", "exact",
                    "how the loss's expectations are taken. exact: over t by Gauss–Legendre, over z and x0 in closed "
                    "form (the training set is fixed, t and z are integrated); draws: a fixed draw set "
                    "(draws.per_point (t, z) per training point; draws.population fresh target samples)",
                    {"exact", "draws"});
  schema.add_int("t_nodes", 64,
                 "exact: Gauss–Legendre nodes over t (64 -> 128 moves the best KLs of gradient-flow by <= 1%)", 1,
                 4096);
  schema.add_int("draws.per_point", 10, "draws: (t, z) draws per training point in the empirical loss", 1, 100'000'000);
  schema.add_int("draws.population", 100000,
                 "draws: fresh target samples (one (t, z) each) in the population loss; costs N·m² flops", 1,
                 1'000'000'000);
  schema.add_double("tau.min", 1e-2, "smallest gradient-flow time τ of the grid (dA/dτ = -∇L, L as in THEORY.md §3)",
                    0.0, std::nullopt, true);
  schema.add_double("tau.max", 1e14, "largest τ of the grid (the limit τ = ∞, the minimizer A*, is added)", 0.0,
                    std::nullopt, true);
  schema.add_int("tau.per_decade", tau_per_decade, "τ grid points per decade (log-spaced)", 1, 1000);
  schema.add_int("tau.refine", 12,
                 "golden-section steps on log τ around the grid's KL minimum (best over training; 0: the grid's)", 0,
                 200);
  schema.add_double("kl.t0", 0.065, "KL (a): diffusion time whose score is integrated (Li2023's code: 0.065)", 0.0,
                    std::nullopt, true);
  schema.add_string("kl.reference", "clean", "KL (a) against the clean target p_0 or the smoothed p_t0",
                    {"clean", "smoothed"});
  schema.add_string("kl.method", "fine",
                    "KL (a): converged quadrature on the grid, or Li2023's coarse 51-point grid (to compare only)",
                    {"fine", "paper-grid"});
  schema.add_double("kl.lo", -12.0, "KL grid: lower end");
  schema.add_double("kl.hi", 12.0, "KL grid: upper end");
  schema.add_int("kl.points", 2401, "KL (a) grid nodes (4k + 1)", 9);
}

FlowStudySettings FlowStudySettings::from_config(const Config& c) {
  FlowStudySettings s;
  s.seed = static_cast<std::uint64_t>(c.get_int("seed"));
  s.target_mu = c.get_double("target.mu");
  s.target_var = c.get_double("target.var");
  s.sde.kind = c.get_string("sde.kind");
  s.sde.sigma = c.get_double("sde.sigma");
  s.sde.beta_min = c.get_double("sde.beta_min");
  s.sde.beta_max = c.get_double("sde.beta_max");
  s.sde.T = c.get_double("sde.T");
  require(s.sde.kind != "vp" || s.sde.beta_max >= s.sde.beta_min,
          "sde.beta_max = " + format_value(c.get("sde.beta_max")) +
              " must be >= sde.beta_min = " + format_value(c.get("sde.beta_min")));
  if (auto e = s.sde.validate(); !e.empty()) throw ConfigError(e);
  s.eps = c.get_double("eps");
  const double T = make_sde(s.sde)->T();
  require(s.eps < T, "eps = " + format_value(c.get("eps")) + " must be below the horizon T = " + format_value(T));
  s.features.embed_dim = c.get_int("embed_dim");
  s.features.embed_scale = c.get_double("embed_scale");
  s.features.init_std = c.get_double("rf.init_std");
  require(s.features.embed_dim % 2 == 0, "embed_dim = " + format_value(c.get("embed_dim")) + " must be even");
  if (auto e = s.features.validate(); !e.empty()) throw ConfigError(e);
  s.loss_method = c.get_string("expectation");
  s.t_nodes = c.get_int("t_nodes");
  s.draws_per_point = c.get_int("draws.per_point");
  s.draws_population = c.get_int("draws.population");
  const double tau_min = c.get_double("tau.min"), tau_max = c.get_double("tau.max");
  require(tau_min < tau_max,
          "tau.min = " + format_value(c.get("tau.min")) + " must be below tau.max = " + format_value(c.get("tau.max")));
  s.tau = log_tau_grid(tau_min, tau_max, c.get_int("tau.per_decade"));
  s.refine_steps = c.get_int("tau.refine");
  s.kl.t0 = c.get_double("kl.t0");
  s.kl.reference = c.get_string("kl.reference");
  s.kl.method = c.get_string("kl.method");
  s.kl.grid = Grid{c.get_double("kl.lo"), c.get_double("kl.hi"), c.get_int("kl.points")};
  require(s.kl.t0 >= s.eps && s.kl.t0 <= T, "kl.t0 = " + format_value(c.get("kl.t0")) + " must lie in [eps, T] = [" +
                                                format_value(s.eps) + ", " + format_value(T) +
                                                "]: the score is trained only there");
  require(s.kl.grid.lo < s.kl.grid.hi,
          "kl.lo = " + format_value(c.get("kl.lo")) + " must be below kl.hi = " + format_value(c.get("kl.hi")));
  if (auto e = s.kl.grid.validate("kl"); !e.empty()) throw ConfigError(e);
  if (auto e = s.kl.validate(); !e.empty()) throw ConfigError(e);
  // The grid must hold the target's mass: 6 standard deviations beyond the outer modes.
  const double reach = s.target_mu + 6.0 * std::sqrt(s.target_var);
  require(s.kl.grid.lo <= -reach && s.kl.grid.hi >= reach,
          "kl.lo/kl.hi = [" + format_value(c.get("kl.lo")) + ", " + format_value(c.get("kl.hi")) +
              "] does not cover the target's mass: it needs at least [-" + format_value(reach) + ", " +
              format_value(reach) + "] (target.mu + 6 sqrt(target.var))");
  return s;
}

RandomFeatureModel flow_model(const FlowStudySettings& settings, Index k, Index m) {
  Rng rng = Rng::stream(settings.seed, {kStreamInit, static_cast<std::uint64_t>(k)});
  RandomFeatureOptions options = settings.features;
  options.width = m;
  return RandomFeatureModel(1, options, rng);
}

Vector flow_data(const FlowStudySettings& settings, Index k, Index n) {
  Rng rng = Rng::stream(settings.seed, {kStreamData, static_cast<std::uint64_t>(k)});
  return settings.target().sample(n, rng).col(0);
}

QuadraticDsmLoss empirical_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                const Vector& data, Index k) {
  if (settings.loss_method == "exact")
    return expected_dsm_loss(model, sde, CleanLaw::from_points(data), settings.expected());
  // Point by point: point i's draws are the same in every nested training set.
  Rng rng = Rng::stream(settings.seed, {kStreamTrain, static_cast<std::uint64_t>(k)});
  const Index R = settings.draws_per_point, N = data.size() * R;
  Matrix x0(N, 1), z(N, 1);
  Vector t(N);
  const double T = sde.T();
  for (Index i = 0; i < data.size(); ++i)
    for (Index r = 0; r < R; ++r) {
      const Index j = i * R + r;
      x0(j, 0) = data[i];
      t[j] = rng.uniform(settings.eps, T);
      z(j, 0) = rng.normal();
    }
  return draw_set_loss(model, sde, x0, t, z);
}

QuadraticDsmLoss population_loss(const FlowStudySettings& settings, const RandomFeatureModel& model, const Sde& sde,
                                 Index k) {
  const GaussianMixture target = settings.target();
  if (settings.loss_method == "exact")
    return expected_dsm_loss(model, sde, CleanLaw::from_mixture(target), settings.expected());
  Rng rng = Rng::stream(settings.seed, {kStreamPopulation, static_cast<std::uint64_t>(k)});
  const Index N = settings.draws_population;
  const Matrix x0 = target.sample(N, rng);
  Matrix z(N, 1);
  Vector t(N);
  const double T = sde.T();
  for (Index j = 0; j < N; ++j) {
    t[j] = rng.uniform(settings.eps, T);
    z(j, 0) = rng.normal();
  }
  return draw_set_loss(model, sde, x0, t, z);
}

nlohmann::json flow_spread_json(const Spread& s) {
  if (s.count == 0) return nlohmann::json{{"count", 0}, {"mean", nullptr}};
  return nlohmann::json{{"count", s.count}, {"mean", s.mean}, {"sd", s.sd},
                        {"ci95", s.ci95},   {"min", s.min},   {"max", s.max}};
}

std::string flow_pm(const Spread& s, int digits) {
  if (s.count == 0) return "-";
  if (s.count < 2) return format_significant(s.mean, digits);
  return format_significant(s.mean, digits) + " ± " + format_significant(s.ci95, 2);
}

std::vector<double> log10_of(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values) out.push_back(std::isfinite(v) && v > 0.0 ? std::log10(v) : kNaN);
  return out;
}

}  // namespace diffgen
