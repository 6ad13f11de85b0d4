#include "training/optimizers.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "core/error.hpp"

namespace diffgen {
namespace {

void check_sizes(const std::string& name, const Vector& params, const Vector& grad) {
  if (params.size() != grad.size())
    throw std::invalid_argument(
        fmt::format("{}: {} parameters but {} gradient entries", name, params.size(), grad.size()));
}

// torch.optim.SGD (_single_tensor_sgd): g ← g + wd·p; with momentum the
// buffer starts as g and then b ← μ b + (1 − dampening) g; the step uses
// g + μ b (Nesterov) or b; p ← p − lr·step.
class Sgd final : public Optimizer {
 public:
  explicit Sgd(OptimizerOptions options) : Optimizer(std::move(options)) {}
  std::string name() const override { return "sgd"; }

  void step(Vector& params, const Vector& grad) override {
    check_sizes("sgd", params, grad);
    const double lr = options_.lr, wd = options_.weight_decay, mu = options_.momentum;
    const double keep = 1.0 - options_.dampening;
    // PyTorch keeps no buffer until the first step with momentum.
    const bool first = buffer_.size() == 0;
    if (mu != 0.0 && first) buffer_.resize(params.size());
    if (mu != 0.0 && buffer_.size() != params.size())
      throw std::invalid_argument(
          fmt::format("sgd: the parameter count changed from {} to {} without reset()", buffer_.size(), params.size()));
    for (Index k = 0; k < params.size(); ++k) {
      double g = grad[k];
      if (wd != 0.0) g = g + wd * params[k];
      if (mu != 0.0) {
        double& b = buffer_[k];
        b = first ? g : mu * b + keep * g;
        g = options_.nesterov ? g + mu * b : b;
      }
      params[k] = params[k] + (-lr) * g;
    }
    ++steps_;
  }

  void reset() override {
    buffer_.resize(0);
    steps_ = 0;
  }
  OptimizerState state() const override { return {steps_, buffer_}; }
  void set_state(const OptimizerState& state) override {
    if (state.step < 0) throw DataError(fmt::format("sgd state: step = {} must be >= 0", state.step));
    if (options_.momentum == 0.0 && state.values.size() != 0)
      throw DataError(
          fmt::format("sgd state: {} buffer values for an optimizer without momentum", state.values.size()));
    steps_ = state.step;
    buffer_ = state.values;
  }
  std::int64_t steps() const override { return steps_; }

 private:
  Vector buffer_;
  std::int64_t steps_ = 0;
};

// torch.lerp's scalar formula: a + w (b − a), or b − (b − a)(1 − w) for |w| >= ½.
inline double lerp(double a, double b, double w) {
  return std::abs(w) < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}

// torch.optim.Adam (_single_tensor_adam, amsgrad = False): g ← g + wd·p;
// m ← β1 m + (1 − β1) g (computed as torch 2.x does, m.lerp_(g, 1 − β1));
// v ← β2 v + (1 − β2) g²; with bc1 = 1 − β1^step, bc2 = 1 − β2^step:
// p ← p − (lr / bc1) · m / (√v / √bc2 + eps).
class Adam final : public Optimizer {
 public:
  explicit Adam(OptimizerOptions options) : Optimizer(std::move(options)) {}
  std::string name() const override { return "adam"; }

  void step(Vector& params, const Vector& grad) override {
    check_sizes("adam", params, grad);
    const Index n = params.size();
    if (steps_ == 0) {
      m_ = Vector::Zero(n);
      v_ = Vector::Zero(n);
    }
    if (m_.size() != n)
      throw std::invalid_argument(
          fmt::format("adam: the parameter count changed from {} to {} without reset()", m_.size(), n));
    ++steps_;
    const double b1 = options_.beta1, b2 = options_.beta2, wd = options_.weight_decay;
    const double step = static_cast<double>(steps_);
    // Bias corrections undo the zero initialization of m and v.
    const double bias_correction1 = 1.0 - std::pow(b1, step);
    const double bias_correction2 = 1.0 - std::pow(b2, step);
    const double step_size = options_.lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    for (Index k = 0; k < n; ++k) {
      double g = grad[k];
      if (wd != 0.0) g = g + wd * params[k];
      m_[k] = lerp(m_[k], g, 1.0 - b1);
      v_[k] = b2 * v_[k] + (1.0 - b2) * (g * g);
      const double denom = std::sqrt(v_[k]) / bias_correction2_sqrt + options_.eps;
      params[k] = params[k] + (-step_size) * (m_[k] / denom);
    }
  }

  void reset() override {
    m_.resize(0);
    v_.resize(0);
    steps_ = 0;
  }
  OptimizerState state() const override {
    OptimizerState st{steps_, Vector(m_.size() + v_.size())};
    st.values << m_, v_;
    return st;
  }
  void set_state(const OptimizerState& state) override {
    if (state.step < 0) throw DataError(fmt::format("adam state: step = {} must be >= 0", state.step));
    if (state.values.size() % 2 != 0 || (state.step > 0) != (state.values.size() > 0))
      throw DataError(fmt::format("adam state: {} values at step {} (expected [m; v], empty exactly at step 0)",
                                  state.values.size(), state.step));
    const Index n = state.values.size() / 2;
    steps_ = state.step;
    m_ = state.values.head(n);
    v_ = state.values.tail(n);
  }
  std::int64_t steps() const override { return steps_; }

 private:
  Vector m_, v_;
  std::int64_t steps_ = 0;
};

}  // namespace

std::string OptimizerOptions::validate() const {
  if (!(lr > 0.0) || !std::isfinite(lr)) return fmt::format("lr = {} must be > 0 and finite", lr);
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay))
    return fmt::format("weight_decay = {} must be >= 0 and finite", weight_decay);
  if (kind == OptimizerKind::Sgd) {
    if (!(momentum >= 0.0) || !std::isfinite(momentum))
      return fmt::format("momentum = {} must be >= 0 and finite", momentum);
    if (!std::isfinite(dampening)) return fmt::format("dampening = {} must be finite", dampening);
    if (nesterov && (momentum <= 0.0 || dampening != 0.0))
      return fmt::format("nesterov = true needs momentum > 0 and dampening = 0 (momentum = {}, dampening = {})",
                         momentum, dampening);
  } else {
    if (!(beta1 >= 0.0 && beta1 < 1.0)) return fmt::format("beta1 = {} must be in [0, 1)", beta1);
    if (!(beta2 >= 0.0 && beta2 < 1.0)) return fmt::format("beta2 = {} must be in [0, 1)", beta2);
    if (!(eps >= 0.0) || !std::isfinite(eps)) return fmt::format("eps = {} must be >= 0 and finite", eps);
  }
  return {};
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (options.kind == OptimizerKind::Adam) return std::make_unique<Adam>(options);
  return std::make_unique<Sgd>(options);
}

}  // namespace diffgen
