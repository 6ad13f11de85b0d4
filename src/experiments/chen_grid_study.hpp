// The plan shared by the Chen2025 toy experiments (chen-t-sweep,
// chen-m-sweep, chen-regularized): one kept task per (seed, target, m, T,
// training arm), each a ChenPoint (experiments/chen_study.hpp). The sweeps
// plan every (seed, target, m, T) without an arm; the experiments differ in
// their plan and report.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/chen_study.hpp"
#include "experiments/experiment.hpp"
#include "numerics/statistics.hpp"

namespace diffgen {

// The test errors the bound is compared with, in report order.
struct ChenTestMetric {
  const char* name;
  const char* label;
  double ChenPoint::*field;
};
const std::vector<ChenTestMetric>& chen_test_metrics();

class ChenGridStudy : public Study {
 public:
  // Every (seed, target, m, T) of the settings, trained on the denoising loss.
  ChenGridStudy(ChenSettings s, Index seeds);
  const std::vector<TaskInfo>& tasks() const override { return tasks_; }
  TaskValue run_task(Index task, const TaskContext& context) const override;
  Json encode(Index task, const TaskValue& value) const override;
  TaskValue decode(Index task, const Json& json) const override;
  SeedTable seed_table(const std::vector<TaskValue>& values, Index k) const override;

 protected:
  struct Point {
    Index seed;
    ChenTarget target;
    Index m;
    double T;
    std::optional<ChenArm> arm;
  };
  // Exactly these points.
  ChenGridStudy(ChenSettings s, Index seeds, const std::vector<Point>& points);
  // The seed's point at (target, m, T, arm); nullptr when it is not planned or failed.
  const ChenPoint* at(const std::vector<TaskValue>& values, Index seed, ChenTarget target, Index m, double T,
                      std::optional<ChenArm> arm = std::nullopt) const;
  // f over the seeds' completed points at (target, m, T).
  Spread spread_at(const std::vector<TaskValue>& values, ChenTarget target, Index m, double T,
                   const std::function<double(const ChenPoint&)>& f) const;
  // metrics.csv: one row per point, every column of chen_columns() (and the arm, when planned).
  void write_metrics(const std::vector<TaskValue>& values, RunWriter& out) const;
  // Every failed point's reason, in plan order.
  std::vector<std::string> failures(const std::vector<TaskValue>& values) const;

  ChenSettings s_;
  Index seeds_;
  std::vector<Point> points_;
  std::vector<TaskInfo> tasks_;
};

// The index of the smallest finite value; -1 when none.
Index argmin_finite(const std::vector<double>& v);

}  // namespace diffgen
