#include "numerics/power_fit.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace diffgen {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double PowerFit::predict(double x) const {
  return std::exp(intercept + slope * std::log(x));
}

PowerFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size())
    throw std::invalid_argument("fit_power_law: " + std::to_string(x.size()) + " x values but " +
                                std::to_string(y.size()) + " y values");
  std::vector<double> u, v;
  PowerFit f;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i]) && x[i] > 0.0 && y[i] > 0.0) {
      u.push_back(std::log(x[i]));
      v.push_back(std::log(y[i]));
    } else {
      ++f.skipped;
    }
  }
  f.points = static_cast<int>(u.size());
  f.slope = f.intercept = f.slope_se = f.slope_ci95 = f.r2 = kNaN;
  if (f.points < 2) return f;
  // Centred sums: no cancellation between large Σu² and (Σu)²/n.
  double ubar = 0.0, vbar = 0.0;
  for (int i = 0; i < f.points; ++i) {
    ubar += u[i];
    vbar += v[i];
  }
  ubar /= f.points;
  vbar /= f.points;
  double suu = 0.0, suv = 0.0, svv = 0.0;
  for (int i = 0; i < f.points; ++i) {
    suu += (u[i] - ubar) * (u[i] - ubar);
    suv += (u[i] - ubar) * (v[i] - vbar);
    svv += (v[i] - vbar) * (v[i] - vbar);
  }
  if (!(suu > 0.0)) {  // all x equal: no slope
    f.points = 0;
    return f;
  }
  f.slope = suv / suu;
  f.intercept = vbar - f.slope * ubar;
  double ssr = 0.0;
  for (int i = 0; i < f.points; ++i) {
    const double r = v[i] - (f.intercept + f.slope * u[i]);
    ssr += r * r;
  }
  f.r2 = svv > 0.0 ? 1.0 - ssr / svv : kNaN;
  if (f.points >= 3) {
    f.slope_se = std::sqrt(ssr / (f.points - 2) / suu);
    f.slope_ci95 = student_t975(f.points - 2) * f.slope_se;
  }
  return f;
}

SeedSlopes fit_power_law_over_seeds(const std::vector<double>& x, const std::vector<std::vector<double>>& y_per_seed,
                                    bool geometric, bool partial) {
  SeedSlopes out;
  std::vector<double> slopes;
  out.mean_y.assign(x.size(), 0.0);
  std::vector<int> count(x.size(), 0);
  for (const auto& y : y_per_seed) {
    if (y.size() != x.size())
      throw std::invalid_argument("fit_power_law_over_seeds: a seed has " + std::to_string(y.size()) + " values for " +
                                  std::to_string(x.size()) + " x values");
    out.per_seed.push_back(fit_power_law(x, y));
    const PowerFit& f = out.per_seed.back();
    if (f.ok() && (f.skipped == 0 || (partial && f.points >= 3))) {
      slopes.push_back(f.slope);
    } else {
      ++out.seeds_left_out;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      const bool usable = geometric ? (std::isfinite(y[i]) && y[i] > 0.0) : std::isfinite(y[i]);
      if (usable) {
        out.mean_y[i] += geometric ? std::log(y[i]) : y[i];
        ++count[i];
      }
    }
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double m = count[i] > 0 ? out.mean_y[i] / count[i] : kNaN;
    out.mean_y[i] = geometric && count[i] > 0 ? std::exp(m) : m;
  }
  out.slope = spread(slopes);
  out.of_mean = fit_power_law(x, out.mean_y);
  return out;
}

double SeedSlopes::headline_slope() const {
  return slope.count >= 2 ? slope.mean : of_mean.slope;
}

double SeedSlopes::headline_ci95() const {
  return slope.count >= 2 ? slope.ci95 : of_mean.slope_ci95;
}

std::string SeedSlopes::method() const {
  if (slope.count >= 2)
    return "mean of " + std::to_string(slope.count) +
           " per-seed least-squares slopes, 95% interval from Student's t over seeds";
  return "least-squares slope of the seed-mean curve, 95% interval from the regression's residuals (Student's t, "
         "points - 2 degrees of freedom)";
}

}  // namespace diffgen
