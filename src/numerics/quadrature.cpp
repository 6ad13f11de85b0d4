#include "numerics/quadrature.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <vector>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/limits.hpp"

namespace diffgen {

std::string Grid::validate(const std::string& key) const {
  // hi - lo must be finite too: the step (hi - lo) / (points - 1) and every
  // node count derived from it overflow otherwise (lo = -1e308, hi = 1e308).
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi) || !std::isfinite(hi - lo))
    return key + ".lo = " + format_double(lo) + ", " + key + ".hi = " + format_double(hi) +
           " is not allowed (need finite lo < hi with a finite hi - lo)";
  // Nodes, and at least two densities on them: three doubles per node.
  const double bytes = static_cast<double>(points) * 3.0 * sizeof(double);
  if (points > kMaxGridPoints || bytes > static_cast<double>(memory_limit_bytes()))
    return key + ".points = " + std::to_string(points) + " needs about " + format_bytes(bytes) +
           " for the grid's nodes and densities; at most " + format_bytes(static_cast<double>(memory_limit_bytes())) +
           " (half the physical memory) and " + std::to_string(kMaxGridPoints) + " points";
  if (points < 9 || (points - 1) % 4 != 0)
    return key + ".points = " + std::to_string(points) +
           " is not allowed (need 4k + 1 >= 9, e.g. 241, 2401: Simpson's rule on the grid and on every other point)";
  return {};
}

Vector Grid::nodes() const {
  Vector x(points);
  for (Index i = 0; i < points; ++i) x[i] = this->x(i);
  return x;
}

double simpson(const ConstStridedVector& f, double h) {
  const Index n = f.size();
  if (n < 3 || n % 2 == 0)
    throw ConfigError("Simpson's rule needs an odd number >= 3 of nodes, got " + std::to_string(n));
  // Weights 1, 4, 2, 4, ..., 2, 4, 1 times h/3; odd and even sums kept apart
  // so the order of additions is fixed.
  double odd = 0.0, even = 0.0;
  for (Index i = 1; i < n - 1; i += 2) odd += f[i];
  for (Index i = 2; i < n - 1; i += 2) even += f[i];
  return h / 3.0 * (f[0] + 4.0 * odd + 2.0 * even + f[n - 1]);
}

Vector cumulative_integral(const ConstStridedVector& f, double h) {
  const Index n = f.size();
  if (n < 4) throw ConfigError("the cumulative integral needs >= 4 nodes, got " + std::to_string(n));
  Vector F(n);
  F[0] = 0.0;
  const double c = h / 24.0;
  // First interval: the cubic through f_0..f_3, integrated over [x_0, x_1].
  F[1] = c * (9.0 * f[0] + 19.0 * f[1] - 5.0 * f[2] + f[3]);
  // Interior intervals: the cubic through f_{i-1}..f_{i+2} (centred, smallest error constant).
  for (Index i = 1; i < n - 2; ++i) F[i + 1] = F[i] + c * (-f[i - 1] + 13.0 * f[i] + 13.0 * f[i + 1] - f[i + 2]);
  // Last interval: the cubic through the last four nodes.
  F[n - 1] = F[n - 2] + c * (f[n - 4] - 5.0 * f[n - 3] + 19.0 * f[n - 2] + 9.0 * f[n - 1]);
  return F;
}

std::string GaussKronrodOptions::validate() const {
  if (!(epsabs >= 0.0) || !(epsrel >= 0.0) || !std::isfinite(epsabs) || !std::isfinite(epsrel) ||
      (epsabs == 0.0 && epsrel == 0.0))
    return "gauss_kronrod.epsabs = " + format_double(epsabs) + ", epsrel = " + format_double(epsrel) +
           " is not allowed (need finite tolerances >= 0, not both 0)";
  if (limit < 1) return "gauss_kronrod.limit = " + std::to_string(limit) + " is not allowed (need >= 1)";
  return {};
}

