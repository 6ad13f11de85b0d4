// Forward processes (THEORY.md §1). All are linear, dx = b(t) x dt + g(t) dw,
// so x_t | x_0 ~ N(a(t) x_0, s(t)^2 I). The probability-flow ODE and the
// reverse SDE are derived from these few functions and a score, so samplers
// and likelihoods share one definition.
#pragma once

#include <memory>
#include <string>

#include "core/options.hpp"
#include "core/rng.hpp"
#include "core/types.hpp"

namespace diffgen {

class Sde {
 public:
  virtual ~Sde() = default;
  virtual std::string name() const = 0;
  // Time horizon T.
  virtual double T() const = 0;
  // Mean scale a(t) of the transition kernel.
  virtual double a(double t) const = 0;
  // Variance s(t)^2 of the transition kernel.
  virtual double s2(double t) const = 0;
  // Linear drift rate b(t): f(x, t) = b(t) x. Equals d/dt log a(t).
  virtual double drift_rate(double t) const = 0;
  // Squared diffusion coefficient g(t)^2.
  virtual double g2(double t) const = 0;
  // Standard deviation of the Gaussian prior p_T = N(0, prior_std^2 I).
  virtual double prior_std() const = 0;

  double s(double t) const;
  Matrix drift(const Matrix& X, double t) const { return drift_rate(t) * X; }
  Matrix sample_prior(Index n, Index d, Rng& rng) const;
  // log N(x; 0, prior_std^2 I) for every row.
  Vector prior_log_density(const Matrix& X) const;
};

// Variance exploding, dx = sigma^t dw on [0, 1] (the reference code's SDE).
class VeSde final : public Sde {
 public:
  explicit VeSde(double sigma = 25.0);
  std::string name() const override { return "ve"; }
  double T() const override { return 1.0; }
  double a(double) const override { return 1.0; }
  double s2(double t) const override;
  double drift_rate(double) const override { return 0.0; }
  double g2(double t) const override;
  double prior_std() const override;
  double sigma() const { return sigma_; }

 private:
  double sigma_;
  double log_sigma_;
};

// Variance preserving with linear beta(t) = beta_min + t (beta_max - beta_min).
class VpSde final : public Sde {
 public:
  VpSde(double beta_min = 0.1, double beta_max = 20.0, double T = 1.0);
  std::string name() const override { return "vp"; }
  double T() const override { return T_; }
  double a(double t) const override;
  double s2(double t) const override;
  double drift_rate(double t) const override { return -0.5 * beta(t); }
  double g2(double t) const override { return beta(t); }
  double prior_std() const override { return 1.0; }
  double beta(double t) const { return beta_min_ + t * (beta_max_ - beta_min_); }
  // ∫_0^t beta(u) du.
  double beta_integral(double t) const { return beta_min_ * t + 0.5 * t * t * (beta_max_ - beta_min_); }

 private:
  double beta_min_, beta_max_, T_;
};

// Ornstein–Uhlenbeck dx = -x dt + sqrt(2) dw (Li2023 eq. 2).
class OuSde final : public Sde {
 public:
  explicit OuSde(double T = 5.0);
  std::string name() const override { return "ou"; }
  double T() const override { return T_; }
  double a(double t) const override;
  double s2(double t) const override;
  double drift_rate(double) const override { return -1.0; }
  double g2(double) const override { return 2.0; }
  double prior_std() const override { return 1.0; }

 private:
  double T_;
};

enum class SdeKind { Ve, Vp, Ou };

template <>
struct EnumNames<SdeKind> {
  static constexpr std::array table{std::pair{SdeKind::Ve, std::string_view("ve")},
                                    std::pair{SdeKind::Vp, std::string_view("vp")},
                                    std::pair{SdeKind::Ou, std::string_view("ou")}};
};

struct SdeOptions {
  SdeKind kind = SdeKind::Ve;
  double sigma = 25.0;    // VE
  double beta_min = 0.1;  // VP
  double beta_max = 20.0;  // VP
  double T = 0.0;         // VP/OU horizon; 0 = the process's default (VP 1, OU 5)
  // The smallest time used: training draws t ~ U[eps, T], the PF-ODE and the
  // samplers stop at eps. Not part of the process itself (make_sde ignores it).
  double eps = 1e-5;
  // Empty when valid, else what is wrong (naming the keys of sde_options()).
  std::string validate() const;
};

// The keys sde.kind, sde.sigma, sde.beta_min, sde.beta_max, sde.T and sde.eps.
const OptionTable<SdeOptions>& sde_options();

std::shared_ptr<const Sde> make_sde(const SdeOptions& options);

}  // namespace diffgen
