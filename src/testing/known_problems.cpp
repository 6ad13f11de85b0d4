// Tested by known_problems_test.cpp.
#include "testing/known_problems.hpp"

#include <cmath>

namespace diffgen::known {

std::shared_ptr<const GaussianMixture> gaussian_1d(double mu, double var) {
  Matrix m(1, 1), v(1, 1);
  m << mu;
  v << var;
  return std::make_shared<GaussianMixture>(Vector::Ones(1), m, v);
}

std::shared_ptr<const GaussianMixture> two_mode_1d(double mu, double var) {
  return std::make_shared<GaussianMixture>(GaussianMixture::symmetric_two_mode(mu, var));
}

std::shared_ptr<const GaussianMixture> two_mode(Index d, double mu) {
  Vector w(2);
  w << 0.5, 0.5;
  Matrix m(2, d);
  m.setConstant(mu / std::sqrt(static_cast<double>(d)));
  m.row(0) *= -1.0;
  return std::make_shared<GaussianMixture>(w, m, Matrix::Ones(2, d));
}

std::shared_ptr<const GaussianMixture> gaussian_2d_full() {
  Matrix m(1, 2);
  m << 0.5, -1.0;
  SquareMatrix C(2, 2);
  C << 2.0, 0.6, 0.6, 0.5;
  return std::make_shared<GaussianMixture>(Vector::Ones(1), m, std::vector<SquareMatrix>{C});
}

std::shared_ptr<const GaussianMixture> full_covariance_2d() {
  Vector w(2);
  w << 0.4, 0.6;
  Matrix m(2, 2);
  m << -2.0, 1.0, 1.5, -0.5;
  std::vector<SquareMatrix> C(2, SquareMatrix(2, 2));
  C[0] << 1.0, 0.3, 0.3, 0.5;
  C[1] << 0.7, -0.2, -0.2, 1.2;
  return std::make_shared<GaussianMixture>(w, m, C);
}

std::vector<KnownProblem> known_problems() {
  return {{"gaussian-1d", gaussian_1d()}, {"two-mode-1d", two_mode_1d()}, {"full-covariance-2d", full_covariance_2d()}};
}

std::vector<std::shared_ptr<const Sde>> all_sdes() {
  return {std::make_shared<VeSde>(25.0), std::make_shared<VpSde>(), std::make_shared<OuSde>()};
}

}  // namespace diffgen::known
