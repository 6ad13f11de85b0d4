#include "training/expected_loss.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/parallel.hpp"
#include "numerics/quadrature.hpp"

namespace diffgen {
namespace {

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

// The law of x_t = a x0 + s z at one time: components N(a μ_k, a² v_k + s²)
// in the order of the sorted law, and the prefix and suffix sums of the
// whole-component moments (π, π m, π (m² + σ²)): row k of `prefix` sums the
// components before k, row k of `suffix` those from k on.
struct LawAtTime {
  Vector mk, sk, inv_sk;
  double sigma_max = 0.0;
  Matrix prefix, suffix;  // [(K + 1)×3]
};

LawAtTime law_at_time(const SortedLaw& law, double a, double s) {
  const Index K = law.weight.size();
  LawAtTime L{Vector(K), Vector(K), Vector(K), 0.0, Matrix(K + 1, 3), Matrix(K + 1, 3)};
  for (Index k = 0; k < K; ++k) {
    L.mk[k] = a * law.mean[k];
    L.sk[k] = std::sqrt(a * a * law.var[k] + s * s);
    L.inv_sk[k] = 1.0 / L.sk[k];
    L.sigma_max = std::max(L.sigma_max, L.sk[k]);
  }
  Matrix &prefix = L.prefix, &suffix = L.suffix;
  const Vector &mk = L.mk, &sk = L.sk;
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
  return L;
}

// Adds to T the Gaussian tails below and above y of the components
// [first, first + len) within reach of y: their standardized distances, then
// their densities in one vectorized pass (Eigen's exp), then the tails.
void add_window_tails(const SortedLaw& law, const LawAtTime& L, double y, Index first, Index len, Vector& zbuf,
                      Vector& pdfbuf, Tails& T) {
  auto z = zbuf.head(len).array();
  auto pdf = pdfbuf.head(len).array();
  z = (y - L.mk.segment(first, len).array()) * L.inv_sk.segment(first, len).array();
  pdf = (-0.5 * z.square()).exp() * kInvSqrt2Pi;
  for (Index j = 0; j < len; ++j) {
    const Index k = first + j;
    const double sig = L.sk[k], mean = L.mk[k], zj = z[j], pj = pdf[j];
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

// Where each feature is active (its side of the kink y = −c/w) and the law's
// moments below and above its kink.
struct FeatureTails {
  std::vector<Side> side;
  std::vector<double> kink;
  std::vector<Tails> tails;
};

FeatureTails feature_tails(const SortedLaw& law, const LawAtTime& L, const Vector& w, const Vector& c) {
  const Index m = w.size(), K = law.weight.size();
  FeatureTails F{std::vector<Side>(static_cast<std::size_t>(m)), std::vector<double>(static_cast<std::size_t>(m), 0.0),
                 std::vector<Tails>(static_cast<std::size_t>(m))};
  Vector zbuf(K), pdfbuf(K);
  const double* begin = L.mk.data();
  const double* end = L.mk.data() + K;
  for (Index i = 0; i < m; ++i) {
    if (w[i] == 0.0) {
      F.side[i] = c[i] > 0.0 ? Side::Always : Side::Never;
      continue;
    }
    F.side[i] = w[i] > 0.0 ? Side::Above : Side::Below;
    const double y = -c[i] / w[i];
    F.kink[i] = y;
    // Components wholly below y count fully in `lo`, wholly above fully in `up`;
    // only those within the window need the Gaussian's tails.
    const Index first = std::lower_bound(begin, end, y - kWindow * L.sigma_max) - begin;
    const Index last = std::upper_bound(begin, end, y + kWindow * L.sigma_max) - begin;
    Tails& T = F.tails[i];
    for (int r = 0; r < 3; ++r) {
      T.lo[r] = L.prefix(first, r);
      T.up[r] = L.suffix(last, r);
    }
    if (last - first > 0) add_window_tails(law, L, y, first, last - first, zbuf, pdfbuf, T);
  }
  return F;
}

// The moments M_r = ∫_I x^r p_t(x) dx (r = 0, 1, 2) over the interval I where
// features i and j are both active, bounded by at most one kink on each side;
// false when I is empty.
bool pair_moments(const FeatureTails& F, const double total[3], Index i, Index j, double M[3]) {
  const auto& side = F.side;
  const auto& kink = F.kink;
  const auto& tails = F.tails;
  // The interval [L, U]: its ends come from a feature's kink (index) or are infinite (-1).
  Index lower = -1, upper = -1;
  for (Index f : {i, j}) {
    if (side[f] == Side::Above && (lower < 0 || kink[f] > kink[lower])) lower = f;
    if (side[f] == Side::Below && (upper < 0 || kink[f] < kink[upper])) upper = f;
  }
  if (lower < 0 && upper < 0) {
    for (int r = 0; r < 3; ++r) M[r] = total[r];
  } else if (lower < 0) {
    for (int r = 0; r < 3; ++r) M[r] = tails[upper].lo[r];
  } else if (upper < 0) {
    for (int r = 0; r < 3; ++r) M[r] = tails[lower].up[r];
  } else {
    if (!(kink[lower] < kink[upper])) return false;
    // The difference of the two smaller tail sums loses the least to rounding.
    const Tails &L = tails[lower], &U = tails[upper];
    if (U.lo[0] <= L.up[0]) {
      for (int r = 0; r < 3; ++r) M[r] = U.lo[r] - L.lo[r];
    } else {
      for (int r = 0; r < 3; ++r) M[r] = L.up[r] - U.up[r];
    }
  }
  return true;
}

// E[φ φᵀ] and E[z φ] at one time, accumulated into `second` (upper triangle)
// and `cross` with factors g_scale and z_scale.
void accumulate_moments(const RandomFeatureModel& model, const SortedLaw& law, double t, double a, double s,
                        double g_scale, double z_scale, SquareMatrix& second, Vector& cross) {
  const Index m = model.width(), K = law.weight.size();
  const Vector w = model.input_weights().col(0);
  const Vector c = model.time_weights() * model.embedding()(t).transpose();
  const LawAtTime L = law_at_time(law, a, s);
  const FeatureTails F = feature_tails(law, L, w, c);
  const double total[3] = {L.prefix(K, 0), L.prefix(K, 1), L.prefix(K, 2)};

  // E[z φ_i] = s w_i P(feature i active) (Stein's lemma, Cov(z, x_t) = s).
  for (Index i = 0; i < m; ++i) {
    double active = 0.0;
    if (F.side[i] == Side::Above) active = F.tails[i].up[0];
    if (F.side[i] == Side::Below) active = F.tails[i].lo[0];
    cross[i] += z_scale * s * w[i] * active;
  }

  // E[φ_i φ_j] = w_i w_j M2 + (w_i c_j + c_i w_j) M1 + c_i c_j M0 over the
  // interval where both are active.
  for (Index j = 0; j < m; ++j) {
    if (F.side[j] == Side::Never) continue;
    for (Index i = 0; i <= j; ++i) {
      if (F.side[i] == Side::Never) continue;
      double M[3];
      if (!pair_moments(F, total, i, j, M)) continue;
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
    const Index nodes =
        checked_count((hi - lo) / (sigma_min / 16.0), kMaxGridPoints, "expected loss: quadrature grid") + 1;
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

}  // namespace diffgen
