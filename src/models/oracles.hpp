// The two exact score functions every experiment reports as reference floors
// (THEORY.md §2):
// - the population oracle ∇log p_t of the target itself (a perfect learner);
// - the empirical oracle, the score of (1/n) Σ_i N(a x_i, s² I): the exact
//   minimizer of the empirical denoising loss over all functions, i.e. the
//   model that has memorized the training set.
#pragma once

#include <memory>

#include "models/score_model.hpp"
#include "sde/sde.hpp"
#include "targets/gaussian_mixture.hpp"
#include "targets/target.hpp"

namespace diffgen {

// The exact score of a target's law at diffusion time t under an SDE.
class TargetScore final : public ScoreModel {
 public:
  TargetScore(std::shared_ptr<const Target> target, std::shared_ptr<const Sde> sde, std::string name);
  Index dim() const override { return target_->dim(); }
  std::string name() const override { return name_; }
  void score(const Matrix& X, const Vector& t, Matrix& out) const override;
  bool has_exact_divergence() const override { return true; }
  void divergence(const Matrix& X, const Vector& t, Vector& out) const override;
  using ScoreModel::divergence;
  using ScoreModel::score;

 private:
  std::shared_ptr<const Target> target_;
  std::shared_ptr<const Sde> sde_;
  std::string name_;
};

std::unique_ptr<TargetScore> make_population_oracle(std::shared_ptr<const Target> target,
                                                    std::shared_ptr<const Sde> sde);
std::unique_ptr<TargetScore> make_empirical_oracle(const Matrix& training_set, std::shared_ptr<const Sde> sde);

}  // namespace diffgen
