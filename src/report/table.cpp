#include "report/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace diffgen {
namespace {

std::string pad(std::string_view text, std::size_t width, bool right) {
  const std::size_t w = display_width(text);
  const std::string fill(width > w ? width - w : 0, ' ');
  return right ? fill + std::string(text) : std::string(text) + fill;
}

// A cell must not break the markdown row: escape '|', fold line breaks.
std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string format_significant(double x, int significant) {
  // A report never prints "nan": a value that does not exist shows as "-",
  // the mark tables and ± intervals use for a missing value.
  if (std::isnan(x)) return "-";
  return fmt::format("{:.{}g}", x, std::max(1, significant));
}

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string TableCell::text(int significant) const {
  struct Formatter {
    int significant;
    std::string operator()(const std::string& v) const { return v; }
    std::string operator()(std::int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(std::uint64_t v) const { return fmt::format("{}", v); }
    std::string operator()(double v) const { return format_significant(v, significant); }
  };
  return std::visit(Formatter{significant}, value_);
}

Table::Table(std::vector<std::string> header, int significant)
    : header_(std::move(header)), align_(header_.size(), Align::Auto), significant_(significant) {
  if (header_.empty()) throw std::invalid_argument("a table needs at least one column");
}

void Table::add_row(std::vector<TableCell> row) {
  if (row.size() != header_.size()) {
    throw std::invalid_argument(
        fmt::format("table row has {} cells but the table has {} columns", row.size(), header_.size()));
  }
  rows_.push_back(std::move(row));
}

void Table::set_align(std::size_t column, Align align) {
  align_.at(column) = align;
}

bool Table::right_aligned(std::size_t column) const {
  if (align_[column] != Align::Auto) return align_[column] == Align::Right;
  if (rows_.empty()) return false;
  return std::all_of(rows_.begin(), rows_.end(), [&](const auto& row) { return row[column].is_number(); });
}

std::vector<std::vector<std::string>> Table::cell_texts() const {
  std::vector<std::vector<std::string>> texts;
  texts.reserve(rows_.size());
  for (const auto& row : rows_) {
    std::vector<std::string> line;
    line.reserve(row.size());
    for (const auto& cell : row) line.push_back(cell.text(significant_));
    texts.push_back(std::move(line));
  }
  return texts;
}

std::string Table::to_text() const {
  const auto texts = cell_texts();
  std::vector<std::size_t> widths(header_.size());
  for (std::size_t j = 0; j < header_.size(); ++j) {
    widths[j] = display_width(header_[j]);
    for (const auto& row : texts) widths[j] = std::max(widths[j], display_width(row[j]));
  }
  std::string out;
  const auto append_line = [&](const auto& cell_of) {
    std::string line;
    for (std::size_t j = 0; j < header_.size(); ++j) {
      if (j > 0) line += "  ";
      line += pad(cell_of(j), widths[j], right_aligned(j));
    }
    // Trailing spaces from a left-aligned last column are noise in logs.
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + '\n';
  };
  append_line([&](std::size_t j) { return std::string_view(header_[j]); });
  append_line([&](std::size_t j) { return std::string(widths[j], '-'); });
  for (const auto& row : texts) append_line([&](std::size_t j) { return std::string_view(row[j]); });
  return out;
}

std::string Table::to_markdown() const {
  auto texts = cell_texts();
  std::vector<std::string> header;
  for (const auto& h : header_) header.push_back(markdown_cell(h));
  for (auto& row : texts) {
    for (auto& cell : row) cell = markdown_cell(cell);
  }
  std::vector<std::size_t> widths(header.size());
  for (std::size_t j = 0; j < header.size(); ++j) {
    widths[j] = std::max<std::size_t>(3, display_width(header[j]));
    for (const auto& row : texts) widths[j] = std::max(widths[j], display_width(row[j]));
  }
  std::string out;
  const auto append_line = [&](const auto& cell_of) {
    out += '|';
    for (std::size_t j = 0; j < header.size(); ++j) out += ' ' + cell_of(j) + " |";
    out += '\n';
  };
  append_line([&](std::size_t j) { return pad(header[j], widths[j], right_aligned(j)); });
  append_line([&](std::size_t j) {
    return right_aligned(j) ? std::string(widths[j] - 1, '-') + ':' : std::string(widths[j], '-');
  });
  for (const auto& row : texts) append_line([&](std::size_t j) { return pad(row[j], widths[j], right_aligned(j)); });
  return out;
}

}  // namespace diffgen
