#include "experiments/early_stopping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <system_error>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/io.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "experiments/aggregate.hpp"
#include "experiments/checkpoint.hpp"
#include "experiments/training_study.hpp"
#include "report/plot.hpp"
#include "report/table.hpp"

namespace diffgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Json = nlohmann::json;

// What one seed says about one KL definition: the minimum along training,
// where it was reached, and the value at the end.
struct CurveFacts {
  double min = kNaN;
  Index epoch_of_min = -1;
  double final = kNaN;
};

CurveFacts curve_facts(const std::vector<StudyRow>& rows, double StudyRow::*metric) {
  CurveFacts f;
  for (const auto& r : rows) {
    const double v = r.*metric;
    if (!std::isfinite(v)) continue;
    if (!std::isfinite(f.min) || v < f.min) {
      f.min = v;
      f.epoch_of_min = r.epoch;
    }
    f.final = v;
  }
  return f;
}

// Per evaluated epoch, the spread of a metric over the seeds that reached it.
struct CurvePoint {
  Index epoch;
  Spread spread;
};

std::vector<CurvePoint> mean_curve(const std::vector<SeedResult>& seeds, double StudyRow::*metric) {
  Index longest = 0;
  for (const auto& s : seeds) longest = std::max<Index>(longest, static_cast<Index>(s.rows.size()));
  std::vector<CurvePoint> curve;
  for (Index i = 0; i < longest; ++i) {
    std::vector<double> values;
    Index epoch = -1;
    for (const auto& s : seeds)
      if (i < static_cast<Index>(s.rows.size())) {
        values.push_back(s.rows[i].*metric);
        epoch = s.rows[i].epoch;
      }
    const Spread sp = spread(values);
    if (sp.count > 0) curve.push_back({epoch, sp});
  }
  return curve;
}

// A seed curve as plot columns: epoch, mean, and the range over seeds.
struct CurveColumns {
  std::vector<double> x, y, lo, hi;
};

CurveColumns curve_columns(const std::vector<CurvePoint>& curve) {
  CurveColumns c;
  for (const auto& p : curve) {
    c.x.push_back(static_cast<double>(p.epoch));
    c.y.push_back(p.spread.mean);
    c.lo.push_back(p.spread.min);
    c.hi.push_back(p.spread.max);
  }
  return c;
}

Json spread_json(const Spread& s) {
  if (s.count == 0) return Json{{"count", 0}, {"mean", nullptr}};
  return Json{{"count", s.count}, {"mean", s.mean}, {"sd", s.sd}, {"ci95", s.ci95}, {"min", s.min}, {"max", s.max}};
}

std::vector<double> facts_field(const std::vector<CurveFacts>& f, double CurveFacts::*field) {
  std::vector<double> v;
  for (const auto& x : f) v.push_back(x.*field);
  return v;
}

Json definition_json(const std::vector<SeedResult>& seeds, double StudyRow::*metric, const std::string& what) {
  std::vector<CurveFacts> facts;
  for (const auto& s : seeds) facts.push_back(curve_facts(s.rows, metric));
  std::vector<double> epochs;
  for (const auto& f : facts) epochs.push_back(f.epoch_of_min >= 0 ? static_cast<double>(f.epoch_of_min) : kNaN);
  Json j{{"definition", what},
         {"min", spread_json(spread(facts_field(facts, &CurveFacts::min)))},
         {"epoch_of_min", spread_json(spread(epochs))},
         {"final", spread_json(spread(facts_field(facts, &CurveFacts::final)))}};
  // The minimum of the seed-mean curve: the early-stopping point a reader of the plot sees.
  const auto curve = mean_curve(seeds, metric);
  const auto best = std::min_element(curve.begin(), curve.end(), [](const CurvePoint& a, const CurvePoint& b) {
    return a.spread.mean < b.spread.mean;
  });
  if (best != curve.end()) {
    j["mean_curve"] = {{"min", best->spread.mean},
                       {"epoch_of_min", best->epoch},
                       {"final", curve.back().spread.mean},
                       {"final_epoch", curve.back().epoch}};
  }
  Json per_seed = Json::array();
  for (std::size_t k = 0; k < facts.size(); ++k) {
    Json e{{"seed", seeds[k].seed_index}};
    e["min"] = std::isfinite(facts[k].min) ? Json(facts[k].min) : Json(nullptr);
    e["epoch_of_min"] = facts[k].epoch_of_min >= 0 ? Json(facts[k].epoch_of_min) : Json(nullptr);
    e["final"] = std::isfinite(facts[k].final) ? Json(facts[k].final) : Json(nullptr);
    per_seed.push_back(e);
  }
  j["per_seed"] = per_seed;
  return j;
}

