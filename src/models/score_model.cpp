// What every score model offers on top of its own score: a score at one
// time for a whole batch, and score and divergence together.
// Tested by reference_mlp_test.cpp.
#include "models/score_model.hpp"

#include <stdexcept>

namespace diffgen {

void ScoreModel::divergence(const Matrix&, const Vector&, Vector&) const {
  throw std::logic_error("score model '" + name() + "' has no exact divergence");
}

void ScoreModel::score_and_divergence(const Matrix& X, const Vector& t, Matrix& score_out, Vector& div_out) const {
  score(X, t, score_out);
  divergence(X, t, div_out);
}

Matrix ScoreModel::score(const Matrix& X, double t) const {
  Matrix out;
  score(X, Vector::Constant(X.rows(), t), out);
  return out;
}

Vector ScoreModel::divergence(const Matrix& X, double t) const {
  Vector out;
  divergence(X, Vector::Constant(X.rows(), t), out);
  return out;
}

}  // namespace diffgen
