// `diffgen run chen-t-sweep`: Chen, Zhu & Shkurti (ICLR 2025), the bound's
// trade-off in the diffusion horizon T on 2-D toys, beside the true test
// error (THEORY.md §7). One kept task per (seed, target, m, T); the report
// puts each term, the bound and every test metric against T with 95% bands,
// the T the bound chooses beside the T each metric prefers, and the rank
// correlation between bound and test error across T. Tested by chen_study_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"
#include "experiments/chen_study.hpp"
#include "experiments/experiment.hpp"
#include "experiments/report_templates.hpp"
#include "numerics/statistics.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;

struct Point {
  Index seed;
  ChenTarget target;
  Index m;
  double T;
};

// The test errors the bound is compared with, in report order.
struct TestMetric {
  const char* name;
  const char* label;
  double ChenPoint::*field;
};
const std::vector<TestMetric>& test_metrics() {
  static const std::vector<TestMetric> metrics{{"exact_kl", "exact KL(p_0 ‖ p_θ)", &ChenPoint::exact_kl},
                                               {"test_nll", "test NLL", &ChenPoint::nll},
                                               {"kde_kl", "KDE-KL (authors')", &ChenPoint::kde_kl},
                                               {"energy_distance", "energy distance", &ChenPoint::energy}};
  return metrics;
}

class ChenTSweepStudy final : public Study {
 public:
  ChenTSweepStudy(ChenSettings s, Index seeds) : s_(std::move(s)), seeds_(seeds) {
    for (Index k = 0; k < seeds_; ++k)
      for (ChenTarget target : s_.targets)
        for (Index m : s_.m_values)
          for (double T : s_.T_values) {
            points_.push_back({k, target, m, T});
            tasks_.push_back({fmt::format("{}-m{}-T{}-seed-{}", enum_name(target), m, T, k),
                              static_cast<double>(m) * static_cast<double>(s_.steps), s_.steps + 1, {}, true,
                              "train, bound and test"});
          }
  }
  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index i, const TaskContext& context) const override {
    const Point& p = points_[static_cast<std::size_t>(i)];
    return make_value(run_chen_point(s_, p.target, p.T, p.m, p.seed, context));
  }
  Json encode(Index, const TaskValue& value) const override { return chen_point_to_json(value_as<ChenPoint>(value)); }
  TaskValue decode(Index, const Json& json) const override { return make_value(chen_point_from_json(json)); }
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override;
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override {
    SeedTable t;
    t.keys = {"target", "m", "T"};
    for (const auto& c : chen_columns()) t.metrics.push_back(c.name);
    for (std::size_t i = 0; i < points_.size(); ++i) {
      const Point& p = points_[i];
      if (p.seed != k) continue;
      const auto& v = value_as<ChenPoint>(values[i]);
      if (!v.failure.empty() && t.failure.empty()) t.failure = v.failure;
      t.key_values.push_back({std::string(enum_name(p.target)), std::to_string(p.m), format_double(p.T)});
      std::vector<double> row;
      for (const auto& c : chen_columns()) row.push_back(v.*(c.field));
      t.values.push_back(std::move(row));
    }
    return t;
  }

 private:
  // The values of one (target, m) over seeds: per T, per seed.
  std::vector<std::vector<const ChenPoint*>> grid(const std::vector<TaskValue>& values, ChenTarget target,
                                                  Index m) const {
    std::vector<std::vector<const ChenPoint*>> g(s_.T_values.size(),
                                                 std::vector<const ChenPoint*>(static_cast<std::size_t>(seeds_)));
    for (std::size_t i = 0; i < points_.size(); ++i) {
      const Point& p = points_[i];
      if (p.target != target || p.m != m) continue;
      const auto j = static_cast<std::size_t>(
          std::find(s_.T_values.begin(), s_.T_values.end(), p.T) - s_.T_values.begin());
      g[j][static_cast<std::size_t>(p.seed)] = &value_as<ChenPoint>(values[i]);
    }
    return g;
  }
  void write_metrics(const std::vector<TaskValue>& values, RunWriter& out) const;
  Json report_target(const std::vector<std::vector<const ChenPoint*>>& g, ChenTarget target, Index m, Table& terms,
                     Table& choice, RunWriter& out) const;

  ChenSettings s_;
  Index seeds_;
  std::vector<Point> points_;
  std::vector<TaskInfo> tasks_;
};

Spread spread_of(const std::vector<const ChenPoint*>& seeds, const std::function<double(const ChenPoint&)>& f) {
  std::vector<double> v;
  for (const ChenPoint* p : seeds)
    if (p && p->failure.empty()) v.push_back(f(*p));
  return spread(v);
}

// The index of the smallest finite value; -1 when none.
Index argmin(const std::vector<double>& v) {
  Index best = -1;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::isfinite(v[i]) && (best < 0 || v[i] < v[static_cast<std::size_t>(best)])) best = static_cast<Index>(i);
  return best;
}

void ChenTSweepStudy::write_metrics(const std::vector<TaskValue>& values, RunWriter& out) const {
  std::vector<std::string> columns{"seed", "target", "m", "T"};
  for (const auto& c : chen_columns()) columns.push_back(c.name);
  columns.push_back("failure");
  CsvTable csv(columns);
  for (const auto& c : chen_columns()) csv.allow_missing(c.name);
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const Point& p = points_[i];
    const auto& v = value_as<ChenPoint>(values[i]);
    std::vector<CsvCell> row{p.seed, std::string(enum_name(p.target)), p.m, p.T};
    for (const auto& c : chen_columns()) row.emplace_back(v.*(c.field));
    row.emplace_back(v.failure);
    csv.add_row(std::move(row));
  }
  out.csv("metrics.csv", csv);
}