Spread floor_spread(const std::vector<SeedResult>& seeds, double OracleFloors::*field) {
  std::vector<double> v;
  for (const auto& s : seeds) v.push_back(s.floors.*field);
  return spread(v);
}

std::string pm(const Spread& s, int digits = 3) {
  if (s.count == 0) return "-";
  if (s.count < 2) return format_significant(s.mean, digits);
  return format_significant(s.mean, digits) + " ± " + format_significant(s.sd, 2);
}

void write_metrics(const std::vector<SeedResult>& seeds, const std::filesystem::path& dir) {
  CsvTable t({"seed", "epoch", "steps", "train_loss", "kl_a", "kl_b", "memorized_fraction", "nn_distance"});
  // Missing means "not evaluated at this epoch" (KL (b) every kl_ode.every
  // epochs, no training loss before the first epoch, no KL without a target).
  for (const char* c : {"train_loss", "kl_a", "kl_b", "memorized_fraction", "nn_distance"}) t.allow_missing(c);
  for (const auto& s : seeds)
    for (const auto& r : s.rows)
      t.add_row({s.seed_index, r.epoch, r.steps, r.train_loss, r.kl_a, r.kl_b, r.memorized_fraction, r.nn_distance});
  t.write(dir / "metrics.csv");
}

void write_densities(const std::vector<SeedResult>& seeds, const std::filesystem::path& dir) {
  CsvTable t({"seed", "epoch", "definition", "x", "target_density", "learned_density"});
  for (const auto& s : seeds)
    for (const auto& snap : s.snapshots) {
      // Every node of the (b) grid; the fine (a) grid thinned to at most ~600 nodes.
      const Index stride = std::max<Index>(1, (snap.x.size() - 1) / 600);
      for (Index i = 0; i < snap.x.size(); i += stride)
        t.add_row({s.seed_index, snap.epoch, "score-integrated", snap.x[i], std::exp(snap.log_p[i]),
                   std::exp(snap.log_q_a[i])});
      for (Index i = 0; i < snap.x_b.size(); ++i) {
        // The reference density at the (b) nodes, from the (a) grid when they coincide.
        const double h = snap.x[1] - snap.x[0];
        const Index j = static_cast<Index>(std::llround((snap.x_b[i] - snap.x[0]) / h));
        const double p =
            (j >= 0 && j < snap.x.size() && std::abs(snap.x[j] - snap.x_b[i]) < 1e-9 * (1 + std::abs(snap.x_b[i])))
                ? std::exp(snap.log_p[j])
                : kNaN;
        t.add_row({s.seed_index, snap.epoch, "pf-ode", snap.x_b[i], CsvCell::finite_or_missing(p),
                   std::exp(snap.log_q_b[i])});
      }
    }
  t.write(dir / "densities.csv");
}

std::vector<double> to_std(const Vector& v) {
  return std::vector<double>(v.data(), v.data() + v.size());
}

// Renders one plot; a plotting failure is reported and the run's other outputs stand.
bool try_render(const auto& spec, const std::filesystem::path& png, std::vector<std::string>& warnings) {
  try {
    render_png(spec, png);
    return true;
  } catch (const std::exception& e) {
    warnings.push_back(fmt::format("plot {} not written: {}", png.filename().string(), e.what()));
    return false;
  }
}

