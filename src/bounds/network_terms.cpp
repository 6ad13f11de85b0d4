#include "bounds/network_terms.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"

namespace diffgen {
namespace {

void require_horizon(const Sde& sde, double T, const Matrix& data, const ScoreModel& model) {
  if (!(T > 0.0) || !(T <= sde.T()))
    throw ConfigError(fmt::format("the bound's horizon T = {} must lie in (0, {}]", format_double(T),
                                  format_double(sde.T())));
  if (data.rows() < 1 || data.cols() != model.dim())
    throw ConfigError(fmt::format("the bound needs training points of dimension {} (got {} x {})", model.dim(),
                                  data.rows(), data.cols()));
}

void require_finite(const Matrix& S, std::string_view where) {
  if (!S.allFinite()) throw NumericalError(fmt::format("the score became non-finite while estimating {}", where));
}

// The reverse Euler–Maruyama path of the toy code (N steps, δ = T/N, the drift
// evaluated at diffusion time T − kδ, noise at every step), calling
// norms(k, x, s_θ(x, T − kδ)) before step k.
template <class Norms>
void reverse_path(const ScoreModel& model, const Sde& sde, double T, Matrix x, Index steps, Rng& rng, Norms&& norms) {
  const double delta = T / static_cast<double>(steps);
  Matrix S, noise(x.rows(), x.cols());
  for (Index k = 0; k < steps; ++k) {
    const double t = T - static_cast<double>(k) * delta;
    model.score(x, Vector::Constant(x.rows(), t), S);
    require_finite(S, "L along the reverse path");
    norms(k, x, S);
    rng.fill_normal(noise);
    // x ← x + δ [g² s + ½ g² x] + √δ g ξ for the VP SDE (drift rate b = −½β).
    x = (1.0 - sde.drift_rate(t) * delta) * x + (sde.g2(t) * delta) * S + std::sqrt(delta * sde.g2(t)) * noise;
    if ((k & 63) == 0) throw_if_interrupted("estimating the score-norm constant L");
  }
}

double trajectory_bound(const ScoreModel& model, const Sde& sde, double T, const Matrix& data,
                        const ScoreNormOptions& o, Rng& rng) {
  const double delta = T / static_cast<double>(o.steps);
  double L = 0.0;
  Matrix start = data;
  if (o.rule == ScoreNormRule::Trajectory) rng.fill_normal(start);
  Matrix unreversed;
  reverse_path(model, sde, T, start, o.steps, rng, [&](Index k, const Matrix& x, const Matrix& S) {
    if (o.rule == ScoreNormRule::Trajectory) {
      L = std::max(L, S.rowwise().norm().mean());
      return;
    }
    // The toy code's norm: the state at time T − kδ scored as if at kδ.
    const double t_k = static_cast<double>(k) * delta;
    model.score(x, Vector::Constant(x.rows(), t_k), unreversed);
    require_finite(unreversed, "L along the reverse path");
    const Vector n = unreversed.rowwise().norm();
    L = std::max(L, o.rule == ScoreNormRule::TrajectoryUnreversed ? n.mean() : n.maxCoeff());
  });
  return L;
}

double clean_random_t_bound(const ScoreModel& model, double T, const Matrix& data, const ScoreNormOptions& o,
                            Rng& rng) {
  double L = 0.0;
  Vector t(data.rows());
  Matrix S;
  for (Index r = 0; r < o.draws; ++r) {
    for (Index i = 0; i < t.size(); ++i) t[i] = rng.uniform(0.0, T);
    model.score(data, t, S);
    require_finite(S, "L at random times");
    L = std::max(L, S.rowwise().norm().mean());
  }
  return L;
}

}  // namespace

std::string ScoreNormOptions::validate() const {
  if (steps < 1 || steps > 1000000) return fmt::format("bound.L.steps = {} must be in [1, 1000000]", steps);
  if (draws < 1 || draws > 1000000) return fmt::format("bound.L.draws = {} must be in [1, 1000000]", draws);
  return "";
}

double score_norm_bound(const ScoreModel& model, const Sde& sde, double T, const Matrix& data,
                        const ScoreNormOptions& options, Rng& rng) {
  require_horizon(sde, T, data, model);
  if (auto e = options.validate(); !e.empty()) throw ConfigError(e);
  return options.rule == ScoreNormRule::CleanRandomT ? clean_random_t_bound(model, T, data, options, rng)
                                                     : trajectory_bound(model, sde, T, data, options, rng);
}

Estimate fresh_denoising_loss(const ScoreModel& model, const Sde& sde, double t_min, double T, const Matrix& data,
                              Index draws, Rng& rng) {
  require_horizon(sde, T, data, model);
  if (!(t_min >= 0.0) || !(t_min < T))
    throw ConfigError(fmt::format("the loss's smallest time {} must lie in [0, T = {})", format_double(t_min),
                                  format_double(T)));
  if (draws < 1) throw ConfigError(fmt::format("bound.sm_loss.draws = {} must be >= 1", draws));
  const Index m = data.rows(), n = m * draws;
  Matrix y(n, data.cols()), z(n, data.cols()), S;
  Vector t(n), s(n);
  // All times first, then the noise, as training draws them.
  for (Index k = 0; k < n; ++k) t[k] = rng.uniform(t_min, T);
  rng.fill_normal(z);
  for (Index k = 0; k < n; ++k) {
    s[k] = sde.s(t[k]);
    y.row(k) = sde.a(t[k]) * data.row(k % m) + s[k] * z.row(k);
  }
  model.score(y, t, S);
  const Vector loss = 0.5 * (s.asDiagonal() * S + z).rowwise().squaredNorm();
  if (!loss.allFinite()) throw NumericalError("the denoising loss became non-finite while estimating sm_loss");
  const double mean = loss.mean();
  const double sd = n > 1 ? std::sqrt((loss.array() - mean).square().sum() / static_cast<double>(n - 1)) : 0.0;
  return {mean, sd / std::sqrt(static_cast<double>(n))};
}

}  // namespace diffgen
