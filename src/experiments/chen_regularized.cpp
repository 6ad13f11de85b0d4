// `diffgen run chen-regularized`: Chen, Zhu & Shkurti (ICLR 2025) say their
// bound can be "integrated into the optimization process to improve model
// performance"; their code does not do it (notes/chen2025-code.md §B). Both
// readings of THEORY.md §7 are trained here on the 2-D toys beside plain
// denoising training: (i) the score-norm penalty λ·L·√(B(T)/2m) at a fixed T
// (the T the bound chose in chen-t-sweep, and T = 1), (ii) the penalty with
// T learned jointly. Every arm of a seed shares the training set, the
// initialization and the training draws, so the report gives each arm's test
// error minus the plain baseline's as a paired difference over seeds, with
// its 95% interval, and calls it significant when the interval excludes 0.
// Tested by chen_study_test.cpp.
#include <fmt/format.h>

#include <cmath>

#include "experiments/chen_grid_study.hpp"
#include "experiments/report_templates.hpp"
#include "report/spread.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

using Json = nlohmann::json;

// One trained configuration: an arm at a horizon (the joint arm's start).
struct Arm {
  ChenArm arm;
  double T;
  std::string label() const {
    return arm == ChenArm::Joint ? fmt::format("joint, T from {}", format_double(T))
                                 : fmt::format("{}, T = {}", enum_name(arm), format_double(T));
  }
};

std::vector<Arm> planned_arms(const ChenSettings& s) {
  std::vector<Arm> arms;
  for (ChenArm a : s.regularized.arms) {
    if (a == ChenArm::Joint) {
      arms.push_back({a, s.regularized.T_start});
      continue;
    }
    for (double T : s.T_values) arms.push_back({a, T});
  }
  return arms;
}

// The bound and the test errors compared across arms, in report order.
struct Compared {
  const char* name;
  const char* label;
  double ChenPoint::*field;
};

std::vector<Compared> compared_quantities() {
  std::vector<Compared> q;
  for (const auto& m : chen_test_metrics()) q.push_back({m.name, m.label, m.field});
  q.push_back({"bound", "bound", &ChenPoint::bound});
  return q;
}

class ChenRegularizedStudy final : public ChenGridStudy {
 public:
  ChenRegularizedStudy(ChenSettings s, Index seeds) : ChenGridStudy(s, seeds, plan_points(s, seeds)) {}
  void report(const std::vector<TaskValue>& values, RunWriter& out) const override;

 private:
  static std::vector<Point> plan_points(const ChenSettings& s, Index seeds) {
    std::vector<Point> points;
    for (Index k = 0; k < seeds; ++k)
      for (ChenTarget target : s.targets)
        for (const Arm& a : planned_arms(s)) points.push_back({k, target, s.m_values.front(), a.T, a.arm});
    return points;
  }
  const ChenPoint* point(const std::vector<TaskValue>& values, Index k, ChenTarget target, const Arm& a) const {
    return at(values, k, target, s_.m_values.front(), a.T, a.arm);
  }
  Spread over_seeds(const std::vector<TaskValue>& values, ChenTarget target, const Arm& a,
                    double ChenPoint::*field) const {
    std::vector<double> v;
    for (Index k = 0; k < seeds_; ++k)
      if (const ChenPoint* p = point(values, k, target, a)) v.push_back(p->*field);
    return spread(v);
  }
  Json arm_rows(const std::vector<TaskValue>& values, ChenTarget target, Table& table) const;
  Json differences(const std::vector<TaskValue>& values, ChenTarget target, Table& table) const;
  void add_plots(const std::vector<TaskValue>& values, ChenTarget target, RunWriter& out) const;
};

Json ChenRegularizedStudy::arm_rows(const std::vector<TaskValue>& values, ChenTarget target, Table& table) const {
  Json rows = Json::array();
  for (const Arm& a : planned_arms(s_)) {
    const auto pm = [&](double ChenPoint::*f) { return format_pm(over_seeds(values, target, a, f)); };
    table.add_row({std::string(enum_name(target)), a.label(), pm(&ChenPoint::T_final), pm(&ChenPoint::bound),
                   pm(&ChenPoint::exact_kl), pm(&ChenPoint::nll), pm(&ChenPoint::kde_kl),
                   pm(&ChenPoint::energy), pm(&ChenPoint::sm_loss), pm(&ChenPoint::L)});
    Json row = {{"arm", enum_name(a.arm)}, {"T", a.T}, {"label", a.label()}};
    for (const auto& c : chen_columns()) row[c.name] = spread_json(over_seeds(values, target, a, c.field));
    rows.push_back(row);
  }
  return rows;
}