namespace {

// Kronrod nodes (positive half, the last is the centre) and weights of the
// 15-point rule, and the weights of the embedded 7-point Gauss rule (whose
// nodes are xgk[1], xgk[3], xgk[5] and the centre), as in QUADPACK's qk15.
constexpr double kXgk[8] = {0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                            0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                            0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                            0.207784955007898467600689403773245, 0.000000000000000000000000000000000};
constexpr double kWgk[8] = {0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                            0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                            0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                            0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
constexpr double kWg[4] = {0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                           0.381830050505118944950369775488975, 0.417959183673469387755102040816327};
constexpr Index kNodes = 15;

struct Panel {
  double a, b, result, error;
};

// Abscissae of the 15-point rule on [a, b], written into y[offset..offset+15):
// the centre first, then the pairs centre -/+ h x_k.
void panel_nodes(double a, double b, Vector& y, Index offset) {
  const double centre = 0.5 * (a + b), half = 0.5 * (b - a);
  y[offset] = centre;
  for (int k = 0; k < 7; ++k) {
    y[offset + 1 + 2 * k] = centre - half * kXgk[k];
    y[offset + 2 + 2 * k] = centre + half * kXgk[k];
  }
}

// QUADPACK qk15: the Kronrod result and its error estimate from the values
// at panel_nodes' abscissae.
Panel panel_rule(double a, double b, const Vector& fy, Index offset) {
  constexpr double kEpmach = std::numeric_limits<double>::epsilon();
  constexpr double kUflow = std::numeric_limits<double>::min();
  const double half = 0.5 * (b - a), dhalf = std::abs(half);
  const double fc = fy[offset];
  double resg = fc * kWg[3], resk = fc * kWgk[7], resabs = std::abs(resk);
  for (int k = 0; k < 7; ++k) {
    const double f1 = fy[offset + 1 + 2 * k], f2 = fy[offset + 2 + 2 * k];
    if (k % 2 == 1) resg += kWg[k / 2] * (f1 + f2);
    resk += kWgk[k] * (f1 + f2);
    resabs += kWgk[k] * (std::abs(f1) + std::abs(f2));
  }
  const double reskh = 0.5 * resk;
  double resasc = kWgk[7] * std::abs(fc - reskh);
  for (int k = 0; k < 7; ++k)
    resasc += kWgk[k] * (std::abs(fy[offset + 1 + 2 * k] - reskh) + std::abs(fy[offset + 2 + 2 * k] - reskh));
  Panel p{a, b, resk * half, std::abs((resk - resg) * half)};
  resabs *= dhalf;
  resasc *= dhalf;
  // QUADPACK's scaling of |K15 - G7|: pessimistic when the rules disagree,
  // optimistic (power 1.5) when they agree, never below rounding.
  if (resasc != 0.0 && p.error != 0.0) p.error = resasc * std::min(1.0, std::pow(200.0 * p.error / resasc, 1.5));
  if (resabs > kUflow / (50.0 * kEpmach)) p.error = std::max(kEpmach * 50.0 * resabs, p.error);
  return p;
}

}  // namespace

GaussKronrodSummary integrate_gauss_kronrod(const BatchFunction& f, const Vector& lower, const Vector& upper,
                                            const GaussKronrodOptions& options) {
  if (auto err = options.validate(); !err.empty()) throw ConfigError(err);
  if (lower.size() != upper.size())
    throw ConfigError("integrate_gauss_kronrod: " + std::to_string(lower.size()) + " lower and " +
                      std::to_string(upper.size()) + " upper limits");
  const Index m = lower.size();
  GaussKronrodSummary out;
  out.integral.resize(m);
  out.error.resize(m);
  std::vector<std::vector<Panel>> panels(m);
  Vector y, fy;

  // Evaluates f on the listed (integral, a, b) panels in one call.
  struct Job {
    Index j;
    double a, b;
  };
  std::vector<Job> jobs;
  auto run_jobs = [&] {
    y.resize(static_cast<Index>(jobs.size()) * kNodes);
    for (std::size_t q = 0; q < jobs.size(); ++q) panel_nodes(jobs[q].a, jobs[q].b, y, q * kNodes);
    f(y, fy);
    if (fy.size() != y.size()) throw ConfigError("integrate_gauss_kronrod: f returned the wrong number of values");
    out.evaluations += y.size();
    for (std::size_t q = 0; q < jobs.size(); ++q) {
      const Panel p = panel_rule(jobs[q].a, jobs[q].b, fy, q * kNodes);
      if (!std::isfinite(p.result))
        throw NumericalError("integrate_gauss_kronrod: integrand not finite on [" + std::to_string(p.a) + ", " +
                             std::to_string(p.b) + "]");
      panels[jobs[q].j].push_back(p);
    }
  };

  // One panel per integral to start.
  for (Index j = 0; j < m; ++j) jobs.push_back({j, lower[j], upper[j]});
  run_jobs();

  std::vector<char> done(m, 0);
  for (;;) {
    jobs.clear();
    for (Index j = 0; j < m; ++j) {
      if (done[j]) continue;
      auto& ps = panels[j];
      double total = 0.0, error = 0.0;
      for (const auto& p : ps) total += p.result, error += p.error;
      out.integral[j] = total;
      out.error[j] = error;
      // Converged, or out of subintervals (scipy warns and returns the estimate).
      if (error <= std::max(options.epsabs, options.epsrel * std::abs(total))) {
        done[j] = 1;
        continue;
      }
      if (static_cast<Index>(ps.size()) >= options.limit) {
        done[j] = 1;
        ++out.unconverged;
        continue;
      }
      // Bisect the panel with the largest error estimate (global adaptivity).
      auto worst =
          std::max_element(ps.begin(), ps.end(), [](const Panel& l, const Panel& r) { return l.error < r.error; });
      const Panel w = *worst;
      ps.erase(worst);
      const double mid = 0.5 * (w.a + w.b);
      jobs.push_back({j, w.a, mid});
      jobs.push_back({j, mid, w.b});
    }
    if (jobs.empty()) break;
    run_jobs();
  }
  return out;
}

void gauss_legendre(Index n, Vector& nodes, Vector& weights) {
  if (n < 1) throw ConfigError("Gauss–Legendre: " + std::to_string(n) + " nodes (need at least 1)");
  nodes.resize(n);
  weights.resize(n);
  const double dn = static_cast<double>(n);
  for (Index i = 0; i < n; ++i) {
    // Newton's method from the usual asymptotic guess for the i-th largest root.
    double x = std::cos(std::numbers::pi * (static_cast<double>(i) + 0.75) / (dn + 0.5));
    double dp = 1.0;
    for (int iter = 0; iter < 100; ++iter) {
      // P_n(x) = p1 and P_{n-1}(x) = p0 by the three-term recurrence.
      double p0 = 1.0, p1 = x;
      for (Index k = 2; k <= n; ++k) {
        const double dk = static_cast<double>(k);
        const double p2 = ((2.0 * dk - 1.0) * x * p1 - (dk - 1.0) * p0) / dk;
        p0 = p1;
        p1 = p2;
      }
      // P_n' = n (x P_n − P_{n−1}) / (x² − 1).
      dp = dn * (x * p1 - p0) / (x * x - 1.0);
      const double step = p1 / dp;
      x -= step;
      if (std::abs(step) < 1e-16) break;
    }
    nodes[n - 1 - i] = x;
    weights[n - 1 - i] = 2.0 / ((1.0 - x * x) * dp * dp);
  }
}

void gauss_legendre_unit(Index n, Vector& nodes, Vector& weights) {
  Vector y, w;
  gauss_legendre(n, y, w);
  nodes.resize(n);
  weights.resize(n);
  // Node i is the image of root i in descending order, y[n − 1 − i]; halving
  // a weight is exact, so the weights are 1 / ((1 − y²) P_n'²).
  for (Index i = 0; i < n; ++i) {
    nodes[i] = 0.5 * (1.0 - y[n - 1 - i]);
    weights[i] = 0.5 * w[n - 1 - i];
  }
}

}  // namespace diffgen
