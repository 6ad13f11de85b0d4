#include "training/bound_trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace diffgen {
namespace {

// ½ (1/B) Σ_b Σ_i (s_b S_bi + z_bi)² and the batch mean of ‖S_b‖.
BoundHeadValues batch_values(const Matrix& S, const Vector& s_t, const Matrix& z) {
  const Index B = S.rows();
  BoundHeadValues v;
  for (Index b = 0; b < B; ++b) {
    v.sm_loss += (s_t[b] * S.row(b) + z.row(b)).squaredNorm();
    v.score_norm += S.row(b).norm();
  }
  v.sm_loss *= 0.5 / static_cast<double>(B);
  v.score_norm /= static_cast<double>(B);
  return v;
}

}  // namespace

LossHead make_bound_head(const DsmBatch& batch, double mu, BoundHeadValues* values) {
  const DsmBatch* draw = &batch;
  return [draw, mu, values](const Matrix& S, Matrix& dS) {
    const Index B = S.rows();
    const double inv_B = 1.0 / static_cast<double>(B);
    const BoundHeadValues v = batch_values(S, draw->s_t, draw->z);
    if (values) *values = v;
    dS.resize(B, S.cols());
    for (Index b = 0; b < B; ++b) {
      dS.row(b) = inv_B * draw->s_t[b] * (draw->s_t[b] * S.row(b) + draw->z.row(b));
      if (const double norm = S.row(b).norm(); norm > 0.0) dS.row(b) += (mu * inv_B / norm) * S.row(b);
    }
    return v.sm_loss + mu * v.score_norm;
  };
}

std::string BoundTrainerOptions::validate() const {
  if (!(lr > 0.0) || !std::isfinite(lr)) return fmt::format("lr = {} must be > 0 and finite", lr);
  if (!(t_min >= 0.0) || !std::isfinite(t_min)) return fmt::format("t_min = {} must be >= 0 and finite", t_min);
  if (!(penalty >= 0.0) || !std::isfinite(penalty)) return fmt::format("penalty λ = {} must be >= 0 and finite", penalty);
  if (learn_T) {
    if (!(T_lr > 0.0) || !std::isfinite(T_lr)) return fmt::format("T_lr = {} must be > 0 and finite", T_lr);
    if (!(t_min < T_lo && T_lo < T_hi) || !std::isfinite(T_hi))
      return fmt::format("the range of T must satisfy t_min = {} < T_lo = {} < T_hi = {}", t_min, T_lo, T_hi);
  }
  return {};
}

BoundTrainer::BoundTrainer(TrainableScoreModel& model, std::shared_ptr<const VpSde> sde, Matrix data, double T,
                           std::function<double(double)> data_slope, BoundTrainerOptions options, Rng rng)
    : model_(model),
      sde_(std::move(sde)),
      data_(std::move(data)),
      T_(T),
      data_slope_(std::move(data_slope)),
      options_(options),
      rng_(rng) {
  if (auto err = options_.validate(); !err.empty()) throw ConfigError(err);
  if (!sde_) throw ConfigError("the bound trainer needs a VP SDE (got none)");
  if (data_.rows() < 1) throw ConfigError("the training set is empty (m = 0 must be >= 1)");
  if (data_.cols() != model_.dim())
    throw ConfigError(fmt::format("the training set has dimension {} but the model has dimension {}", data_.cols(),
                                  model_.dim()));
  const double lo = options_.learn_T ? options_.T_lo : options_.t_min;
  const double hi = options_.learn_T ? options_.T_hi : sde_->T();
  if (!(T_ > lo && T_ <= hi) && !(options_.learn_T && T_ == lo))
    throw ConfigError(fmt::format("T = {} must lie in ({}, {}]", T_, lo, hi));
  if (options_.learn_T && !data_slope_) throw ConfigError("learning T needs the slope of the data terms (got none)");
  OptimizerOptions adam;
  adam.kind = OptimizerKind::Adam;
  adam.lr = options_.lr;
  theta_optimizer_ = make_optimizer(adam);
  adam.lr = options_.T_lr;
  T_optimizer_ = make_optimizer(adam);
}

double BoundTrainer::generator_factor(double T) const {
  return std::sqrt(sde_->beta_integral(T) / (2.0 * static_cast<double>(data_.rows())));
}

void BoundTrainer::draw(double T) {
  const Index B = data_.rows();
  batch_.x0 = data_;
  batch_.t.resize(B);
  for (Index b = 0; b < B; ++b) batch_.t[b] = rng_.uniform(options_.t_min, T);
  batch_.z.resize(B, data_.cols());
  rng_.fill_normal(batch_.z);
  perturb(*sde_, batch_);
}

double BoundTrainer::T_gradient(const BoundStep& at_draw) {
  // f(T) on the step's points and noise, at t = T.
  const double T = at_draw.T;
  const double a = sde_->a(T), s = sde_->s(T);
  const Matrix x_T = a * data_ + s * batch_.z;
  t_at_T_.setConstant(data_.rows(), T);
  model_.score(x_T, t_at_T_, scores_);
  const BoundHeadValues end = batch_values(scores_, Vector::Constant(data_.rows(), s), batch_.z);
  const double width = T - options_.t_min;
  const double G = generator_factor(T);
  const double dG = sde_->beta(T) / (4.0 * static_cast<double>(data_.rows()) * G);
  const double d_sm = (end.sm_loss - at_draw.sm_loss) / width;
  const double d_L = (end.score_norm - at_draw.score_norm) / width;
  return d_sm + options_.penalty * (G * d_L + at_draw.score_norm * dG) + data_slope_(T);
}

void BoundTrainer::diverged(const std::string& what) const {
  throw NumericalError(fmt::format(
      "training on the bound diverged at step {}: {} (Adam lr = {} may be too large); the parameters are those "
      "before this step",
      steps_ + 1, what, options_.lr));
}

BoundStep BoundTrainer::step() {
  BoundStep out;
  out.T = T_;
  draw(T_);
  const double mu = options_.penalty * generator_factor(T_);
  BoundHeadValues values;
  out.objective = model_.loss_and_gradient(batch_.x_t, batch_.t, make_bound_head(batch_, mu, &values), grad_);
  out.sm_loss = values.sm_loss;
  out.score_norm = values.score_norm;
  if (!std::isfinite(out.objective)) diverged(fmt::format("objective = {}", out.objective));
  if (!grad_.allFinite()) diverged("the gradient in θ is not finite");
  if (options_.learn_T) {
    out.dJ_dT = T_gradient(out);
    if (!std::isfinite(out.dJ_dT)) diverged(fmt::format("∂J/∂T = {}", out.dJ_dT));
  }
  previous_ = model_.parameters();
  theta_optimizer_->step(model_.parameters(), grad_);
  if (!model_.parameters().allFinite()) {
    model_.parameters() = previous_;
    diverged("the parameters are not finite after the update");
  }
  if (options_.learn_T) {
    Vector T(1);
    T[0] = T_;
    T_optimizer_->step(T, Vector::Constant(1, out.dJ_dT));
    T_ = std::clamp(T[0], options_.T_lo, options_.T_hi);
  }
  ++steps_;
  return out;
}

}  // namespace diffgen