std::vector<std::string> write_plots(const std::vector<SeedResult>& seeds, const TrainingStudySettings& s,
                                     const std::filesystem::path& dir, std::vector<std::string>& warnings) {
  std::vector<std::string> written;
  std::filesystem::create_directories(dir / "plots");
  const bool several = seeds.size() > 1;

  // KL against epoch, the seeds' range as a band, the oracle floors as lines.
  if (s.has_target()) {
    PlotSpec p;
    p.title = fmt::format("KL(target || learned) along training ({} seed{})", seeds.size(), several ? "s" : "");
    p.xlabel = "epoch";
    p.ylabel = "KL";
    p.logy = true;
    const auto a = mean_curve(seeds, &StudyRow::kl_a);
    const auto [x, y, lo, hi] = curve_columns(a);
    if (several) p.series.push_back(Series::band("(a) range over seeds", x, lo, hi));
    p.series.push_back(Series::line(fmt::format("(a) score-integrated, t0 = {}", s.kl.t0), x, y));
    const auto b = mean_curve(seeds, &StudyRow::kl_b);
    if (!b.empty()) {
      std::vector<double> xb, yb;
      for (const auto& c : b) {
        xb.push_back(static_cast<double>(c.epoch));
        yb.push_back(c.spread.mean);
      }
      p.series.push_back(Series::line_points("(b) PF-ODE density", xb, yb));
    }
    // A log axis fitted to the data and the floors (gnuplot's own rounds out to whole decades and beyond).
    double y_lo = std::min(floor_spread(seeds, &OracleFloors::population_a).mean,
                           floor_spread(seeds, &OracleFloors::empirical_a).mean);
    double y_hi = y_lo;
    for (const auto& sr : p.series)
      for (const auto* v : {&sr.y, &sr.lo, &sr.hi})
        for (double y : *v)
          if (std::isfinite(y) && y > 0) {
            y_lo = std::min(y_lo, y);
            y_hi = std::max(y_hi, y);
          }
    if (std::isfinite(y_lo) && y_lo > 0) p.yrange = std::pair{y_lo / 2, y_hi * 3};
    p.series.push_back(
        Series::hline(fmt::format("population oracle (a) {}",
                                  format_significant(floor_spread(seeds, &OracleFloors::population_a).mean, 3)),
                      floor_spread(seeds, &OracleFloors::population_a).mean));
    auto emp = Series::hline(fmt::format("empirical oracle (a) {}",
                                         format_significant(floor_spread(seeds, &OracleFloors::empirical_a).mean, 3)),
                             floor_spread(seeds, &OracleFloors::empirical_a).mean);
    emp.color = "dark-red";
    p.series.push_back(emp);
    if (try_render(p, dir / "plots" / "kl.png", warnings)) written.push_back("plots/kl.png");
  }

  // Learned densities over the target at several epochs (seed 0), like Li2023 Fig. 4.
  if (!seeds.empty() && !seeds[0].snapshots.empty()) {
    const auto& snaps = seeds[0].snapshots;
    PanelGrid g;
    g.title = "learned densities over the target (seed 0)";
    g.cols = std::min<int>(3, static_cast<int>(snaps.size()));
    g.rows = static_cast<int>((snaps.size() + g.cols - 1) / g.cols);
    for (const auto& snap : snaps) {
      PlotSpec p;
      p.title = fmt::format("epoch {}", snap.epoch);
      p.xlabel = "x";
      p.ylabel = "density";
      p.xrange = std::pair{-(s.target_mu + 4 * std::sqrt(s.target_var)), s.target_mu + 4 * std::sqrt(s.target_var)};
      p.key = snap.epoch == snaps.front().epoch ? "top right" : "off";
      auto target = Series::line("target", to_std(snap.x), to_std(snap.log_p.array().exp()));
      target.color = "black";
      p.series.push_back(target);
      p.series.push_back(Series::line("(a)", to_std(snap.x), to_std(snap.log_q_a.array().exp())));
      if (snap.x_b.size() > 0)
        p.series.push_back(Series::line("(b) PF-ODE", to_std(snap.x_b), to_std(snap.log_q_b.array().exp())));
      g.panels.push_back(p);
    }
    if (try_render(g, dir / "plots" / "densities.png", warnings)) written.push_back("plots/densities.png");
  }

  // Memorization of generated samples.
  if (const auto m = mean_curve(seeds, &StudyRow::memorized_fraction); !m.empty()) {
    PlotSpec p;
    p.title = fmt::format("generated samples that copy a training point (ratio < {})",
                          format_significant(s.memorization.ratio_threshold, 3));
    p.xlabel = "epoch";
    p.ylabel = "memorized fraction";
    const auto [x, y, lo, hi] = curve_columns(m);
    if (several) p.series.push_back(Series::band("range over seeds", x, lo, hi));
    p.series.push_back(Series::line_points("mean", x, y));
    if (try_render(p, dir / "plots" / "memorization.png", warnings)) written.push_back("plots/memorization.png");
  }

  // Training loss.
  {
    PlotSpec p;
    p.title = "denoising loss (epoch mean)";
    p.xlabel = "epoch";
    p.ylabel = "loss";
    const auto [x, y, lo, hi] = curve_columns(mean_curve(seeds, &StudyRow::train_loss));
    if (!x.empty()) {
      if (several) p.series.push_back(Series::band("range over seeds", x, lo, hi));
      p.series.push_back(Series::line("mean", x, y));
      if (try_render(p, dir / "plots" / "loss.png", warnings)) written.push_back("plots/loss.png");
    }
  }
  return written;
}

