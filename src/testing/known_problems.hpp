// The problems with known answers that the tests share: Gaussians and
// Gaussian mixtures whose density, score and law at every diffusion time are
// exact (targets/gaussian_mixture.hpp), so a sampler, a likelihood or a bound
// run on them is checked against closed forms. Test-only: linked into the
// test programs, never into diffgen.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sde/sde.hpp"
#include "targets/gaussian_mixture.hpp"

namespace diffgen::known {

// N(mu, var) in 1-D; the default N(0.5, 2) is off-centre and wider than the
// noise at small t, so a sampler's bias in mean and in variance both show.
std::shared_ptr<const GaussianMixture> gaussian_1d(double mu = 0.5, double var = 2.0);

// ½N(-mu, var) + ½N(mu, var): Li et al. (2023)'s target (THEORY.md §5).
std::shared_ptr<const GaussianMixture> two_mode_1d(double mu = 3.0, double var = 1.0);

// ½N(-mu u, I) + ½N(mu u, I) in d dimensions, u = (1, ..., 1)/√d: the modes
// are 2 mu apart in every dimension (Reeves & Pfister's example, THEORY.md §9).
std::shared_ptr<const GaussianMixture> two_mode(Index d, double mu = 3.0);

// N((0.5, -1), C) with C = [[2, 0.6], [0.6, 0.5]]: a correlated Gaussian.
std::shared_ptr<const GaussianMixture> gaussian_2d_full();

// 0.4 N((-2, 1), C0) + 0.6 N((1.5, -0.5), C1) with C0 = [[1, 0.3], [0.3, 0.5]],
// C1 = [[0.7, -0.2], [-0.2, 1.2]]: unequal weights, full covariances of
// opposite correlation.
std::shared_ptr<const GaussianMixture> full_covariance_2d();

// The problems every sampler is run on: the 1-D Gaussian, the two-mode
// mixture and the 2-D full-covariance mixture.
struct KnownProblem {
  std::string name;
  std::shared_ptr<const GaussianMixture> target;
};
std::vector<KnownProblem> known_problems();

// The forward processes: VE (sigma 25, the reference's), VP and OU.
std::vector<std::shared_ptr<const Sde>> all_sdes();

}  // namespace diffgen::known
