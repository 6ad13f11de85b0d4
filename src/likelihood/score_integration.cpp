#include "likelihood/score_integration.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"

namespace diffgen {
namespace {

// Rows per parallel chunk: large enough that thread start-up is amortized.
constexpr Index kScoreChunk = 1024;

void require_1d(const ScoreModel& model, const char* what) {
  if (model.dim() != 1)
    throw ConfigError(std::string(what) + " needs a 1-D score model; '" + model.name() + "' has dimension " +
                      std::to_string(model.dim()));
}

// Subtracts log ∫ q (computed by `integrate` on q / max q, for range safety).
template <class Integrate>
void normalize_log(Vector& log_q, Integrate&& integrate) {
  const double top = log_q.maxCoeff();
  const Vector q = (log_q.array() - top).exp().matrix();
  log_q.array() -= top + std::log(integrate(q));
}

void check_finite(const Vector& v, const Vector& x, const std::string& what) {
  for (Index i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw NumericalError(what + " is not finite at x = " + std::to_string(x[i]));
}

}  // namespace

void score_in_chunks(const ScoreModel& model, const Matrix& X, double t, Matrix& out) {
  out.resize(X.rows(), X.cols());
  if (X.rows() <= kScoreChunk) {
    model.score(X, Vector::Constant(X.rows(), t), out);
    return;
  }
  parallel_for(X.rows(), kScoreChunk, [&](Index b, Index e) {
    // A fine grid on a wide network takes seconds: a stop request is honoured
    // between chunks (milliseconds each), not after the whole grid.
    throw_if_interrupted("the score on a KL grid");
    const Matrix chunk = X.middleRows(b, e - b);
    Matrix s;
    model.score(chunk, Vector::Constant(e - b, t), s);
    out.middleRows(b, e - b) = s;
  });
}

std::string ScoreIntegrationOptions::validate() const {
  if (!(t0 > 0.0) || !std::isfinite(t0))
    return "t0 = " + std::to_string(t0) + " is not allowed (need a finite diffusion time > 0)";
  return grid.validate("grid");
}

ScoreIntegrationSummary integrate_score(const ScoreModel& model, const ScoreIntegrationOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  require_1d(model, "score integration");
  const Grid& grid = options.grid;
  const Grid coarse = grid.coarse();
  ScoreIntegrationSummary out;
  out.method = "fine";
  out.x = grid.nodes();

  // The score at every node, in one batched evaluation.
  Matrix S;
  score_in_chunks(model, out.x, options.t0, S);
  out.evaluations = grid.points;
  const Vector f = S.col(0);
  check_finite(f, out.x, "the score at t0");

  // log q = ∫_lo^x s dy (4th order), then normalized by Simpson on the grid.
  out.log_q = cumulative_integral(f, grid.step());
  normalize_log(out.log_q, [&](const Vector& q) { return simpson(q, grid.step()); });
  check_finite(out.log_q, out.x, "log q");

  // Richardson partner: the same steps on every other node (step 2h).
  out.log_q_coarse = cumulative_integral(every_other(f), coarse.step());
  normalize_log(out.log_q_coarse, [&](const Vector& q) { return simpson(q, coarse.step()); });
  out.quadrature_error = (every_other(out.log_q) - out.log_q_coarse).cwiseAbs().maxCoeff() / 15.0;
  return out;
}

ScoreIntegrationSummary integrate_score_paper_grid(const ScoreModel& model, double t0) {
  if (!(t0 > 0.0) || !std::isfinite(t0))
    throw ConfigError("t0 = " + std::to_string(t0) + " is not allowed (need a finite diffusion time > 0)");
  require_1d(model, "score integration (paper-grid)");
  ScoreIntegrationSummary out;
  out.method = "paper-grid";
  out.x.resize(kPaperGridPoints);
  for (Index j = 0; j < kPaperGridPoints; ++j)
    out.x[j] = kPaperGridLo +
               (kPaperGridHi - kPaperGridLo) * static_cast<double>(j) / static_cast<double>(kPaperGridPoints - 1);

  // Each log q_j is its own adaptive integral from -100, as quad is called
  // once per grid point in the paper's code; all are refined in one batch.
  const BatchFunction f = [&](const Vector& y, Vector& fy) {
    Matrix S;
    score_in_chunks(model, y, t0, S);
    fy = S.col(0);
  };
  const GaussKronrodSummary gk =
      integrate_gauss_kronrod(f, Vector::Constant(kPaperGridPoints, kPaperLowerLimit), out.x);
  out.evaluations = gk.evaluations;
  out.quadrature_error = gk.error.maxCoeff();
  out.log_q = gk.integral;

  // Normalize so that the Riemann sum Σ_j q_j 0.4 is 1.
  normalize_log(out.log_q, [](const Vector& q) { return q.sum() * kPaperGridStep; });
  check_finite(out.log_q, out.x, "log q (paper-grid)");
  return out;
}

}  // namespace diffgen