// The table of results against epoch: every `every` epochs, the last, and the
// epoch of the KL (a) mean curve's minimum; a column for each measure taken.
Table results_table(const std::vector<SeedResult>& seeds, Index every) {
  const auto a = mean_curve(seeds, &StudyRow::kl_a);
  const auto b = mean_curve(seeds, &StudyRow::kl_b);
  const auto mem = mean_curve(seeds, &StudyRow::memorized_fraction);
  const auto loss = mean_curve(seeds, &StudyRow::train_loss);
  Index best = -1;
  double best_v = kNaN;
  for (const auto& c : a)
    if (!std::isfinite(best_v) || c.spread.mean < best_v) {
      best_v = c.spread.mean;
      best = c.epoch;
    }
  auto find = [](const std::vector<CurvePoint>& curve, Index epoch) -> const Spread* {
    for (const auto& c : curve)
      if (c.epoch == epoch) return &c.spread;
    return nullptr;
  };
  const bool several = seeds.size() > 1;
  struct Column {
    const char* name;
    const std::vector<CurvePoint>* curve;
    bool with_sd;
  };
  std::vector<Column> columns;
  if (!a.empty()) columns.push_back({"KL (a)", &a, several});
  if (!b.empty()) columns.push_back({"KL (b)", &b, several});
  if (!mem.empty()) columns.push_back({"memorized", &mem, false});
  columns.push_back({"train loss", &loss, false});
  std::vector<std::string> header{"epoch"};
  for (const auto& c : columns) {
    header.push_back(c.name);
    if (c.with_sd) header.push_back("± sd");
  }
  header.push_back("");
  Table t(header);
  // The epochs of the longest seed: every measure is taken on a subset of them.
  const SeedResult* longest = nullptr;
  for (const auto& sr : seeds)
    if (!longest || sr.rows.size() > longest->rows.size()) longest = &sr;
  if (!longest) return t;
  for (const auto& r : longest->rows) {
    const bool last = &r == &longest->rows.back();
    if (!(r.epoch % every == 0 || last || r.epoch == best)) continue;
    std::vector<TableCell> row{r.epoch};
    bool any = false;
    for (const auto& c : columns) {
      const Spread* sp = find(*c.curve, r.epoch);
      any = any || (sp && c.curve != &loss);
      row.push_back(sp ? TableCell(sp->mean) : TableCell(""));
      if (c.with_sd) row.push_back(sp ? TableCell(sp->sd) : TableCell(""));
    }
    if (!any && !last && r.epoch != 0) continue;
    row.push_back(r.epoch == best ? "<- min (a)" : "");
    t.add_row(std::move(row));
  }
  return t;
}

