// Running a sweep (experiments/sweep.hpp): every combination's plan on one
// engine run, then each point's table and their aggregates over seeds.
// Tested by sweep_test.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/io.hpp"
#include "experiments/sweep.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Rank 0: whether OUT holds this sweep already (resume) or nothing; refuses another sweep.
bool claim_out_dir(const SweepPlan& plan, const fs::path& out) {
  const std::string canonical = plan.canonical_text();
  const fs::path plan_file = out / "sweep.toml";
  std::error_code ec;
  if (fs::exists(plan_file, ec)) {
    if (read_text_file(plan_file) != canonical)
      throw ConfigError(fmt::format(
          "'{}' holds another sweep (its sweep.toml differs from this one): use a new --out, or resume it with "
          "`diffgen sweep {} --out {}`",
          out.string(), plan_file.string(), out.string()));
    return true;
  }
  write_file_atomic(plan_file, canonical);
  return false;
}

// Every combination's plan, its tasks renamed "cNNNN-KEY" and its needs shifted.
struct Combined {
  std::vector<std::unique_ptr<Study>> studies;
  std::vector<std::size_t> first;  // index of each combination's first task
  std::vector<TaskInfo> tasks;
  // The study and its own task index of combined task i.
  std::pair<const Study*, Index> locate(Index i) const {
    const auto it = std::upper_bound(first.begin(), first.end(), static_cast<std::size_t>(i));
    const std::size_t c = static_cast<std::size_t>(it - first.begin()) - 1;
    return {studies[c].get(), i - static_cast<Index>(first[c])};
  }
};

Combined combine(const SweepPlan& plan) {
  Combined all;
  for (Index c = 0; c < plan.num_combinations(); ++c) {
    all.studies.push_back(plan.experiment->plan(plan.config_of(c), plan.seeds));
    all.first.push_back(all.tasks.size());
    for (TaskInfo t : all.studies.back()->tasks()) {
      t.key = fmt::format("c{:04d}-{}", c, t.key);
      for (Index& j : t.needs) j += static_cast<Index>(all.first.back());
      all.tasks.push_back(std::move(t));
    }
  }
  return all;
}

}  // namespace

SweepSummary run_sweep(const SweepPlan& plan, const SweepOptions& options, Communicator& comm) {
  // Rank 0 checks the folder; every rank learns whether to resume.
  std::string verdict;
  if (comm.is_root()) {
    try {
      verdict = claim_out_dir(plan, options.out_dir) ? "resume" : "fresh";
    } catch (const ConfigError& e) {
      verdict = std::string("error:") + e.what();
    }
  }
  verdict = comm.broadcast(verdict);
  if (verdict.rfind("error:", 0) == 0) throw ConfigError(verdict.substr(6));
  const Combined all = combine(plan);
  EngineOptions engine;
  engine.out_dir = options.out_dir;
  engine.fingerprint = plan.canonical_text();
  engine.resume = verdict == "resume";
  engine.on_start = options.on_start;
  engine.on_progress = options.on_progress;
  engine.comm = &comm;
  const TaskCodec codec{[&](Index i, const TaskValue& v) {
                          const auto [study, j] = all.locate(i);
                          return study->encode(j, v);
                        },
                        [&](Index i, const Json& json) {
                          const auto [study, j] = all.locate(i);
                          return study->decode(j, json);
                        }};
  EngineReport report;
  const auto values = run_tasks(
      all.tasks,
      [&](Index i, const TaskContext& context) {
        const auto [study, j] = all.locate(i);
        // The study reads its needs by its own indices: hand it a context over its own tasks.
        const TaskContext own(&study->tasks(), context.values_from(static_cast<std::size_t>(i - j)), j,
                              context.checkpoint_file(), [&context](std::int64_t u) { context.progress(u); });
        return study->run_task(j, own);
      },
      codec, engine, &report);
  SweepSummary summary;
  summary.reused = report.reused;
  summary.computed = report.computed;
  for (const auto& t : all.tasks) summary.tasks += t.keep ? 1 : 0;
  if (!comm.is_root()) return summary;
  std::vector<SweepPoint> points;
  for (Index c = 0; c < plan.num_combinations(); ++c) {
    const auto& study = *all.studies[static_cast<std::size_t>(c)];
    const auto begin = values.begin() + static_cast<std::ptrdiff_t>(all.first[static_cast<std::size_t>(c)]);
    const std::vector<TaskValue> own(begin, begin + static_cast<std::ptrdiff_t>(study.tasks().size()));
    for (Index k = 0; k < plan.seeds; ++k) {
      points.push_back({c, k, study.seed_table(own, k)});
      summary.failed += points.back().table.failure.empty() ? 0 : 1;
    }
  }
  summary.outcome = write_sweep_outputs(plan, points, options.out_dir);
  return summary;
}

SweepAggregate aggregate_sweep(const SweepPlan& plan, std::vector<SweepPoint> points) {
  std::sort(points.begin(), points.end(), [](const SweepPoint& a, const SweepPoint& b) {
    return std::tie(a.combination, a.seed) < std::tie(b.combination, b.seed);
  });
  SweepAggregate agg;
  agg.failed_seeds.assign(static_cast<std::size_t>(plan.num_combinations()), 0);
  std::set<std::string> scalar_names;
  for (const auto& p : points) {
    if (agg.keys.empty() && agg.metrics.empty()) {
      agg.keys = p.table.keys;
      agg.metrics = p.table.metrics;
    } else if (p.table.keys != agg.keys || p.table.metrics != agg.metrics) {
      throw DataError(fmt::format("sweep point {} seed {} has other columns than the first point",
                                  plan.label(p.combination), p.seed));
    }
    for (const auto& [name, x] : p.table.scalars)
      if (scalar_names.insert(name).second) agg.scalars.push_back(name);
    if (!p.table.failure.empty()) ++agg.failed_seeds[static_cast<std::size_t>(p.combination)];
  }
  std::sort(agg.scalars.begin(), agg.scalars.end());
  for (std::size_t i = 0; i < points.size();) {
    std::size_t end = i;
    while (end < points.size() && points[end].combination == points[i].combination) ++end;
    const Index c = points[i].combination;
    // Metric values at each row key, over the seeds of this combination, in first-seen order.
    std::vector<std::vector<std::string>> order;
    std::map<std::vector<std::string>, std::vector<std::vector<double>>> at;  // key -> metric -> values
    for (std::size_t q = i; q < end; ++q)
      for (std::size_t r = 0; r < points[q].table.values.size(); ++r) {
        const auto& key = points[q].table.key_values[r];
        auto [it, fresh] = at.try_emplace(key, agg.metrics.size());
        if (fresh) order.push_back(key);
        for (std::size_t m = 0; m < agg.metrics.size(); ++m) it->second[m].push_back(points[q].table.values[r][m]);
      }
    for (const auto& key : order)
      for (std::size_t m = 0; m < agg.metrics.size(); ++m)
        agg.curves.push_back({c, key, agg.metrics[m], spread(at[key][m])});
    for (const auto& name : agg.scalars) {
      std::vector<double> values;
      for (std::size_t q = i; q < end; ++q) {
        const auto it = points[q].table.scalars.find(name);
        values.push_back(it == points[q].table.scalars.end() ? kNaN : it->second);
      }
      agg.scalar_spreads.push_back({c, name, spread(values)});
    }
    i = end;
  }
  return agg;
}

}  // namespace diffgen
