// Definition (a) of the learned density (THEORY.md §5): in d = 1 the score at
// a fixed small time t_0 is the derivative of a log-density, so
//   log q(x) = ∫_{lo}^{x} s_θ(y, t_0) dy + const,
// normalized to integrate to 1 over the grid's interval.
#pragma once

#include <string>

#include "models/score_model.hpp"
#include "numerics/quadrature.hpp"

namespace diffgen {

struct ScoreIntegrationOptions {
  double t0 = 0.065;  // the diffusion time whose score is integrated (Li2023's code: 0.065)
  Grid grid{};        // the interval on which q is defined and normalized (default [-12, 12], h = 0.01)
  std::string validate() const;
};

struct ScoreIntegrationSummary {
  std::string method;  // "fine" | "paper-grid"
  Vector x;            // the grid nodes
  Vector log_q;        // log q at the nodes
  // fine: the same computation with step 2h on every other node (its
  // Richardson partner, normalized on that coarse grid); empty for paper-grid.
  Vector log_q_coarse;
  Index evaluations = 0;  // score evaluations (points)
  // fine: max_j |log q_h(x_2j) - log q_2h(x_2j)| / 15 (both rules are 4th order);
  // paper-grid: the largest Gauss–Kronrod error estimate of the log q_j.
  double quadrature_error = 0.0;
};

// Definition (a) on a fine grid: the score at the grid nodes (one batched,
// parallel evaluation), a 4th-order cumulative integral from lo, normalized so
// that Simpson's ∫_grid q = 1. Needs a 1-D model.
ScoreIntegrationSummary integrate_score(const ScoreModel& model, const ScoreIntegrationOptions& options = {});

// The coarse version of Li2023's code, reconstructed (their formulas were lost
// from the text; this follows THEORY.md §5): 51 nodes on [-10, 10] (spacing
// 0.4), log q_j = ∫_{-100}^{x_j} s_θ(y, t_0) dy by adaptive Gauss–Kronrod
// G7–K15 with scipy.integrate.quad's tolerances (1.49e-8), each integral from
// -100 on its own as quad does, then q_j normalized so that Σ_j q_j 0.4 = 1.
// Kept only to compare with the paper's numbers.
ScoreIntegrationSummary integrate_score_paper_grid(const ScoreModel& model, double t0 = 0.065);

// The paper grid's constants.
inline constexpr double kPaperGridLo = -10.0;
inline constexpr double kPaperGridHi = 10.0;
inline constexpr Index kPaperGridPoints = 51;
inline constexpr double kPaperGridStep = 0.4;
inline constexpr double kPaperLowerLimit = -100.0;

// s_θ(x_i, t) for every row of X, evaluated in fixed-size row chunks on all
// threads (bit-identical for any thread count). out is resized to X's shape.
void score_in_chunks(const ScoreModel& model, const Matrix& X, double t, Matrix& out);

}  // namespace diffgen