std::string headline(const Json& def, const char* label) {
  if (!def.contains("mean_curve")) return fmt::format("{}: not evaluated", label);
  const auto& m = def["mean_curve"];
  return fmt::format("{}: minimum {} at epoch {}, final {} at epoch {}", label,
                     format_significant(m["min"].get<double>(), 4), m["epoch_of_min"].get<Index>(),
                     format_significant(m["final"].get<double>(), 4), m["final_epoch"].get<Index>());
}

// Checkpoint files (seed-K.bin) and the temporary files a kill during a save
// leaves beside them (write_file_atomic's ".seed-K.bin.tmp.PID.N").
void remove_checkpoint_files(const std::filesystem::path& dir, bool checkpoints_too) {
  static const std::regex kCheckpoint(R"(seed-[0-9]+\.bin)"), kTemporary(R"(\.seed-[0-9]+\.bin\.tmp\..*)");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "checkpoints", ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, kTemporary) || (checkpoints_too && std::regex_match(name, kCheckpoint)))
      std::filesystem::remove(entry.path(), ec);
  }
}

// Each seed's checkpoint, checked against this run's settings before any work
// starts; a seed without one starts from scratch.
std::vector<std::optional<StudyCheckpoint>> load_checkpoints(const std::string& experiment, const Config& config,
                                                             const TrainingStudySettings& settings,
                                                             const std::filesystem::path& dir, Index K) {
  std::vector<std::optional<StudyCheckpoint>> loaded(K);
  for (Index k = 0; k < K; ++k) {
    const auto file = checkpoint_path(dir, k);
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) continue;
    StudyCheckpoint c = load_checkpoint(file);
    check_checkpoint_matches(c, file, experiment, config, K, k);
    check_resumable(c, settings, file);
    loaded[k] = std::move(c);
  }
  return loaded;
}

std::string signal_text(int sig) {
  if (sig == SIGINT) return "by Ctrl-C (SIGINT)";
  if (sig == SIGTERM) return "by SIGTERM";
  return "on request";
}

}  // namespace

Schema EarlyStoppingExperiment::schema() const {
  Schema s;
  add_training_study_keys(s);
  return s;
}

void EarlyStoppingExperiment::validate(const Config& config) const {
  TrainingStudySettings::from_config(config);
}

