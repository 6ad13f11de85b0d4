#include "bounds/output_density.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "core/error.hpp"
#include "core/limits.hpp"

namespace diffgen {
namespace {

// Where q is below this factor times e^{-w²/2} of its peak (w the kernel
// width in standard deviations), the truncated kernels no longer carry it:
// the last step sums its full kernels there instead.
constexpr double kTailMargin = 1e4;

// The transition out of a set of nodes: mean y + δ f(y), variance v(y).
struct Transition {
  Vector mean, var;
};

// f (and the sampler's Σ⁺) at the nodes y for the step of size delta from t.
Transition transition_at(const ConditionalMeanEstimator& f, StepRule rule, const Vector& y, double t, double delta) {
  const Matrix Y = y;
  Matrix m, c;
  Transition tr;
  if (rule == StepRule::CovarianceMatched) {
    f.mean_and_covariance(Y, t, m, c);
    tr.var = (delta + delta * delta * c.col(0).array().cwiseMax(0.0)).matrix();
  } else {
    f.mean(Y, t, m);
    tr.var = Vector::Constant(y.size(), delta);
  }
  tr.mean = y + delta * m.col(0);
  return tr;
}

// The largest grid step that resolves the next step's integrand
// y ↦ q(y) N(y'; φ(y), v(y)), φ(y) = y + δ f(y), at every node: `spacing`
// times its width √v / (|φ'| + 3 |(√v)'|) (the second term: where the
// covariance-matched variance changes, the kernel moves under y' a few
// standard deviations out), and small enough that φ bends by at most `bend`
// kernel widths over one step (h² |φ''| <= bend √v). Derivatives by
// differences of neighbouring nodes.
double largest_step(const Vector& y, const Transition& tr, double spacing, double bend) {
  const Index n = y.size();
  double h = std::numeric_limits<double>::infinity();
  for (Index i = 0; i < n; ++i) {
    const double s = std::sqrt(tr.var[i]);
    double slope = 1.0, curvature = 0.0;
    if (n > 2) {
      const Index c = std::clamp<Index>(i, 1, n - 2);
      const double step = y[c + 1] - y[c];
      slope = std::abs(tr.mean[c + 1] - tr.mean[c - 1]) / (2.0 * step) +
              3.0 * std::abs(std::sqrt(tr.var[c + 1]) - std::sqrt(tr.var[c - 1])) / (2.0 * step);
      curvature = (tr.mean[c + 1] - 2.0 * tr.mean[c] + tr.mean[c - 1]) / (step * step);
    }
    h = std::min(h, spacing * s / std::max(slope, 1.0));
    if (curvature != 0.0) h = std::min(h, std::sqrt(bend * s / std::abs(curvature)));
  }
  return h;
}

// Adds every kept source node's mass h q_j, spread by its Gaussian kernel
// N(·; mean_j, var_j), to the density q_new on the grid lo + i h_new, over
// ± width standard deviations. The kernel is normalized by its exact
// integral (on a grid at most 0.8 standard deviations apart the trapezoid
// sum of a Gaussian is 1 to within 4e-14) and evaluated from its peak
// outward by two interleaved recurrences, w_{i±1} = w_i r_±, r_± ← r_± c,
// c = exp(-h²/v): three exponentials per source instead of one per node.
void scatter(const Vector& q, double h, const Transition& tr, const std::vector<Index>& kept, double lo, double h_new,
             double width, Vector& q_new, Index& evaluations) {
  const Index last = q_new.size() - 1;
  double* out = q_new.data();
  double v_cached = -1.0, c = 0.0;
  for (const Index j : kept) {
    const double mass = h * q[j];
    const double m = tr.mean[j], v = tr.var[j], s = std::sqrt(v);
    // Clamped in double: a source far off the grid must not overflow the index.
    const Index i0 = clamped_index(std::ceil((m - width * s - lo) / h_new), 0, last + 1);
    const Index i1 = clamped_index(std::floor((m + width * s - lo) / h_new), -1, last);
    const Index ic = clamped_index(std::round((m - lo) / h_new), 0, last);
    if (i1 < i0) {
      // A kernel narrower than the grid step (not with spacing <= 1): its mass goes to the nearest node.
      out[ic] += mass / h_new;
      continue;
    }
    if (v != v_cached) {
      c = std::exp(-h_new * h_new / v);
      v_cached = v;
    }
    const Index center = std::clamp(ic, i0, i1);
    const double a = (lo + h_new * static_cast<double>(center)) - m;
    const double peak = mass / std::sqrt(2.0 * std::numbers::pi * v) * std::exp(-0.5 * a * a / v);
    out[center] += peak;
    double wr = peak, wl = peak;
    double rr = std::exp(-(a * h_new + 0.5 * h_new * h_new) / v);  // w_{i+1} / w_i
    double rl = std::exp((a * h_new - 0.5 * h_new * h_new) / v);   // w_{i-1} / w_i
    const Index right = i1 - center, left = center - i0, both = std::min(right, left);
    for (Index k = 1; k <= both; ++k) {
      wr *= rr;
      wl *= rl;
      rr *= c;
      rl *= c;
      out[center + k] += wr;
      out[center - k] += wl;
    }
    for (Index k = both + 1; k <= right; ++k) {
      wr *= rr;
      rr *= c;
      out[center + k] += wr;
    }
    for (Index k = both + 1; k <= left; ++k) {
      wl *= rl;
      rl *= c;
      out[center - k] += wl;
    }
    evaluations += i1 - i0 + 1;
  }
}

Vector uniform_nodes(double lo, double h, Index points) {
  Vector y(points);
  for (Index i = 0; i < points; ++i) y[i] = lo + h * static_cast<double>(i);
  return y;
}

// A density on a uniform grid: nodes y, densities q, spacing h, and the
// transition out of each node (for the next step).
struct Density {
  Vector y, q;
  double h = 1.0;
  Transition tr;
};

// The range [lo, hi] and the spacing h of a step's new grid.
struct Window {
  double lo, hi, h;
};

void check_inputs(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid, const GaussianMixture* target,
                  const OutputDensityOptions& o) {
  if (auto err = o.validate(); !err.empty()) throw ConfigError(err);
  if (auto err = validate_discrete_time_grid(grid); !err.empty()) throw ConfigError("output density: " + err);
  if (f.dim() != 1)
    throw ConfigError("output density: the estimator must be 1-D (it is " + std::to_string(f.dim()) + "-D)");
  if (target && target->dim() != 1) throw ConfigError("output density: the target must be 1-D");
  if (rule == StepRule::CovarianceMatched && !f.has_covariance())
    throw ConfigError("output density: the covariance-matched step needs a covariance, estimator '" + f.name() +
                      "' has none");
}

// Cover Y_t too, so that q is carried wherever the comparison has mass (the
// KL at the end reads log q there); after the last step, also resolve the
// KL's integrand.
void cover_target(const GaussianMixture& target, double t, bool last, const OutputDensityOptions& o, Window& w) {
  const Index K = target.components();
  for (Index c = 0; c < K; ++c) {
    const double m = t * target.means()(c, 0), s = std::sqrt(t * t * target.covariance(c)(0, 0) + t);
    w.lo = std::min(w.lo, m - o.target_width * s);
    w.hi = std::max(w.hi, m + o.target_width * s);
    if (!last) continue;
    // The KL's integrand p log(p/q) must be resolved too: each component's
    // width, and the strip of analyticity of log p, whose nearest poles lie
    // π V / (t |μ_c - μ_c'|) off the real axis for components of equal
    // variance V (the trapezoid rule errs by about exp(-2π strip / h)).
    w.h = std::min(w.h, s / 8.0);
    for (Index c2 = 0; c2 < K; ++c2) {
      const double dm = std::abs(target.means()(c, 0) - target.means()(c2, 0));
      const double v = t * t * std::max(target.covariance(c)(0, 0), target.covariance(c2)(0, 0)) + t;
      if (dm > 0.0) w.h = std::min(w.h, std::numbers::pi * v / (t * dm) / 4.0);
    }
  }
}

// The first try at step k's new grid: where the kernels of the nodes that
// carry mass (of `total`) reach, fine enough for this step's kernels, and
// for the next step's integrand (or, after the last step, for the density
// of Y_{t_n}).
Window step_window(const Density& src, double total, const Vector& grid, Index k, bool last,
                   const GaussianMixture* target, const OutputDensityOptions& o) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, narrowest = lo;
  for (Index j = 0; j < src.y.size(); ++j) {
    if (src.h * src.q[j] <= o.mass_floor * total) continue;
    const double s = std::sqrt(src.tr.var[j]);
    lo = std::min(lo, src.tr.mean[j] - o.kernel_width * s);
    hi = std::max(hi, src.tr.mean[j] + o.kernel_width * s);
    narrowest = std::min(narrowest, s);
  }
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw NumericalError(fmt::format("output density: non-finite transition at t = {}", grid[k]));
  Window w{lo, hi, (last ? o.final_spacing : o.spacing) * narrowest};
  if (target) cover_target(*target, grid[k + 1], last, o, w);
  return w;
}

// Step k: scatters the kept sources onto the window's grid, then checks the
// new grid against what the next step needs there (read off the grid
// itself, where it carries mass); refines and redoes it when it is too
// coarse. Before the last step, the result carries the next step's
// transition.
Density scatter_refined(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid, Index k, bool last,
                        const Density& src, const std::vector<Index>& kept, const Window& window,
                        const OutputDensityOptions& o, Index& evaluations) {
  Density next;
  double h_new = window.h;
  for (int pass = 0;; ++pass) {
    const double wanted = std::ceil((window.hi - window.lo) / h_new) + 1.0;
    // Compared in double: an overflowing count must not wrap past the check.
    const Index points = wanted <= static_cast<double>(o.max_points) ? static_cast<Index>(wanted) : o.max_points + 1;
    if (points > o.max_points || pass > 100)
      throw NumericalError(fmt::format(
          "output density: step {} at t = {} needs {} grid points (more than {}); the kernels are too narrow "
          "for the spread of the samples",
          k + 1, grid[k + 1], wanted, o.max_points));
    next.y = uniform_nodes(window.lo, h_new, points);
    next.q = Vector::Zero(points);
    scatter(src.q, src.h, src.tr, kept, window.lo, h_new, o.kernel_width, next.q, evaluations);
    if (!next.q.allFinite())
      throw NumericalError(fmt::format("output density: non-finite density at t = {}", grid[k + 1]));
    if (last) break;
    // The next step's transition at the nodes that will carry mass.
    const double total_new = h_new * next.q.sum();
    Index first = points, end = 0;
    for (Index i = 0; i < points; ++i)
      if (h_new * next.q[i] > o.mass_floor * total_new) {
        first = std::min(first, i);
        end = i + 1;
      }
    if (end <= first) throw NumericalError(fmt::format("output density: no mass left at t = {}", grid[k + 1]));
    const Transition part =
        transition_at(f, rule, next.y.segment(first, end - first), grid[k + 1], grid[k + 2] - grid[k + 1]);
    const double need = largest_step(next.y.segment(first, end - first), part, o.spacing, o.bend);
    if (need >= h_new * (1.0 - 1e-12)) {
      next.tr.mean = Vector::Zero(points);
      next.tr.var = Vector::Ones(points);
      next.tr.mean.segment(first, end - first) = part.mean;
      next.tr.var.segment(first, end - first) = part.var;
      break;
    }
    // A little below what is needed, so that the next pass (whose finer
    // grid reads the slopes a little better) usually settles.
    h_new = 0.9 * need;
  }
  next.h = h_new;
  return next;
}

// log q at every node of the last step's density `next`, into out.log_q. Far
// from the sampler's mass the truncated kernels leave q inexact (or 0) where
// the comparison may still have mass, and a KL needs log q there: sum the
// full kernels of the kept sources of `src` in log space, at the nodes where
// the comparison's density at t is not negligible (a KL term p log(p/q) with
// p below 1e-30 of its peak cannot matter).
void tail_log_q(const Density& src, const std::vector<Index>& kept, const Density& next, const GaussianMixture* target,
                double t, const OutputDensityOptions& o, OutputDensity& out) {
  out.log_q = next.q.array().log();
  const double q_max = next.q.maxCoeff();
  const double tail = kTailMargin * std::exp(-0.5 * o.kernel_width * o.kernel_width);
  std::vector<char> relevant(static_cast<std::size_t>(next.y.size()), 1);
  if (target) {
    const Vector log_p = target->log_density(Matrix(next.y), t, std::sqrt(t));
    const double floor = log_p.maxCoeff() + std::log(1e-30);
    for (Index i = 0; i < next.y.size(); ++i) relevant[static_cast<std::size_t>(i)] = log_p[i] > floor;
  }
  const std::size_t K = kept.size();
  std::vector<double> log_weight(K), mean(K), inv_var(K), terms(K);
  for (std::size_t c = 0; c < K; ++c) {
    const Index j = kept[c];
    log_weight[c] = std::log(src.h * src.q[j]) - 0.5 * std::log(2.0 * std::numbers::pi * src.tr.var[j]);
    mean[c] = src.tr.mean[j];
    inv_var[c] = 1.0 / src.tr.var[j];
  }
  for (Index i = 0; i < next.y.size(); ++i) {
    if (next.q[i] >= tail * q_max || !relevant[static_cast<std::size_t>(i)]) continue;
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < K; ++c) {
      const double a = next.y[i] - mean[c];
      terms[c] = log_weight[c] - 0.5 * a * a * inv_var[c];
      mx = std::max(mx, terms[c]);
    }
    double sum = 0.0;
    for (std::size_t c = 0; c < K; ++c)
      if (terms[c] > mx - 40.0) sum += std::exp(terms[c] - mx);  // the rest add below 1e-17 of the largest
    out.log_q[i] = mx + std::log(sum);
    ++out.tail_nodes;
  }
}

}  // namespace

