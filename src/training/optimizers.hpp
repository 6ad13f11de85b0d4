// First-order optimizers with exactly PyTorch's update rules (torch.optim.SGD
// and torch.optim.Adam, single-tensor, non-amsgrad, non-maximize), acting on
// a model's flat parameter vector. Full-batch gradient descent is SGD with
// batch size n (the trainer's business, not the optimizer's).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/options.hpp"
#include "core/types.hpp"

namespace diffgen {

enum class OptimizerKind { Sgd, Adam };

template <>
struct EnumNames<OptimizerKind> {
  static constexpr std::array table{std::pair{OptimizerKind::Sgd, std::string_view("sgd")},
                                    std::pair{OptimizerKind::Adam, std::string_view("adam")}};
};

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 1e-3;           // learning rate (PyTorch's default for both)
  double weight_decay = 0.0;  // L2 penalty added to the gradient: g + weight_decay·p (both)
  double momentum = 0.0;      // sgd: momentum factor μ (0 = plain SGD)
  double dampening = 0.0;     // sgd: the momentum buffer takes (1 − dampening)·g
  bool nesterov = false;      // sgd: Nesterov momentum (needs momentum > 0, dampening = 0)
  double beta1 = 0.9;         // adam: decay of the first moment
  double beta2 = 0.999;       // adam: decay of the second moment
  double eps = 1e-8;          // adam: added to the denominator
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// An optimizer's state, for checkpoints: the step count and the buffers as
// one flat vector (SGD: the momentum buffer, empty before the first step or
// without momentum; Adam: [m; v], empty before the first step).
struct OptimizerState {
  std::int64_t step = 0;
  Vector values;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // One update of params from the gradient grad (same size; the size must
  // not change until reset()).
  virtual void step(Vector& params, const Vector& grad) = 0;
  // Forgets the buffers and the step count, like a freshly built optimizer.
  virtual void reset() = 0;
  virtual OptimizerState state() const = 0;
  // Throws DataError when the state does not fit this optimizer.
  virtual void set_state(const OptimizerState& state) = 0;
  // Steps taken since construction or reset().
  virtual std::int64_t steps() const = 0;
  const OptimizerOptions& options() const { return options_; }

 protected:
  explicit Optimizer(OptimizerOptions options) : options_(std::move(options)) {}
  OptimizerOptions options_;
};

// Validates (ConfigError) and builds the optimizer of options.kind.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options);

}  // namespace diffgen
