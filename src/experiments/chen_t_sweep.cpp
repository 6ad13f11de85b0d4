// `diffgen run chen-t-sweep`: Chen, Zhu & Shkurti (ICLR 2025), the bound's
// trade-off in the diffusion horizon T on 2-D toys, beside the true test
// error (THEORY.md §7). The report puts each term, the bound and every test
// metric against T with 95% bands, the T the bound chooses beside the T each
// metric prefers, and the rank correlation between bound and test error
// across T. Tested by chen_study_test.cpp.
#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "experiments/chen_grid_study.hpp"
#include "experiments/report_templates.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class ChenTSweepStudy final : public ChenGridStudy {
 public:
  using ChenGridStudy::ChenGridStudy;
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override;

 private:
  // Per seed, the bound's and a metric's values across T (NaN where missing).
  std::pair<std::vector<double>, std::vector<double>> across_T(const std::vector<TaskValue>& values, Index k,
                                                               ChenTarget target, Index m,
                                                               double ChenPoint::*metric) const {
    std::vector<double> b, e;
    for (double T : s_.T_values) {
      const ChenPoint* p = at(values, k, target, m, T);
      b.push_back(p ? p->bound : kNaN);
      e.push_back(p ? p->*metric : kNaN);
    }
    return {b, e};
  }
  void add_term_rows(const std::vector<TaskValue>& values, ChenTarget target, Index m, Table& terms) const;
  Json choices(const std::vector<TaskValue>& values, ChenTarget target, Index m, Table& choice) const;
  Json per_T(const std::vector<TaskValue>& values, ChenTarget target, Index m) const;
};

void ChenTSweepStudy::add_term_rows(const std::vector<TaskValue>& values, ChenTarget target, Index m,
                                    Table& terms) const {
  const double c = std::numbers::sqrt2 * s_.R;
  for (double T : s_.T_values) {
    const auto pm = [&](const std::function<double(const ChenPoint&)>& f) {
      return format_pm(spread_at(values, target, m, T, f));
    };
    terms.add_row({std::string(enum_name(target)), m, format_double(T), pm([](const ChenPoint& p) { return p.bound; }),
                   pm([](const ChenPoint& p) { return p.term1; }), pm([&](const ChenPoint& p) { return c * p.term2; }),
                   pm([&](const ChenPoint& p) { return c * p.term3; }), pm([](const ChenPoint& p) { return p.sm_loss; }),
                   pm([](const ChenPoint& p) { return p.exact_kl; }), pm([](const ChenPoint& p) { return p.kde_kl; }),
                   pm([](const ChenPoint& p) { return p.kde_kl_floor; }),
                   pm([](const ChenPoint& p) { return p.prior_mismatch; })});
  }
}

Json ChenTSweepStudy::per_T(const std::vector<TaskValue>& values, ChenTarget target, Index m) const {
  Json rows = Json::array();
  for (double T : s_.T_values) {
    Json row = {{"T", T}};
    for (const auto& col : chen_columns())
      row[col.name] = spread_json(spread_at(values, target, m, T, [&](const ChenPoint& p) { return p.*(col.field); }));
    rows.push_back(row);
  }
  return rows;
}