std::string OutputDensityOptions::validate() const {
  if (!(spacing > 0.0) || !(spacing <= 1.0))
    return fmt::format("density spacing = {} is not allowed (need 0 < spacing <= 1)", spacing);
  if (!(final_spacing > 0.0) || !(final_spacing <= spacing))
    return fmt::format("density final spacing = {} is not allowed (need 0 < final spacing <= spacing = {})",
                       final_spacing, spacing);
  if (!(kernel_width >= 4.0) || !std::isfinite(kernel_width))
    return fmt::format("density kernel width = {} is not allowed (need >= 4 standard deviations)", kernel_width);
  if (!(mass_floor >= 0.0) || !(mass_floor < 1e-6))
    return fmt::format("density mass floor = {} is not allowed (need 0 <= floor < 1e-6)", mass_floor);
  if (!(target_width >= 4.0) || !std::isfinite(target_width))
    return fmt::format("density target width = {} is not allowed (need >= 4 standard deviations)", target_width);
  if (max_points < 16) return fmt::format("density max points = {} is not allowed (need >= 16)", max_points);
  return {};
}

OutputDensity output_density(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid,
                             const GaussianMixture* target, const OutputDensityOptions& o) {
  check_inputs(f, rule, grid, target, o);
  const Index steps = grid.size() - 1;
  OutputDensity out;
  out.t_max = grid[steps];
  out.kernel_width = o.kernel_width;
  out.mass_floor = o.mass_floor;

  // The source: nodes y, densities q (point mass at 0 for the first step), spacing h.
  Density src;
  src.y = Vector::Zero(1);
  src.q = Vector::Ones(1);
  src.h = 1.0;  // the point mass: "density" 1 times width 1
  src.tr = transition_at(f, rule, src.y, grid[0], grid[1] - grid[0]);
  for (Index k = 0; k < steps; ++k) {
    const bool last = k + 1 == steps;
    const double total = src.h * src.q.sum();
    const Window window = step_window(src, total, grid, k, last, target, o);
    std::vector<Index> kept;  // the sources that carry mass (the last step's give its exact tails)
    double kept_mass = 0.0;
    for (Index j = 0; j < src.y.size(); ++j)
      if (src.h * src.q[j] > o.mass_floor * total) {
        kept.push_back(j);
        kept_mass += src.h * src.q[j];
      } else {
        out.dropped_mass += src.h * src.q[j];
      }
    // Each kept kernel loses its mass beyond ± kernel_width standard deviations.
    out.lost_mass += kept_mass * std::erfc(o.kernel_width / std::numbers::sqrt2);
    Density next = scatter_refined(f, rule, grid, k, last, src, kept, window, o, out.kernel_evaluations);
    out.largest_grid = std::max<Index>(out.largest_grid, next.y.size());
    if (last) {
      out.last_variance = std::numeric_limits<double>::infinity();
      for (const Index j : kept) out.last_variance = std::min(out.last_variance, src.tr.var[j]);
      tail_log_q(src, kept, next, target, grid[steps], o, out);
    }
    src.y.swap(next.y);
    src.q.swap(next.q);
    src.h = next.h;
    if (!last) {
      src.tr.mean.swap(next.tr.mean);
      src.tr.var.swap(next.tr.var);
    }
  }
  out.lost_mass += out.dropped_mass;
  out.y = std::move(src.y);
  out.q = std::move(src.q);
  out.h = src.h;
  return out;
}

