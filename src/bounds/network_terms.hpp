// The parts of Chen2025's bound that depend on the trained network (THEORY.md
// §7; notes/chen2025-code.md §A.3): the score-norm constant L of term3 and the
// denoising loss sm_loss. The authors computed each in several ways; each is
// selectable by name, with the consistent reading as the default.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "bounds/mmse.hpp"
#include "core/options.hpp"
#include "core/rng.hpp"
#include "models/score_model.hpp"
#include "sde/sde.hpp"

namespace diffgen {

// How L, the bound on the score's norm in term3, is estimated. All take the
// batch mean of ‖s_θ‖₂ at many times and keep the largest, except
// trajectory-max-unreversed, which keeps the largest single norm.
//   trajectory                 reverse Euler–Maruyama from m draws of N(0, I) (the
//                              generator's own path), the score at the state's time
//                              (consistent; THEORY.md §7);
//   trajectory-unreversed      the toy code: the reverse path started at the training
//                              points, the norm taken at the unreversed time t_k while
//                              the state is at T − t_k;
//   trajectory-max-unreversed  the toy m-sweep code: the same with the max over points;
//   clean-random-t             the image code: the clean training points at `draws`
//                              random t ~ U[0, T] each.
enum class ScoreNormRule { Trajectory, TrajectoryUnreversed, TrajectoryMaxUnreversed, CleanRandomT };

template <>
struct EnumNames<ScoreNormRule> {
  static constexpr std::array table{
      std::pair{ScoreNormRule::Trajectory, std::string_view("trajectory")},
      std::pair{ScoreNormRule::TrajectoryUnreversed, std::string_view("trajectory-unreversed")},
      std::pair{ScoreNormRule::TrajectoryMaxUnreversed, std::string_view("trajectory-max-unreversed")},
      std::pair{ScoreNormRule::CleanRandomT, std::string_view("clean-random-t")}};
};

struct ScoreNormOptions {
  ScoreNormRule rule = ScoreNormRule::Trajectory;
  Index steps = 1000;  // Euler–Maruyama steps on [0, T] (the toy code's 1000)
  Index draws = 100;   // clean-random-t: batches of random times (the image code's 100)
  std::string validate() const;
};

// L for the model on the training points `data` under the VP SDE with horizon T.
double score_norm_bound(const ScoreModel& model, const Sde& sde, double T, const Matrix& data,
                        const ScoreNormOptions& options, Rng& rng);

// How sm_loss, the denoising loss term of the bound, is taken:
//   fresh       a Monte Carlo estimate over the whole training set with `draws`
//               independent (t, z) per point, with its standard error (consistent);
//   last-step   the loss of the last training step (the toy code, one draw; its
//               standard error is unknown and reported as 0).
enum class SmLossRule { Fresh, LastStep };

template <>
struct EnumNames<SmLossRule> {
  static constexpr std::array table{std::pair{SmLossRule::Fresh, std::string_view("fresh")},
                                    std::pair{SmLossRule::LastStep, std::string_view("last-step")}};
};

// The authors' denoising loss ½‖s(t) s_θ(y, t) + z‖² (half of diffgen's
// training loss, training/dsm_loss.hpp), y = a(t) x + s(t) z, averaged over
// the training points with `draws` draws of t ~ U[t_min, T] and z ~ N(0, I) each.
Estimate fresh_denoising_loss(const ScoreModel& model, const Sde& sde, double t_min, double T, const Matrix& data,
                              Index draws, Rng& rng);

}  // namespace diffgen