Json ChenTSweepStudy::report_target(const std::vector<std::vector<const ChenPoint*>>& g, ChenTarget target, Index m,
                                    Table& terms, Table& choice, RunWriter& out) const {
  const double c = std::numbers::sqrt2 * s_.R;
  const std::string name(enum_name(target));
  Json per_T = Json::array();
  std::vector<double> mean_bound;
  std::vector<Spread> bound_spreads;
  for (std::size_t j = 0; j < s_.T_values.size(); ++j) {
    Json row = {{"T", s_.T_values[j]}};
    for (const auto& col : chen_columns()) row[col.name] = spread_json(spread_of(g[j], [&](const ChenPoint& p) { return p.*(col.field); }));
    per_T.push_back(row);
    const Spread b = spread_of(g[j], [](const ChenPoint& p) { return p.bound; });
    bound_spreads.push_back(b);
    mean_bound.push_back(b.count > 0 ? b.mean : NAN);
    const auto pm = [&](auto f) { return format_pm(spread_of(g[j], f)); };
    terms.add_row({name, m, format_double(s_.T_values[j]), pm([](const ChenPoint& p) { return p.bound; }),
                   pm([](const ChenPoint& p) { return p.term1; }), pm([&](const ChenPoint& p) { return c * p.term2; }),
                   pm([&](const ChenPoint& p) { return c * p.term3; }), pm([](const ChenPoint& p) { return p.sm_loss; }),
                   pm([](const ChenPoint& p) { return p.exact_kl; }), pm([](const ChenPoint& p) { return p.kde_kl; }),
                   pm([](const ChenPoint& p) { return p.prior_mismatch; })});
  }
  const Index chosen = argmin(mean_bound);
  Json choices = Json::object();
  for (const auto& metric : test_metrics()) {
    std::vector<double> mean_metric, rho, seed_best, seed_chosen;
    for (std::size_t j = 0; j < s_.T_values.size(); ++j) {
      const Spread sp = spread_of(g[j], [&](const ChenPoint& p) { return p.*(metric.field); });
      mean_metric.push_back(sp.count > 0 ? sp.mean : NAN);
    }
    const Index best = argmin(mean_metric);
    if (best < 0) continue;
    for (Index k = 0; k < seeds_; ++k) {
      std::vector<double> b, e;
      for (std::size_t j = 0; j < s_.T_values.size(); ++j) {
        const ChenPoint* p = g[j][static_cast<std::size_t>(k)];
        b.push_back(p && p->failure.empty() ? p->bound : NAN);
        e.push_back(p && p->failure.empty() ? p->*(metric.field) : NAN);
      }
      rho.push_back(spearman_correlation(b, e));
      const Index ib = argmin(b), ie = argmin(e);
      if (ib >= 0 && ie >= 0) {
        seed_chosen.push_back(s_.T_values[static_cast<std::size_t>(ib)]);
        seed_best.push_back(s_.T_values[static_cast<std::size_t>(ie)]);
      }
    }
    const Spread r = spread(rho);
    const double T_chosen = chosen >= 0 ? s_.T_values[static_cast<std::size_t>(chosen)] : NAN;
    const double T_best = s_.T_values[static_cast<std::size_t>(best)];
    choices[metric.name] = {{"T_minimizing_mean", T_best},
                            {"T_chosen_by_bound", T_chosen},
                            {"T_per_seed", spread_json(spread(seed_best))},
                            {"T_chosen_per_seed", spread_json(spread(seed_chosen))},
                            {"spearman_bound_vs_metric", spread_json(r)}};
    choice.add_row({name, m, metric.label, format_double(T_chosen), format_double(T_best),
                    format_pm(spread(seed_chosen)), format_pm(spread(seed_best)), format_pm(r)});
  }
  add_chen_plots(s_, g, target, m, out);
  return {{"target", name}, {"m", m}, {"per_T", per_T}, {"choices", choices}};
}

void ChenTSweepStudy::report(const std::vector<TaskValue>& values, RunWriter& out) const {
  write_metrics(values, out);
  Table terms({"target", "m", "T", "bound", "term1", "√2R·term2", "√2R·term3", "sm_loss", "exact KL", "KDE-KL",
               "prior mismatch"});
  Table choice({"target", "m", "test error", "T by bound", "T by test error", "T by bound per seed",
                "T by error per seed", "Spearman ρ(bound, error)"});
  Json targets = Json::array();
  for (ChenTarget target : s_.targets)
    for (Index m : s_.m_values) targets.push_back(report_target(grid(values, target, m), target, m, terms, choice, out));
  std::vector<std::string> failures;
  for (const auto& v : values)
    if (const auto& p = value_as<ChenPoint>(v); !p.failure.empty()) failures.push_back(p.failure);
  out.json("summary.json", {{"experiment", "chen-t-sweep"},
                            {"seeds", seeds_},
                            {"bound_preset", enum_name(s_.preset)},
                            {"R", s_.R},
                            {"steps", s_.steps},
                            {"targets", targets},
                            {"failures", failures}});
  out.render_plots();
  out.report(report_template("chen-t-sweep"),
             {{"seeds", seeds_}, {"plural", seeds_ > 1 ? "s" : ""}, {"steps", s_.steps}, {"lr", format_double(s_.lr)},
              {"R", format_double(s_.R)}, {"preset", enum_name(s_.preset)}, {"t_min", format_double(s_.t_min)},
              {"terms", terms.to_markdown()}, {"choice", choice.to_markdown()}});
  out.terminal(terms.to_text() + "\n" + choice.to_text() + "\n");
  if (!failures.empty())
    out.fail(fmt::format("{} of {} points failed; the first: {}", failures.size(), values.size(), failures.front()));
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
