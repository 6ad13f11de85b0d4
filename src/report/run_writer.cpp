#include "report/run_writer.hpp"

#include <fmt/format.h>

#include <kainjow/mustache.hpp>
#include <stdexcept>

#include "core/parallel.hpp"

namespace diffgen {
namespace {

namespace mustache = kainjow::mustache;

mustache::data to_mustache(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      mustache::data d{mustache::data::type::object};
      for (const auto& [key, value] : j.items()) d.set(key, to_mustache(value));
      return d;
    }
    case nlohmann::json::value_t::array: {
      mustache::data d{mustache::data::type::list};
      for (const auto& value : j) d.push_back(to_mustache(value));
      return d;
    }
    case nlohmann::json::value_t::string:
      return mustache::data(j.get<std::string>());
    case nlohmann::json::value_t::boolean:
      return mustache::data(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return mustache::data(j.dump());
    case nlohmann::json::value_t::number_float:
      return mustache::data(format_double(j.get<double>()));
    default:  // null
      return mustache::data(false);
  }
}

}  // namespace

std::string render_template(std::string_view template_text, const nlohmann::json& context) {
  mustache::mustache tmpl{std::string(template_text)};
  if (!tmpl.is_valid()) throw std::invalid_argument("report template: " + tmpl.error_message());
  tmpl.set_custom_escape([](const std::string& s) { return s; });
  std::string out = tmpl.render(to_mustache(context));
  if (!tmpl.is_valid()) throw std::invalid_argument("report template: " + tmpl.error_message());
  return out;
}

RunWriter::RunWriter(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

void RunWriter::csv(const std::string& name, const CsvTable& table) const {
  table.write(dir_ / name);
}

void RunWriter::json(const std::string& name, const Json& value) const {
  write_json_atomic(dir_ / name, value);
}

void RunWriter::text(const std::string& name, std::string_view contents) const {
  write_file_atomic(dir_ / name, contents);
}

void RunWriter::plot(const std::string& name, PlotSpec spec) {
  queue_.push_back({"plots/" + name + ".png",
                    [spec = std::move(spec)](const std::filesystem::path& png) { render_png(spec, png); }});
}

void RunWriter::plot(const std::string& name, PanelGrid grid) {
  queue_.push_back({"plots/" + name + ".png",
                    [grid = std::move(grid)](const std::filesystem::path& png) { render_png(grid, png); }});
}

std::vector<std::string> RunWriter::render_plots() {
  if (queue_.empty()) return {};
  std::filesystem::create_directories(dir_ / "plots");
  // gnuplot runs as a separate process per plot, so plots render side by side.
  std::vector<std::string> errors(queue_.size());
  parallel_tasks(static_cast<Index>(queue_.size()), [&](Index i) {
    auto& job = queue_[static_cast<std::size_t>(i)];
    try {
      job.render(dir_ / job.path);
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(i)] = *e.what() ? e.what() : "unknown error";
    }
  });
  std::vector<std::string> written;
  for (std::size_t i = 0; i < queue_.size(); ++i) {
    if (errors[i].empty())
      written.push_back(queue_[i].path);
    else
      warn(fmt::format("plot {} not written: {}", std::filesystem::path(queue_[i].path).filename().string(),
                       errors[i]));
  }
  queue_.clear();
  plots_.insert(plots_.end(), written.begin(), written.end());
  return written;
}

void RunWriter::report(std::string_view template_text, Json context) {
  context["plots"] = plots_;
  context["has_plots"] = !plots_.empty();
  context["warnings"] = warnings_;
  context["plus_minus"] = std::string(kPlusMinusMeaning);
  text("report.md", render_template(template_text, context));
}

}  // namespace diffgen
