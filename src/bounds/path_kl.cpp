#include "bounds/path_kl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "numerics/quadrature.hpp"

namespace diffgen {
namespace {

// Grid intervals or nodes per parallel chunk (fixed: bit-identical results for any thread count).
constexpr Index kIntervalChunk = 8;
constexpr Index kNodeChunk = 32;
// d > 1: draws that decide how finely each interval is cut.
constexpr Index kPilotDraws = 64;

// Per-draw traces tr Cov(X | Y_t) along the draws' paths Y = t X + √t N.
Vector path_traces(const MixtureDenoiser& exact, const Matrix& X, const Matrix& N, double t) {
  const Matrix Y = t * X + std::sqrt(t) * N;
  return exact.posterior_trace(Y, t);
}

// Index of `t` among the evaluator's grid points, or -1.
Index find_point(const Vector& grid, double t) {
  const auto* begin = grid.data();
  const auto* end = begin + grid.size();
  const auto* it = std::lower_bound(begin, end, t);
  for (const auto* c : {it - 1, it})
    if (c >= begin && c < end && std::abs(*c - t) <= 1e-12 * std::max(1.0, std::abs(t))) return c - begin;
  return -1;
}

// In-place Cholesky factor of the symmetric d x d matrix a (row-major; the
// lower triangle is read and overwritten). False when it is not positive
// definite. Raw loops: it runs for every draw, point and grid in d > 1.
bool cholesky(double* a, Index d) {
  for (Index j = 0; j < d; ++j) {
    double s = a[j * d + j];
    for (Index k = 0; k < j; ++k) s -= a[j * d + k] * a[j * d + k];
    if (!(s > 0.0)) return false;
    const double ljj = std::sqrt(s);
    a[j * d + j] = ljj;
    for (Index i = j + 1; i < d; ++i) {
      double v = a[i * d + j];
      for (Index k = 0; k < j; ++k) v -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = v / ljj;
    }
  }
  return true;
}

// Solves L Lᵀ x = b in place (x holds b on entry), L from cholesky().
void cholesky_solve(const double* l, Index d, double* x) {
  for (Index i = 0; i < d; ++i) {
    double v = x[i];
    for (Index k = 0; k < i; ++k) v -= l[i * d + k] * x[k];
    x[i] = v / l[i * d + i];
  }
  for (Index i = d - 1; i >= 0; --i) {
    double v = x[i];
    for (Index k = i + 1; k < d; ++k) v -= l[k * d + i] * x[k];
    x[i] = v / l[i * d + i];
  }
}

// Everything a node contributes, per draw (d > 1) or per quadrature node (d = 1).
struct NodeData {
  Vector weight;    // d = 1: quadrature weights; d > 1: empty
  Vector trace;     // tr Σ*
  Vector err2;      // ‖e‖², e = E[X | y] - f(y)
  Vector trace_sq;  // tr Σ*² (d > 1, for the control variate)
  // Covariance-matched rule: Σ (clipped) and Σ* - Σ per draw, row-major d x d; e per draw.
  Matrix sigma, diff, e;
  Index clipped = 0;
};

// Where each grid's points sit in the evaluator's grid: per grid, the index
// of each of its points, and its step index at each evaluator point (or -1).
struct GridPlacement {
  std::vector<std::vector<Index>> index, position;
};

// ConfigError when a grid is not a subset of the evaluator's grid starting at 0.
GridPlacement place_grids(const Vector& grid, const std::vector<Vector>& grids) {
  const Index L = static_cast<Index>(grids.size());
  GridPlacement p;
  p.index.resize(L);
  p.position.assign(L, std::vector<Index>(grid.size(), -1));
  for (Index l = 0; l < L; ++l) {
    const Vector& g = grids[l];
    if (auto err = validate_discrete_time_grid(g); !err.empty()) throw ConfigError("path KL: " + err);
    if (g[0] != 0.0) throw ConfigError(fmt::format("path KL: the grid starts at t = {}, not at 0", g[0]));
    for (Index k = 0; k < g.size(); ++k) {
      const Index j = find_point(grid, g[k]);
      if (j < 0)
        throw ConfigError(
            fmt::format("path KL: t = {} (point {} of a {}-step grid) is not a point of the evaluator's grid", g[k], k,
                        g.size() - 1));
      p.index[l].push_back(j);
      p.position[l][j] = k;
    }
  }
  return p;
}

// Per grid: Σ_k g_k (+ controls), the same sum for the exact estimator under
// the rule (+ controls), ½ Σ δ ε², ½ Σ δ (M(t_k) - M(t_{k+1})).
struct Accumulators {
  std::vector<Vector> delta, disc, est, grid_bound;
  Index clipped = 0;
};

// L grids' accumulators of length R, at zero.
Accumulators fresh_accumulators(Index L, Index R) {
  Accumulators a;
  for (auto* v : {&a.delta, &a.disc, &a.est, &a.grid_bound}) v->assign(L, Vector::Zero(R));
  return a;
}

// The chunks' accumulators summed in order (a chunk that ran no node is empty).
Accumulators combine(const std::vector<Accumulators>& partial, Index L, Index R) {
  Accumulators total = fresh_accumulators(L, R);
  for (const auto& p : partial) {
    if (p.delta.empty()) continue;
    for (Index l = 0; l < L; ++l) {
      total.delta[l] += p.delta[l];
      total.disc[l] += p.disc[l];
      total.est[l] += p.est[l];
      total.grid_bound[l] += p.grid_bound[l];
    }
    total.clipped += p.clipped;
  }
  return total;
}

// The results before any node is seen: each grid's size, end, largest step.
std::vector<PathKl> empty_results(const std::vector<Vector>& grids) {
  const Index L = static_cast<Index>(grids.size());
  std::vector<PathKl> out(L);
  for (Index l = 0; l < L; ++l) {
    const Index n = grids[l].size() - 1;
    out[l].steps = n;
    out[l].t_max = grids[l][n];
    out[l].eps2.resize(n);
    out[l].mmse.resize(n + 1);
    for (Index k = 0; k < n; ++k) out[l].delta_max = std::max(out[l].delta_max, grids[l][k + 1] - grids[l][k]);
  }
  return out;
}

// What every node of PathKlEvaluator::evaluate reads: the evaluator's state
// and the call's estimator and rule.
struct NodeInputs {
  const GaussianMixture& target;
  const MixtureDenoiser& exact;
  const PathKlOptions& options;
  bool quadrature;  // d = 1
  const Matrix &X, &N, &slope;
  const ConditionalMeanEstimator& f;
  bool covariance;  // the covariance-matched rule
  Index d;
};

// A chunk's buffers, reused from node to node.
struct NodeWork {
  NodeWork(Index d, Index draws) : work(d * d), ev(d), contrib(draws) {}
  NodeData nd;
  Matrix mean_exact, cov_exact, mean_f, cov_f, Y;
  Vector trace_exact;
  Vector work, ev, contrib;
};

// The sampler's covariance (w.nd.sigma) from the estimate w.cov_f, with
// negative eigenvalues set to 0, and Σ* - Σ (w.nd.diff). Returns how many
// observations' covariances were clipped.
Index clip_covariances(Index d, NodeWork& w) {
  NodeData& nd = w.nd;
  const Index P = w.Y.rows();
  Index clipped = 0;
  nd.sigma = w.cov_f;
  for (Index r = 0; r < P; ++r) {
    Eigen::Map<Matrix> Sr(nd.sigma.row(r).data(), d, d);
    if (d == 1) {
      if (Sr(0, 0) < 0.0) {
        Sr(0, 0) = 0.0;
        ++clipped;
      }
      continue;
    }
    w.work = Eigen::Map<const Vector>(Sr.data(), d * d);
    for (Index i = 0; i < d; ++i) w.work[i * d + i] += 1e-12 * (1.0 + std::abs(Sr.trace()));
    if (!cholesky(w.work.data(), d)) {
      Eigen::SelfAdjointEigenSolver<SquareMatrix> es{SquareMatrix(Sr)};
      Sr = es.eigenvectors() * es.eigenvalues().cwiseMax(0.0).asDiagonal() * es.eigenvectors().transpose();
      ++clipped;
    }
  }
  nd.diff = w.cov_exact - nd.sigma;
  return clipped;
}

// Fills w.nd at time t: the observations, the exact and the estimated
// posterior mean (and covariance, for the covariance-matched rule). Returns
// how many observations' covariances were clipped.
Index observe_node(const NodeInputs& in, double t, NodeWork& w) {
  NodeData& nd = w.nd;
  // The observations: quadrature nodes (d = 1) or the draws' paths (d > 1).
  if (in.quadrature) {
    auto q = observation_quadrature(in.target, t, in.options.mmse);
    w.Y = std::move(q.y);
    nd.weight = std::move(q.w);
  } else {
    w.Y = t * in.X + std::sqrt(t) * in.N;
  }
  const Index P = w.Y.rows();
  in.exact.evaluate(w.Y, t, w.mean_exact, &w.trace_exact, in.covariance ? &w.cov_exact : nullptr);
  if (in.covariance)
    in.f.mean_and_covariance(w.Y, t, w.mean_f, w.cov_f);
  else
    in.f.mean(w.Y, t, w.mean_f);
  nd.trace = w.trace_exact;
  nd.e = w.mean_exact - w.mean_f;
  nd.err2 = nd.e.rowwise().squaredNorm();
  if (!in.quadrature && in.covariance) {
    nd.trace_sq.resize(P);
    for (Index r = 0; r < P; ++r) {
      const Eigen::Map<const Matrix> C(w.cov_exact.row(r).data(), in.d, in.d);
      nd.trace_sq[r] = C.cwiseProduct(C.transpose()).sum();
    }
  }
  return in.covariance ? clip_covariances(in.d, w) : 0;
}

// g_k of observation r under the covariance-matched rule in d > 1: with
// A = I + δ Σ, its Cholesky factor, log det A, eᵀ A^{-1} e and
// tr(A^{-1} (Σ* - Σ)).
double matched_step_term(const NodeData& nd, Index r, Index d, double delta, double t, Vector& work, Vector& ev) {
  const double* sig = nd.sigma.row(r).data();
  for (Index i = 0; i < d * d; ++i) work[i] = delta * sig[i];
  for (Index i = 0; i < d; ++i) work[i * d + i] += 1.0;
  if (!cholesky(work.data(), d))
    throw NumericalError(fmt::format("path KL: I + δ Σ is not positive definite at t = {}", t));
  double log_det = 0.0;
  for (Index i = 0; i < d; ++i) log_det += 2.0 * std::log(work[i * d + i]);
  const double* e_r = nd.e.row(r).data();
  for (Index i = 0; i < d; ++i) ev[i] = e_r[i];
  cholesky_solve(work.data(), d, ev.data());
  double quad = 0.0;
  for (Index i = 0; i < d; ++i) quad += e_r[i] * ev[i];
  double tr = 0.0;
  const double* diff = nd.diff.row(r).data();
  if (std::any_of(diff, diff + d * d, [](double x) { return x != 0.0; }))
    for (Index c = 0; c < d; ++c) {
      for (Index i = 0; i < d; ++i) ev[i] = diff[i * d + c];
      cholesky_solve(work.data(), d, ev.data());
      tr += ev[c];
    }
  return 0.5 * log_det + 0.5 * delta * (tr + quad);
}

// g_k, one value per observation, for the step of size delta from t.
Vector step_terms(const NodeInputs& in, double delta, double t, NodeWork& w) {
  const NodeData& nd = w.nd;
  const Index P = w.Y.rows();
  Vector gk(P);
  if (!in.covariance) {
    gk = 0.5 * delta * (nd.trace + nd.err2);
  } else if (in.d == 1) {
    for (Index r = 0; r < P; ++r) {
      const double a = 1.0 + delta * nd.sigma(r, 0);
      gk[r] = 0.5 * std::log(a) + 0.5 * delta * (nd.diff(r, 0) + nd.err2[r]) / a;
    }
  } else {
    for (Index r = 0; r < P; ++r) gk[r] = matched_step_term(nd, r, in.d, delta, t, w.work, w.ev);
  }
  return gk;
}

// g_k of the exact estimator under the rule, one value per observation: the
// rule's own discretization term. Mean-only: ½ δ tr Σ*; covariance-matched
// (e = 0, Σ = Σ*): ½ log det(I + δ Σ*).
Vector exact_step_terms(const NodeInputs& in, double delta, double t, NodeWork& w) {
  const NodeData& nd = w.nd;
  if (!in.covariance) return 0.5 * delta * nd.trace;
  const Index P = w.Y.rows(), d = in.d;
  Vector gk(P);
  for (Index r = 0; r < P; ++r) {
    const double* c = w.cov_exact.row(r).data();
    for (Index i = 0; i < d * d; ++i) w.work[i] = delta * c[i];
    for (Index i = 0; i < d; ++i) w.work[i * d + i] += 1.0;
    if (!cholesky(w.work.data(), d))
      throw NumericalError(fmt::format("path KL: I + δ Cov(X | Y_t) is not positive definite at t = {}", t));
    double log_det = 0.0;
    for (Index i = 0; i < d; ++i) log_det += 2.0 * std::log(w.work[i * d + i]);
    gk[r] = 0.5 * log_det;
  }
  return gk;
}

// Adds a per-observation vector into a grid's accumulator.
void add_observations(const NodeInputs& in, const NodeData& nd, Vector& into, const Vector& v, double scale) {
  if (in.quadrature)
    into[0] += scale * nd.weight.dot(v);
  else
    into += scale * v;
}

// Adds node j (at time t, observed into w.nd) to every grid that has it as
// a point: its terms into acc, M(t_k) and ε_k² into out.
void accumulate_node(const NodeInputs& in, Index j, double t, const std::vector<Vector>& grids,
                     const std::vector<std::vector<Index>>& position, const Estimate& mmse_here, NodeWork& w,
                     Accumulators& acc, std::vector<PathKl>& out) {
  const NodeData& nd = w.nd;
  const Estimate eps2_here = in.quadrature ? Estimate{nd.weight.dot(nd.err2), 0.0} : pair_mean(nd.err2);
  const Index L = static_cast<Index>(grids.size());
  for (Index l = 0; l < L; ++l) {
    const Index k = position[l][j];
    if (k < 0) continue;
    const Vector& g = grids[l];
    const Index n = g.size() - 1;
    out[l].mmse[k] = mmse_here;
    if (k > 0) add_observations(in, nd, acc.grid_bound[l], nd.trace, -0.5 * (g[k] - g[k - 1]));  // -½ δ_{k-1} M(t_k)
    if (k == n) continue;
    const double delta = g[k + 1] - g[k];
    out[l].eps2[k] = eps2_here;
    add_observations(in, nd, acc.disc[l], exact_step_terms(in, delta, t, w), 1.0);
    add_observations(in, nd, acc.grid_bound[l], nd.trace, 0.5 * delta);
    add_observations(in, nd, acc.est[l], nd.err2, 0.5 * delta);
    add_observations(in, nd, acc.delta[l], step_terms(in, delta, t, w), 1.0);
    if (!in.quadrature && in.covariance && t > 0.0 && in.options.control_variate) {
      // The zero-mean control ¼ δ² (tr Σ*² + dm/dt) along each draw's path
      // (the discretization term is the same rule's, and takes it too).
      w.contrib = 0.25 * delta * delta * (nd.trace_sq + in.slope.col(j));
      acc.delta[l] += w.contrib;
      acc.disc[l] += w.contrib;
    }
  }
}

}  // namespace

std::string PathKlOptions::validate() const {
  if (auto err = mmse.validate(); !err.empty()) return err;
  if (!(derivative_step > 0.0) || !(derivative_step < 0.1))
    return "derivative step = " + std::to_string(derivative_step) + " is not allowed (need 0 < step < 0.1)";
  return {};
}

PathKlEvaluator::PathKlEvaluator(std::shared_ptr<const GaussianMixture> target, Vector grid, PathKlOptions options)
    : target_(std::move(target)), grid_(std::move(grid)), options_(std::move(options)) {
  if (!target_) throw std::invalid_argument("PathKlEvaluator needs a target");
  if (auto err = options_.validate(); !err.empty()) throw ConfigError(err);
  if (auto err = validate_discrete_time_grid(grid_); !err.empty()) throw ConfigError("path KL: " + err);
  if (grid_[0] != 0.0)
    throw ConfigError(
        fmt::format("path KL: the grid starts at t = {} (the comparison starts from Y_0 = 0 at t = 0)", grid_[0]));
  exact_ = std::make_shared<MixtureDenoiser>(target_);
  quadrature_ = target_->dim() == 1;
  const Index n = grid_.size() - 1;
  const MmseOptions& mo = options_.mmse;
  mmse_.resize(n + 1);

  if (quadrature_) {
    // ∫_{t_j}^{t_{j+1}} M(u) du = ∫ M(v²) 2v dv over [√t_j, √t_{j+1}].
    interval_.resize(n);
    auto integrand = [&](double v) -> Vector {
      const auto q = observation_quadrature(*target_, v * v, mo);
      return Vector::Constant(1, 2.0 * v * q.w.dot(exact_->posterior_trace(q.y, v * v)));
    };
    parallel_for(n, kIntervalChunk, [&](Index b, Index e) {
      for (Index j = b; j < e; ++j, throw_if_interrupted("the path KL's MMSE curve"))
        interval_[j] = integrate_adaptive(integrand, std::sqrt(grid_[j]), std::sqrt(grid_[j + 1]), mo.legendre_points,
                                          mo.tolerance)[0];
    });
    parallel_for(n + 1, kIntervalChunk, [&](Index b, Index e) {
      for (Index j = b; j < e; ++j) {
        const auto q = observation_quadrature(*target_, grid_[j], mo);
        mmse_[j] = {q.w.dot(exact_->posterior_trace(q.y, grid_[j])), 0.0};
      }
    });
    return;
  }

  // d > 1: along every draw, the integral over each interval, the trace at
  // each point and its slope in t (central differences along the path).
  observation_draws(*target_, mo, X_, N_);
  const Index R = X_.rows();
  Matrix intervals(R, n);
  slope_ = Matrix::Zero(R, n + 1);
  Matrix traces(R, n + 1);
  // Each interval is cut where a pilot of the first draws needs it (the
  // draws' integrands are alike), then every draw is integrated by plain
  // Gauss–Legendre on the pieces.
  const Index pilot = std::min<Index>(R, kPilotDraws);
  const Matrix Xp = X_.topRows(pilot), Np = N_.topRows(pilot);
  auto pilot_integrand = [&](double v) -> Vector { return 2.0 * v * path_traces(*exact_, Xp, Np, v * v); };
  Vector gx, gw;
  gauss_legendre(mo.legendre_points, gx, gw);
  parallel_for(n + 1, kIntervalChunk, [&](Index b, Index e) {
    for (Index j = b; j < e; ++j) {
      throw_if_interrupted("the path KL's MMSE curve");
      traces.col(j) = path_traces(*exact_, X_, N_, grid_[j]);
      if (j < n) {
        Vector sum = Vector::Zero(R);
        for (const auto& [v0, v1] : adaptive_partition(pilot_integrand, std::sqrt(grid_[j]), std::sqrt(grid_[j + 1]),
                                                       mo.legendre_points, mo.tolerance)) {
          const double half = 0.5 * (v1 - v0);
          for (Index g = 0; g < gx.size(); ++g) {
            const double v = v0 + half * (gx[g] + 1.0);
            sum += (half * gw[g] * 2.0 * v) * path_traces(*exact_, X_, N_, v * v);
          }
        }
        intervals.col(j) = sum;
      }
      if (j > 0) {
        const double h = options_.derivative_step * grid_[j];
        slope_.col(j) =
            (path_traces(*exact_, X_, N_, grid_[j] + h) - path_traces(*exact_, X_, N_, grid_[j] - h)) / (2.0 * h);
      }
    }
  });
  cumulative_ = Matrix::Zero(R, n + 1);
  for (Index j = 0; j < n; ++j) cumulative_.col(j + 1) = cumulative_.col(j) + intervals.col(j);
  for (Index j = 0; j <= n; ++j) mmse_[j] = pair_mean(traces.col(j));
}

std::vector<Estimate> PathKlEvaluator::mutual_information() const {
  const Index n = grid_.size() - 1;
  std::vector<Estimate> out(n + 1);
  if (quadrature_) {
    double acc = 0.0;
    out[0] = {0.0, 0.0};
    for (Index j = 0; j < n; ++j) out[j + 1] = {acc += 0.5 * interval_[j], 0.0};
    return out;
  }
  for (Index j = 0; j <= n; ++j) out[j] = pair_mean(0.5 * cumulative_.col(j));
  return out;
}

PathKl PathKlEvaluator::evaluate(const ConditionalMeanEstimator& f, StepRule rule, const Vector& grid) const {
  return evaluate(f, rule, std::vector<Vector>{grid}).front();
}

std::vector<PathKl> PathKlEvaluator::evaluate(const ConditionalMeanEstimator& f, StepRule rule,
                                              const std::vector<Vector>& grids) const {
  const Index d = target_->dim(), n_points = grid_.size();
  if (f.dim() != d)
    throw ConfigError(fmt::format("path KL: estimator '{}' has dimension {}, the target {}", f.name(), f.dim(), d));
  const bool covariance = rule == StepRule::CovarianceMatched;
  if (covariance && !f.has_covariance())
    throw ConfigError("path KL: the covariance-matched step needs a covariance, estimator '" + f.name() + "' has none");
  const GridPlacement placement = place_grids(grid_, grids);
  const Index L = static_cast<Index>(grids.size());
  const Index R = quadrature_ ? 1 : X_.rows();  // accumulator length: one number (d = 1) or one per draw
  std::vector<PathKl> out = empty_results(grids);
  const NodeInputs in{*target_, *exact_, options_, quadrature_, X_, N_, slope_, f, covariance, d};

  const Index chunks = (n_points + kNodeChunk - 1) / kNodeChunk;
  std::vector<Accumulators> partial(chunks);
  parallel_for(n_points, kNodeChunk, [&](Index b, Index e) {
    Accumulators acc = fresh_accumulators(L, R);
    NodeWork w(d, quadrature_ ? Index(0) : R);
    for (Index j = b; j < e; ++j) {
      bool used = false;
      for (Index l = 0; l < L; ++l) used = used || placement.position[l][j] >= 0;
      if (!used) continue;
      acc.clipped += observe_node(in, grid_[j], w);
      accumulate_node(in, j, grid_[j], grids, placement.position, mmse_[j], w, acc, out);
    }
    partial[b / kNodeChunk] = std::move(acc);
  });

  // Combine the chunks in order, subtract I(X; Y_{t_n}) = ½ ∫_0^{t_n} M, and summarize.
  const Accumulators total = combine(partial, L, R);
  const double trace_cov = target_->covariance().trace();
  auto summarize = [&](const Vector& v) -> Estimate { return quadrature_ ? Estimate{v[0], 0.0} : pair_mean(v); };
  for (Index l = 0; l < L; ++l) {
    const Index end = placement.index[l].back();
    Vector half_integral(R);
    if (quadrature_)
      half_integral[0] = 0.5 * interval_.head(end).sum();
    else
      half_integral = 0.5 * cumulative_.col(end);
    PathKl& r = out[l];
    r.delta_n = summarize(total.delta[l] - half_integral);
    r.discretization = summarize(total.disc[l] - half_integral);
    r.estimation = summarize(total.est[l]);
    r.mutual_information = summarize(half_integral);
    r.bound_grid = summarize(total.grid_bound[l] + total.est[l]);
    r.bound = {0.5 * r.delta_max * trace_cov + r.estimation.value, r.estimation.standard_error};
    r.clipped_covariances = total.clipped;
  }
  return out;
}

}  // namespace diffgen
