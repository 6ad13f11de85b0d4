// Score models behind one interface (DESIGN.md): a model evaluates a batch,
// rows are points, score(X, t) is X-shaped. Trainable models add a flat
// parameter vector and loss-and-gradient on a batch. Oracles implement the
// same interface, so every algorithm runs unchanged on a trained network, a
// random-feature model or an exact score.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/types.hpp"

namespace diffgen {

class ScoreModel {
 public:
  virtual ~ScoreModel() = default;
  virtual Index dim() const = 0;
  virtual std::string name() const = 0;

  // out(b, :) = s(X(b, :), t[b]) for every row b; out is resized to X's shape.
  // Must be safe to call from several threads at once.
  virtual void score(const Matrix& X, const Vector& t, Matrix& out) const = 0;

  // Whether divergence() is available (exact, not estimated).
  virtual bool has_exact_divergence() const { return false; }
  // out[b] = ∇_x · s(X(b, :), t[b]), exactly. The default throws std::logic_error.
  virtual void divergence(const Matrix& X, const Vector& t, Vector& out) const;

  // Both at once, for the change of variables (PF-ODE likelihood), which needs
  // them at every stage. The default calls score() and divergence(); a model
  // whose divergence reuses its forward pass overrides it to run that pass once.
  virtual void score_and_divergence(const Matrix& X, const Vector& t, Matrix& score_out, Vector& div_out) const;

  // Conveniences for one time shared by all rows.
  Matrix score(const Matrix& X, double t) const;
  Vector divergence(const Matrix& X, double t) const;
};

// The part of a loss that sits on top of the model's output: given the batch
// of scores S (X-shaped), return the loss and write dLoss/dS into dS.
using LossHead = std::function<double(const Matrix& S, Matrix& dS)>;

class TrainableScoreModel : public ScoreModel {
 public:
  // All trainable parameters as one flat vector (the optimizer's view).
  virtual Vector& parameters() = 0;
  virtual const Vector& parameters() const = 0;
  Index num_parameters() const { return parameters().size(); }

  // Forward pass on (X, t), the loss head, then the backward pass: returns the
  // loss and writes dLoss/dθ into grad (resized to num_parameters()).
  virtual double loss_and_gradient(const Matrix& X, const Vector& t, const LossHead& head, Vector& grad) = 0;

  virtual std::unique_ptr<TrainableScoreModel> clone() const = 0;
};

}  // namespace diffgen