// Each arm minus the plain baseline, seed by seed (paired: same data, same
// initialization, same draws), with the 95% interval of the mean difference.
Json ChenRegularizedStudy::differences(const std::vector<TaskValue>& values, ChenTarget target, Table& table) const {
  const Arm baseline{ChenArm::Plain, s_.regularized.baseline_T};
  Json out = Json::array();
  for (const Arm& a : planned_arms(s_)) {
    if (a.arm == baseline.arm && a.T == baseline.T) continue;
    for (const Compared& q : compared_quantities()) {
      std::vector<double> d;
      for (Index k = 0; k < seeds_; ++k) {
        const ChenPoint* p = point(values, k, target, a);
        const ChenPoint* b = point(values, k, target, baseline);
        if (p && b && std::isfinite(p->*q.field) && std::isfinite(b->*q.field)) d.push_back(p->*q.field - b->*q.field);
      }
      if (d.empty()) continue;  // not measured for this target
      const Spread sp = spread(d);
      const bool significant = sp.count >= 2 && std::abs(sp.mean) > sp.ci95;
      const std::string verdict = sp.count < 2                 ? "one seed: no interval"
                                  : !significant               ? "no"
                                  : sp.mean < 0.0              ? "yes, lower"
                                                               : "yes, higher";
      table.add_row({std::string(enum_name(target)), a.label(), q.label, format_pm(sp), sp.count, verdict});
      out.push_back({{"arm", enum_name(a.arm)},
                     {"T", a.T},
                     {"quantity", q.name},
                     {"difference", spread_json(sp)},
                     {"significant", significant}});
    }
  }
  return out;
}

void ChenRegularizedStudy::add_plots(const std::vector<TaskValue>& values, ChenTarget target, RunWriter& out) const {
  const std::string name(enum_name(target));
  const std::vector<Arm> arms = planned_arms(s_);
  PanelGrid panels;
  std::string key;
  for (std::size_t i = 0; i < arms.size(); ++i) key += fmt::format("{}{}: {}", i ? "  " : "", i + 1, arms[i].label());
  panels.title = fmt::format("{} by training arm (dots: seeds, line: mean)   {}", name, key);
  panels.cols = 2;
  panels.width = 1200;
  for (const Compared& q : compared_quantities()) {
    PlotSpec p;
    p.title = q.label;
    p.xlabel = "arm";
    p.ylabel = q.field == &ChenPoint::energy ? "energy distance" : "nats";
    std::vector<double> x, y, mx, my;
    for (std::size_t i = 0; i < arms.size(); ++i) {
      for (Index k = 0; k < seeds_; ++k)
        if (const ChenPoint* pt = point(values, k, target, arms[i]); pt && std::isfinite(pt->*q.field)) {
          x.push_back(static_cast<double>(i + 1)), y.push_back(pt->*q.field);
        }
      if (const Spread sp = over_seeds(values, target, arms[i], q.field); sp.count > 0 && std::isfinite(sp.mean))
        mx.push_back(static_cast<double>(i + 1)), my.push_back(sp.mean);
    }
    if (x.empty()) continue;
    p.series = {Series::points("seeds", x, y), Series::line_points("mean", mx, my)};
    panels.panels.push_back(std::move(p));
  }
  panels.rows = static_cast<int>((panels.panels.size() + 1) / 2);
  out.plot(fmt::format("arms_{}", name), std::move(panels));
  // Where the learned T goes.
  for (const Arm& a : arms) {
    if (a.arm != ChenArm::Joint) continue;
    PlotSpec path;
    path.title = fmt::format("{}: T learned jointly with the network, per seed", name);
    path.xlabel = "training step";
    path.ylabel = "T";
    for (Index k = 0; k < seeds_; ++k) {
      const ChenPoint* pt = point(values, k, target, a);
      if (!pt || pt->T_path.empty()) continue;
      std::vector<double> steps;
      for (std::size_t j = 0; j + 1 < pt->T_path.size(); ++j)
        steps.push_back(static_cast<double>(j * static_cast<std::size_t>(ChenPoint::kPathEvery)));
      steps.push_back(static_cast<double>(s_.steps));
      path.series.push_back(Series::line(fmt::format("seed {}", k), steps, pt->T_path));
    }
    if (!path.series.empty()) out.plot(fmt::format("learned_T_{}", name), std::move(path));
  }
}