namespace {

// The KL integrand p log(p/q) - p + q at q = e^{log_q} (q alone where p = 0).
double kl_term(double p, double log_p, double log_q) {
  return p > 0.0 ? p * (log_p - log_q) - p + std::exp(log_q) : std::exp(log_q);
}

// log(e^a + e^b).
double log_add(double a, double b) {
  if (std::isinf(a) && a < 0.0) return b;
  if (std::isinf(b) && b < 0.0) return a;
  return std::max(a, b) + std::log1p(std::exp(-std::abs(a - b)));
}

}  // namespace

FinalKl final_kl(const GaussianMixture& target, const OutputDensity& density) {
  if (target.dim() != 1) throw ConfigError("final KL: the target must be 1-D");
  const double t = density.t_max;
  const Matrix Y = density.y;
  const Vector log_p = target.log_density(Y, t, std::sqrt(t));
  FinalKl out;
  // The mass the propagation lost reaches the last grid through the last
  // step's kernels, whose densities are at most 1/√(2π v_min): the true q is
  // between the computed one and the computed one plus this.
  out.density_gap = density.lost_mass / std::sqrt(2.0 * std::numbers::pi * density.last_variance);
  const double log_gap = std::log(out.density_gap);
  double mass_p = 0.0, mass_q = 0.0;
  const Index n = log_p.size();
  // Nodes where p is below 1e-30 of its peak and q vanished (beyond every
  // kernel's reach) cannot matter; output_density skips their tails too.
  const double log_p_floor = log_p.maxCoeff() + std::log(1e-30);
  for (Index i = 0; i < n; ++i) {
    const double wt = (i == 0 || i == n - 1) ? 0.5 * density.h : density.h;
    const double lq = density.log_q[i], lp = log_p[i], pi = std::exp(lp);
    if (std::isinf(lq) && !(lp > log_p_floor)) continue;
    mass_p += wt * pi;
    mass_q += wt * density.q[i];
    // The integrand is convex in q with its minimum at q = p: over [q, q + gap]
    // it is at least its value at p clamped to the interval and at most the
    // larger of its values at the ends.
    const double lq_hi = log_add(lq, log_gap), here = kl_term(pi, lp, lq), there = kl_term(pi, lp, lq_hi);
    out.kl += wt * here;
    out.kl_upper += wt * std::max(here, there);
    out.kl_lower += wt * kl_term(pi, lp, std::clamp(lp, lq, lq_hi));
  }
  out.target_mass_outside = std::max(0.0, 1.0 - mass_p);
  out.sampler_mass = mass_q;
  return out;
}

}  // namespace diffgen
