// The DSM loss of the 1-D random-feature model with its expectations taken
// exactly instead of by a draw set (THEORY.md §3–4). The flow that trains on
// it is training/gradient_flow.hpp: a quadratic loss
// L(A) = tr(A G Aᵀ) + 2 tr(A Bᵀ) + c0 and A(τ) in closed form.
//
// For a 1-D clean law that is a mixture of Gaussians — the target
// (population loss) or the n training points as point masses (empirical
// loss, Li2023 eq. 9: the training set is fixed, t and z are integrated) —
// x_t = a x0 + s z is again a Gaussian mixture, every feature
// φ_i = relu(w_i x + c_i(t)) is linear on one side of its kink κ_i = −c_i/w_i,
// and so
//   E[φ_i φ_j] = Σ_k π_k ∫_{I_ij} (w_i x + c_i)(w_j x + c_j) N(x; m_k, σ_k²) dx
// needs only the Gaussian moments of order 0–2 over the interval I_ij where
// both features are active, and by Stein's lemma (Cov(z, x_t) = s)
//   E[z φ_i] = s w_i P(w_i x_t + c_i > 0).
// Only the integral over t ~ U[eps, T] is numerical: Gauss–Legendre in v with
// t = eps + (T − eps) v², which absorbs the s(t) ≈ √t behaviour at small t.
// A draw set instead (quadratic_dsm_loss) also fits the noise of its labels z,
// and G's smallest eigenvalues, which the KL at small t depends on, amplify it:
// with 10 draws per training point the empirical minimizer's KL (a) is 50 times
// the exact one's (README, gradient-flow; `expectation = draws` reproduces it).
#pragma once

#include <string>

#include "core/types.hpp"
#include "models/random_features.hpp"
#include "sde/sde.hpp"
#include "targets/gaussian_mixture.hpp"
#include "training/gradient_flow.hpp"

namespace diffgen {

// A 1-D law of clean points x0 = Σ_k weight_k N(mean_k, var_k); var_k = 0 is
// a point mass.
struct CleanLaw {
  Vector weight, mean, var;

  // A 1-D Gaussian mixture's components (ConfigError if the mixture is not 1-D).
  static CleanLaw from_mixture(const GaussianMixture& mixture);
  // The empirical law (1/n) Σ δ_{x_i} of 1-D points (ConfigError if empty).
  static CleanLaw from_points(const Vector& points);
  Index size() const { return weight.size(); }
};

// The expectations under x_t = a x0 + s z (x0 ~ law, z ~ N(0, 1)) at one
// diffusion time t: E[φ φᵀ] [m×m] and E[z φ] [m], for a 1-D model.
struct FeatureMoments {
  SquareMatrix second;  // E[φ(x_t, t) φ(x_t, t)ᵀ]
  Vector noise_cross;   // E[z φ(x_t, t)]
};
// Throws ConfigError unless the model is 1-D, s > 0 and a is finite.
FeatureMoments feature_moments(const RandomFeatureModel& model, const CleanLaw& law, double t, double a, double s);

struct ExpectedLossOptions {
  double eps = 1e-5;   // t ~ U[eps, T]
  Index t_nodes = 48;  // Gauss–Legendre nodes over t
  // Empty when valid, else what is wrong.
  std::string validate() const;
};

// The DSM loss E_t E_{x0~law} E_z (s(t) s_A(x_t, t) + z)² as a quadratic form
// in A (G, B, c0 = 1, N = t_nodes): exact in x0 and z, Gauss–Legendre in t.
// Work is split over the t nodes with parallel_for (bit-identical for any
// thread count). Throws ConfigError on invalid options or a model that is not 1-D.
QuadraticDsmLoss expected_dsm_loss(const RandomFeatureModel& model, const Sde& sde, const CleanLaw& law,
                                   const ExpectedLossOptions& options);

// The infimum of the population DSM loss over all score functions, reached by
// the true score: 1 − E_t[s(t)² I(p_t)] with I(p_t) = ∫ p_t (∂_x log p_t)² the
// Fisher information of the target's law at t (a trapezoid rule in x at step
// σ_min(t)/16, spectrally accurate for these smooth integrands; Gauss–Legendre
// in t as in expected_dsm_loss). L(A) minus it is the weighted score error
// E_t E_{p_t} s² (s_A − ∇log p_t)², the quantity Li2023's Theorem 1 bounds KL by.
// Throws ConfigError for a target that is not 1-D or has a point-mass component.
double dsm_loss_infimum(const GaussianMixture& target, const Sde& sde, const ExpectedLossOptions& options);

// The same loss for the model made of the first m features (a RandomFeatureModel
// of width m drawn from the same stream has exactly these): with s_A = (1/m) A φ,
// G_m = (M/m)² G[0:m, 0:m] and B_m = (M/m) B[:, 0:m] for a loss built at width M.
QuadraticDsmLoss leading_features(const QuadraticDsmLoss& loss, Index m);

}  // namespace diffgen