// The T minimizing the seeds' mean bound and mean metric, each seed's own
// minima, and Spearman's ρ between bound and metric across T per seed.
Json ChenTSweepStudy::choices(const std::vector<TaskValue>& values, ChenTarget target, Index m, Table& choice) const {
  const auto mean_curve = [&](const std::function<double(const ChenPoint&)>& f) {
    std::vector<double> curve;
    for (double T : s_.T_values) {
      const Spread sp = spread_at(values, target, m, T, f);
      curve.push_back(sp.count > 0 ? sp.mean : kNaN);
    }
    return curve;
  };
  const Index chosen = argmin_finite(mean_curve([](const ChenPoint& p) { return p.bound; }));
  const double T_chosen = chosen >= 0 ? s_.T_values[static_cast<std::size_t>(chosen)] : kNaN;
  Json out = Json::object();
  for (const auto& metric : chen_test_metrics()) {
    const Index best = argmin_finite(mean_curve([&](const ChenPoint& p) { return p.*(metric.field); }));
    if (best < 0) continue;  // not measured for this target
    std::vector<double> rho, seed_best, seed_chosen;
    for (Index k = 0; k < seeds_; ++k) {
      const auto [b, e] = across_T(values, k, target, m, metric.field);
      rho.push_back(spearman_correlation(b, e));
      const Index ib = argmin_finite(b), ie = argmin_finite(e);
      if (ib >= 0 && ie >= 0) {
        seed_chosen.push_back(s_.T_values[static_cast<std::size_t>(ib)]);
        seed_best.push_back(s_.T_values[static_cast<std::size_t>(ie)]);
      }
    }
    const double T_best = s_.T_values[static_cast<std::size_t>(best)];
    out[metric.name] = {{"T_minimizing_mean", T_best},
                        {"T_chosen_by_bound", T_chosen},
                        {"T_per_seed", spread_json(spread(seed_best))},
                        {"T_chosen_per_seed", spread_json(spread(seed_chosen))},
                        {"spearman_bound_vs_metric", spread_json(spread(rho))}};
    choice.add_row({std::string(enum_name(target)), m, metric.label, format_double(T_chosen), format_double(T_best),
                    format_pm(spread(seed_chosen)), format_pm(spread(seed_best)), format_pm(spread(rho))});
  }
  return out;
}

void ChenTSweepStudy::report(const std::vector<TaskValue>& values, RunWriter& out) const {
  write_metrics(values, out);
  Table terms({"target", "m", "T", "bound", "term1", "√2R·term2", "√2R·term3", "sm_loss", "exact KL", "KDE-KL",
               "KDE-KL floor", "prior mismatch"});
  Table choice({"target", "m", "test error", "T by bound", "T by test error", "T by bound per seed",
                "T by error per seed", "Spearman ρ(bound, error)"});
  Json targets = Json::array();
  for (ChenTarget target : s_.targets)
    for (Index m : s_.m_values) {
      add_term_rows(values, target, m, terms);
      targets.push_back({{"target", enum_name(target)},
                         {"m", m},
                         {"per_T", per_T(values, target, m)},
                         {"choices", choices(values, target, m, choice)}});
      ChenGrid grid;
      for (double T : s_.T_values) {
        grid.emplace_back();
        for (Index k = 0; k < seeds_; ++k) grid.back().push_back(at(values, k, target, m, T));
      }
      add_chen_plots(s_, grid, target, m, out);
    }
  const std::vector<std::string> failed = failures(values);
  out.json("summary.json", {{"experiment", "chen-t-sweep"}, {"seeds", seeds_}, {"bound_preset", enum_name(s_.preset)},
                            {"R", s_.R}, {"steps", s_.steps}, {"targets", targets}, {"failures", failed}});
  out.render_plots();
  out.report(report_template("chen-t-sweep"),
             {{"seeds", seeds_}, {"plural", seeds_ > 1 ? "s" : ""}, {"steps", s_.steps}, {"lr", format_double(s_.lr)},
              {"R", format_double(s_.R)}, {"preset", enum_name(s_.preset)}, {"t_min", format_double(s_.t_min)},
              {"terms", terms.to_markdown()}, {"choice", choice.to_markdown()}});
  out.terminal(terms.to_text() + "\n" + choice.to_text() + "\n");
  if (!failed.empty())
    out.fail(fmt::format("{} of {} points failed; the first: {}", failed.size(), values.size(), failed.front()));
}

class ChenTSweepExperiment final : public Experiment {
 public:
  std::string name() const override { return "chen-t-sweep"; }
  std::string purpose() const override {
    return "Chen et al. 2025: the bound's terms against the diffusion horizon T on 2-D toys, beside the true test "
           "error; the T the bound chooses and the T that is best";
  }
  Schema keys() const override {
    Schema s;
    chen_options().declare(s, ChenSettings{});
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    return std::make_unique<ChenTSweepStudy>(chen_settings(config), seeds);
  }
};

}  // namespace

std::unique_ptr<Experiment> make_chen_t_sweep_experiment() {
  return std::make_unique<ChenTSweepExperiment>();
}

}  // namespace diffgen