void ChenRegularizedStudy::report(const std::vector<TaskValue>& values, RunWriter& out) const {
  write_metrics(values, out);
  Table arms({"target", "arm", "T (final)", "bound", "exact KL", "test NLL", "KDE-KL", "energy distance", "sm_loss",
              "L"});
  Table diffs({"target", "arm", "quantity", "arm − baseline", "seeds", "significant (95%)"});
  Json targets = Json::array();
  for (ChenTarget target : s_.targets) {
    targets.push_back({{"target", enum_name(target)},
                       {"arms", arm_rows(values, target, arms)},
                       {"differences", differences(values, target, diffs)}});
    add_plots(values, target, out);
  }
  const std::vector<std::string> failed = failures(values);
  const auto& r = s_.regularized;
  out.json("summary.json", {{"experiment", "chen-regularized"},
                            {"seeds", seeds_},
                            {"bound_preset", enum_name(s_.preset)},
                            {"R", s_.R},
                            {"lambda", r.lambda},
                            {"baseline", {{"arm", "plain"}, {"T", r.baseline_T}}},
                            {"steps", s_.steps},
                            {"m", s_.m_values.front()},
                            {"targets", targets},
                            {"failures", failed}});
  out.render_plots();
  const Arm baseline{ChenArm::Plain, r.baseline_T};
  out.report(report_template("chen-regularized"),
             {{"seeds", seeds_}, {"plural", seeds_ > 1 ? "s" : ""}, {"steps", s_.steps}, {"lr", format_double(s_.lr)},
              {"R", format_double(s_.R)}, {"lambda", format_double(r.lambda)}, {"m", s_.m_values.front()},
              {"T_lr", format_double(r.T_lr)}, {"T_lo", format_double(r.T_range[0])},
              {"T_hi", format_double(r.T_range[1])}, {"baseline", baseline.label()}, {"arms", arms.to_markdown()},
              {"differences", diffs.to_markdown()}});
  out.terminal(arms.to_text() + "\n" + diffs.to_text() + "\n");
  if (!failed.empty())
    out.fail(fmt::format("{} of {} points failed; the first: {}", failed.size(), values.size(), failed.front()));
}

class ChenRegularizedExperiment final : public Experiment {
 public:
  std::string name() const override { return "chen-regularized"; }
  std::string purpose() const override {
    return "Chen et al. 2025: the bound integrated into training (a score-norm penalty; T learned jointly) against "
           "plain training at the bound's chosen T and at T = 1, paired over seeds";
  }
  Schema keys() const override {
    Schema s;
    chen_options().declare(s, defaults());
    chen_regularized_options().declare(s, defaults());
    return s;
  }
  std::unique_ptr<Study> plan(const Config& config, Index seeds) const override {
    ChenSettings s = chen_settings(config, defaults());
    s = chen_regularized_options().read(config, std::move(s));
    check_regularization(s);
    return std::make_unique<ChenRegularizedStudy>(std::move(s), seeds);
  }

 private:
  // T = 0.6 is where the bound is lowest in chen-t-sweep (5 seeds, both
  // targets, docs/results/chen-t-sweep-5-seeds); T = 1 is the usual horizon.
  static ChenSettings defaults() {
    ChenSettings s;
    s.T_values = {0.6, 1.0};
    return s;
  }
};

}  // namespace

std::unique_ptr<Experiment> make_chen_regularized_experiment() {
  return std::make_unique<ChenRegularizedExperiment>();
}

}  // namespace diffgen
