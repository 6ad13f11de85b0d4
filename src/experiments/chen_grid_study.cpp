// The shared plan of the Chen2025 toy experiments (chen_grid_study.hpp).
// Tested by chen_study_test.cpp.
#include "experiments/chen_grid_study.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/io.hpp"

namespace diffgen {

const std::vector<ChenTestMetric>& chen_test_metrics() {
  static const std::vector<ChenTestMetric> metrics{{"exact_kl", "exact KL(p_0 ‖ p_θ)", &ChenPoint::exact_kl},
                                                   {"test_nll", "test NLL", &ChenPoint::nll},
                                                   {"kde_kl", "KDE-KL (authors')", &ChenPoint::kde_kl},
                                                   {"energy_distance", "energy distance", &ChenPoint::energy}};
  return metrics;
}

ChenGridStudy::ChenGridStudy(ChenSettings s, Index seeds)
    : ChenGridStudy(s, seeds, [&] {
        std::vector<Point> points;
        for (Index k = 0; k < seeds; ++k)
          for (ChenTarget target : s.targets)
            for (Index m : s.m_values)
              for (double T : s.T_values) points.push_back({k, target, m, T, std::nullopt});
        return points;
      }()) {}

ChenGridStudy::ChenGridStudy(ChenSettings s, Index seeds, const std::vector<Point>& points)
    : s_(std::move(s)), seeds_(seeds), points_(points) {
  for (const Point& p : points_) {
    const std::string arm = p.arm ? fmt::format("-{}", enum_name(*p.arm)) : "";
    // Training dominates: full-batch steps cost m each.
    tasks_.push_back({fmt::format("{}-m{}-T{}{}-seed-{}", enum_name(p.target), p.m, p.T, arm, p.seed),
                      static_cast<double>(p.m) * static_cast<double>(s_.steps), s_.steps + 1, {}, true,
                      "train, bound and test"});
  }
}

TaskValue ChenGridStudy::run_task(Index i, const TaskContext& context) const {
  const Point& p = points_[static_cast<std::size_t>(i)];
  return make_value(run_chen_point(s_, p.target, p.T, p.m, p.seed, context, p.arm));
}

Json ChenGridStudy::encode(Index, const TaskValue& value) const {
  return chen_point_to_json(value_as<ChenPoint>(value));
}

TaskValue ChenGridStudy::decode(Index, const Json& json) const {
  return make_value(chen_point_from_json(json));
}

SeedTable ChenGridStudy::seed_table(const std::vector<TaskValue>& values, Index k) const {
  SeedTable t;
  const bool arms = !points_.empty() && points_.front().arm.has_value();
  t.keys = {"target", "m", "T"};
  if (arms) t.keys.push_back("arm");
  for (const auto& c : chen_columns()) t.metrics.push_back(c.name);
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const Point& p = points_[i];
    if (p.seed != k) continue;
    const auto& v = value_as<ChenPoint>(values[i]);
    if (!v.failure.empty() && t.failure.empty()) t.failure = v.failure;
    t.key_values.push_back({std::string(enum_name(p.target)), std::to_string(p.m), format_double(p.T)});
    if (arms) t.key_values.back().push_back(std::string(p.arm ? enum_name(*p.arm) : ""));
    std::vector<double> row;
    for (const auto& c : chen_columns()) row.push_back(v.*(c.field));
    t.values.push_back(std::move(row));
  }
  return t;
}

const ChenPoint* ChenGridStudy::at(const std::vector<TaskValue>& values, Index seed, ChenTarget target, Index m,
                                   double T, std::optional<ChenArm> arm) const {
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const Point& p = points_[i];
    if (p.seed == seed && p.target == target && p.m == m && p.T == T && p.arm == arm) {
      const auto& v = value_as<ChenPoint>(values[i]);
      return v.failure.empty() ? &v : nullptr;
    }
  }
  return nullptr;
}

Spread ChenGridStudy::spread_at(const std::vector<TaskValue>& values, ChenTarget target, Index m, double T,
                                const std::function<double(const ChenPoint&)>& f) const {
  std::vector<double> v;
  for (Index k = 0; k < seeds_; ++k)
    if (const ChenPoint* p = at(values, k, target, m, T)) v.push_back(f(*p));
  return spread(v);
}

void ChenGridStudy::write_metrics(const std::vector<TaskValue>& values, RunWriter& out) const {
  const bool arms = !points_.empty() && points_.front().arm.has_value();
  std::vector<std::string> columns{"seed", "target", "m", "T"};
  if (arms) columns.push_back("arm");
  for (const auto& c : chen_columns()) columns.push_back(c.name);
  columns.push_back("failure");
  CsvTable csv(columns);
  for (const auto& c : chen_columns()) csv.allow_missing(c.name);
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const Point& p = points_[i];
    const auto& v = value_as<ChenPoint>(values[i]);
    std::vector<CsvCell> row{p.seed, std::string(enum_name(p.target)), p.m, p.T};
    if (arms) row.emplace_back(std::string(p.arm ? enum_name(*p.arm) : ""));
    for (const auto& c : chen_columns()) row.emplace_back(v.*(c.field));
    row.emplace_back(v.failure);
    csv.add_row(std::move(row));
  }
  out.csv("metrics.csv", csv);
}

std::vector<std::string> ChenGridStudy::failures(const std::vector<TaskValue>& values) const {
  std::vector<std::string> f;
  for (const auto& v : values)
    if (const auto& p = value_as<ChenPoint>(v); !p.failure.empty()) f.push_back(p.failure);
  return f;
}

Index argmin_finite(const std::vector<double>& v) {
  Index best = -1;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::isfinite(v[i]) && (best < 0 || v[i] < v[static_cast<std::size_t>(best)])) best = static_cast<Index>(i);
  return best;
}

}  // namespace diffgen