void EarlyStoppingExperiment::run(const Config& config, const RunOptions& options) const {
  const auto wall_start = std::chrono::steady_clock::now();
  const TrainingStudySettings settings = TrainingStudySettings::from_config(config);
  const auto& dir = options.out_dir;
  const Index K = options.seeds;

  // A resume continues from the checkpoints (all checked before any work); a
  // fresh run drops any left in the folder by an earlier run.
  std::vector<std::optional<StudyCheckpoint>> resume(K);
  if (options.resume) {
    remove_checkpoint_files(dir, false);
    resume = load_checkpoints(name(), config, settings, dir, K);
  } else {
    remove_checkpoint_files(dir, true);
  }
  const std::string config_toml = config.to_toml();

  // Seeds are independent: run them on all cores. Inside a seed the work is
  // sequential, so results do not depend on the thread count.
  std::vector<SeedResult> seeds(K);
  ProgressBar bar(fmt::format("{} ({} seed{})", name(), K, K > 1 ? "s" : ""), K * training_study_work(settings),
                  options.progress && !options.quiet);
  parallel_tasks(K, [&](Index k) {
    StudyCheckpointing checkpointing{checkpoint_path(dir, k), name(), config_toml, K, std::move(resume[k])};
    seeds[k] = run_training_study(
        settings, k, [&](Index units) { bar.add(units); }, std::move(checkpointing));
  });
  bar.finish();

  // A stop request: every started seed has saved its state; the outputs need
  // all seeds, so they are left to the resumed run.
  Index saved = 0, interrupted = 0;
  for (const auto& s : seeds) {
    interrupted += s.interrupted ? 1 : 0;
    std::error_code ec;
    saved += std::filesystem::exists(checkpoint_path(dir, s.seed_index), ec) ? 1 : 0;
  }
  if (interrupted > 0)
    throw Interrupted(
        fmt::format("{} interrupted {} with {} of {} seed{} unfinished; checkpoints of {} seed{} are in {}", name(),
                    signal_text(interrupt_signal()), interrupted, K, K > 1 ? "s" : "", saved, saved == 1 ? "" : "s",
                    (dir / "checkpoints").string()));

  // Outputs, all written before any failure is reported.
  std::vector<std::string> warnings;
  write_metrics(seeds, dir);
  if (settings.has_target()) write_densities(seeds, dir);

  Json failures = Json::array();
  for (const auto& s : seeds)
    if (s.failure) failures.push_back({{"seed", s.seed_index}, {"epoch", s.failed_epoch}, {"message", *s.failure}});

  const std::string def_a =
      fmt::format("score-integrated density at t0 = {} ({}), against {} target", settings.kl.t0, settings.kl.method,
                  settings.kl.reference == "clean" ? "the clean" : "the smoothed");
  const std::string def_b = fmt::format("PF-ODE density at eps = {} (RK45, rtol {}, {} prior), against {} target",
                                        settings.kl_ode.ode.eps, settings.kl_ode.ode.rtol, settings.kl_ode.prior,
                                        settings.kl_ode.reference == "clean" ? "the clean" : "the smoothed");
  const bool exact = settings.has_target();
  const bool with_b = exact && settings.kl_ode_every > 0;
  const std::string no_kl = fmt::format(
      "not computed: the training data come from data.file = '{}', which has no exact density to measure KL "
      "against; the training loss and (with memorization.every > 0) the memorization of generated samples are "
      "reported instead",
      settings.data_file);
  const Index n = exact ? settings.n : settings.data->rows();
  Json summary{{"experiment", name()}, {"seeds", K}, {"epochs", settings.epochs}, {"n", n}};
  if (!exact) summary["data_file"] = settings.data_file;
  if (exact) {
    summary["kl_a"] = definition_json(seeds, &StudyRow::kl_a, def_a);
    summary["floors"] = {
        {"population_a", spread_json(floor_spread(seeds, &OracleFloors::population_a))},
        {"empirical_a", spread_json(floor_spread(seeds, &OracleFloors::empirical_a))},
    };
  } else {
    summary["kl"] = no_kl;
  }
  if (with_b) summary["kl_b"] = definition_json(seeds, &StudyRow::kl_b, def_b);
  Spread memorized_final;  // the memorized fraction at the last epoch, over seeds
  if (settings.memorization_every > 0) {
    std::vector<double> fraction, distance;
    for (const auto& sr : seeds) {
      fraction.push_back(curve_facts(sr.rows, &StudyRow::memorized_fraction).final);
      distance.push_back(curve_facts(sr.rows, &StudyRow::nn_distance).final);
    }
    summary["memorization"] = {
        {"definition", fmt::format("fraction of {} reverse-SDE samples ({} Euler–Maruyama steps) whose nearest "
                                   "training point is over {} times closer than the second nearest",
                                   settings.memorization_samples, settings.memorization_steps,
                                   format_significant(1.0 / settings.memorization.ratio_threshold, 3))},
        {"final_fraction", spread_json(memorized_final = spread(fraction))},
        {"final_mean_nn_distance", spread_json(spread(distance))}};
  }
  if (with_b) {
    summary["floors"]["population_b"] = spread_json(floor_spread(seeds, &OracleFloors::population_b));
    summary["floors"]["empirical_b"] = spread_json(floor_spread(seeds, &OracleFloors::empirical_b));
  }
  // Wall-clock times go to timing.json: they differ from run to run, and every
  // other output is bit-identical across repeats, thread counts and resumes.
  StudyDiagnostics worst;
  double train_s = 0, kl_a_s = 0, kl_b_s = 0, floors_s = 0, memorization_s = 0;
  for (const auto& s : seeds) {
    const auto& d = s.diagnostics;
    worst.max_target_mass_outside = std::max(worst.max_target_mass_outside, d.max_target_mass_outside);
    worst.max_quadrature_error_a = std::max(worst.max_quadrature_error_a, d.max_quadrature_error_a);
    worst.max_quadrature_error_b = std::max(worst.max_quadrature_error_b, d.max_quadrature_error_b);
    worst.ode_steps += d.ode_steps;
    worst.ode_rejected_steps += d.ode_rejected_steps;
    train_s += d.train_seconds;
    kl_a_s += d.kl_a_seconds;
    kl_b_s += d.kl_b_seconds;
    floors_s += d.floors_seconds;
    memorization_s += d.memorization_seconds;
  }
  summary["diagnostics"] = {{"max_target_mass_outside_grid", worst.max_target_mass_outside},
                            {"max_quadrature_error_a", worst.max_quadrature_error_a},
                            {"max_quadrature_error_b", worst.max_quadrature_error_b},
                            {"ode_steps", worst.ode_steps},
                            {"ode_rejected_steps", worst.ode_rejected_steps}};
  summary["failures"] = failures;

  const Index table_every = with_b ? settings.kl_ode_every
                            : !exact && settings.memorization_every > 0
                                ? settings.memorization_every
                                : std::max<Index>(settings.kl_every, std::max<Index>(1, settings.epochs / 20));
  const Table table = results_table(seeds, table_every);
  const auto plots = write_plots(seeds, settings, dir, warnings);
  summary["warnings"] = warnings;
  write_json_atomic(dir / "summary.json", summary);

  // report.md: what was run, the numbers, the plots, and how to read them.
  const Spread pa = floor_spread(seeds, &OracleFloors::population_a),
               ea = floor_spread(seeds, &OracleFloors::empirical_a);
  std::string md;
  md += "# early-stopping: KL(target ‖ learned) along training\n\n";
  if (!exact)
    md += fmt::format("**Training data from {} ({} points, d = {}).** KL {}.{}\n\n", settings.data_file, n,
                      settings.dim(), no_kl,
                      settings.memorization_every > 0 ? ""
                                                      : " Memorization is off: set memorization.every (e.g. 100) "
                                                        "to measure it.");
  if (exact)
    md += fmt::format(
        "Li et al. (2023), §4.1.1 and Fig. 3. A score network ({}, {} hidden units) is trained by {} (lr {}, batch {}) "
        "on n = {} samples of ½N(−{}, {}) + ½N({}, {}) under the {} SDE for {} epochs, {} seed{}. The KL divergence "
        "from the target to the learned distribution is measured along training with two definitions of the learned "
        "density:\n\n",
        settings.model, settings.mlp.hidden, settings.trainer.optimizer.name, settings.trainer.optimizer.lr,
        settings.trainer.batch_size, settings.n, settings.target_mu, settings.target_var, settings.target_mu,
        settings.target_var, settings.sde.kind, settings.epochs, K, K > 1 ? "s" : "");
  if (exact) md += fmt::format("- **(a)** {}, every {} epochs;\n", def_a, settings.kl_every);
  if (with_b) md += fmt::format("- **(b)** {}, every {} epochs.\n", def_b, settings.kl_ode_every);
  if (settings.memorization_every > 0)
    md += fmt::format("- **memorization**: {}, every {} epochs.\n",
                      summary["memorization"]["definition"].get<std::string>(), settings.memorization_every);
  md += "\n## Result\n\n";
  if (exact) md += "- " + headline(summary["kl_a"], "KL (a), seed mean") + "\n";
  if (with_b) md += "- " + headline(summary["kl_b"], "KL (b), seed mean") + "\n";
  if (settings.memorization_every > 0)
    md += fmt::format("- memorized fraction at the last epoch: {}\n", pm(memorized_final));
  if (exact)
    md += fmt::format(
        "- Oracle floors (a): population {} (a perfect learner: the smoothing floor), empirical {} (the "
        "memorized training set).\n",
        pm(pa), pm(ea));
  if (with_b)
    md += fmt::format(
        "- Oracle floors (b): population {}, empirical {} (the training set smoothed to eps; exact "
        "density).\n",
        pm(floor_spread(seeds, &OracleFloors::population_b)), pm(floor_spread(seeds, &OracleFloors::empirical_b)));
  md += "\n" + table.to_markdown() + "\n";
  for (const auto& p : plots) md += fmt::format("![{}]({})\n\n", p, p);
  if (exact)
    md +=
        "## How to read it\n\n"
        "Early in training the learned density misses the target (epoch 0 is the untrained network). KL falls as the "
        "network learns the two modes, reaches a minimum — the early-stopping point of Li2023 Theorem 1 — and then "
        "rises or oscillates as optimization noise and the drift toward the training set move the learned mode "
        "weights away from ½/½. The population-oracle line is the best any score can do at this t0 (smoothing "
        "alone); the empirical-oracle line is what a model that memorized the n training points would score. At "
        "t0 = 0.065 the two are close (THEORY.md §5), so a KL near them does not by itself tell generalization from "
        "memorization.\n\n";
  md += "## Diagnostics\n\n";
  if (exact)
    md += fmt::format(
        "- target mass outside the KL grid: {}\n- largest quadrature error estimate: "
        "(a) {}, (b) {}\n- PF-ODE steps: {} accepted, {} rejected\n",
        format_significant(worst.max_target_mass_outside, 2), format_significant(worst.max_quadrature_error_a, 2),
        format_significant(worst.max_quadrature_error_b, 2), worst.ode_steps, worst.ode_rejected_steps);
  md += "- wall-clock times: timing.json\n";
  for (const auto& w : warnings) md += "- warning: " + w + "\n";
  for (const auto& f : failures)
    md += fmt::format("- **seed {} stopped at epoch {}**: {}\n", f["seed"].get<Index>(), f["epoch"].get<Index>(),
                      f["message"].get<std::string>());
  md += fmt::format("\nReproduce: `diffgen run early-stopping --config config.toml --seeds {}`\n", K);
  write_file_atomic(dir / "report.md", md);

  Json resumed_from = Json::array();
  for (const auto& s : seeds)
    resumed_from.push_back(s.resumed_from_epoch >= 0 ? Json(s.resumed_from_epoch) : Json(nullptr));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  write_json_atomic(dir / "timing.json", Json{{"note",
                                               "wall-clock seconds of this invocation (a resumed run counts only "
                                               "what it did itself); training and KL times are summed over seeds"},
                                              {"threads", num_threads()},
                                              {"seconds_wall", wall_s},
                                              {"seconds_training", train_s},
                                              {"seconds_kl_a", kl_a_s},
                                              {"seconds_kl_b", kl_b_s},
                                              {"seconds_floors", floors_s},
                                              {"seconds_memorization", memorization_s},
                                              {"resumed_from_epoch", resumed_from}});

  if (!options.quiet) {
    std::printf("%s\n", table.to_text().c_str());
    if (exact) {
      std::printf("%s\n", headline(summary["kl_a"], "KL (a)").c_str());
      if (with_b) std::printf("%s\n", headline(summary["kl_b"], "KL (b)").c_str());
      std::printf("oracle floors (a): population %s, empirical %s\n", pm(pa).c_str(), pm(ea).c_str());
    } else {
      std::printf("KL %s\n", no_kl.c_str());
    }
    std::fflush(stdout);
  }
  for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  if (!failures.empty()) {
    const auto& f = failures[0];
    throw NumericalError(fmt::format("seed {} stopped at epoch {}: {} (outputs up to that epoch written to {})",
                                     f["seed"].get<Index>(), f["epoch"].get<Index>(), f["message"].get<std::string>(),
                                     dir.string()));
  }
}

}  // namespace diffgen
