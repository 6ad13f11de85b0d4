// Tables of results for the terminal and for report.md. Numbers are
// formatted here, with a fixed number of significant digits, so every
// experiment's table looks alike; the exact values live in metrics.csv.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace diffgen {

// `x` with `significant` digits: 0.01234, 1.235e-05, 1234, inf; NaN (no
// value) as "-", so no report or table prints "nan".
std::string format_significant(double x, int significant = 4);

// One cell: text, an integer, or a double formatted by the table.
class TableCell {
 public:
  TableCell() : value_(std::string()) {}
  // Implicit, so that rows are written inline: add_row({seed, epoch, kl, "adam"}).
  // (bool picks the non-template overload below.)
  template <std::integral T>
  TableCell(T v) {
    if constexpr (std::is_signed_v<T>) {
      value_ = static_cast<std::int64_t>(v);
    } else {
      value_ = static_cast<std::uint64_t>(v);
    }
  }
  TableCell(double v) : value_(v) {}
  TableCell(float v) : value_(static_cast<double>(v)) {}
  TableCell(bool v) : value_(std::string(v ? "yes" : "no")) {}
  TableCell(std::string v) : value_(std::move(v)) {}
  TableCell(std::string_view v) : value_(std::string(v)) {}
  TableCell(const char* v) : value_(std::string(v)) {}

  bool is_number() const { return !std::holds_alternative<std::string>(value_); }
  std::string text(int significant) const;

 private:
  std::variant<std::string, std::int64_t, std::uint64_t, double> value_;
};

enum class Align { Auto, Left, Right };

class Table {
 public:
  // `significant`: digits shown for doubles.
  explicit Table(std::vector<std::string> header, int significant = 4);

  // One cell per column; a row of the wrong length is a bug (std::invalid_argument).
  void add_row(std::vector<TableCell> row);
  // Auto (the default) right-aligns a column whose cells are all numbers.
  void set_align(std::size_t column, Align align);

  std::size_t num_rows() const { return rows_.size(); }
  std::size_t num_columns() const { return header_.size(); }

  // Aligned columns two spaces apart, the header underlined with dashes.
  std::string to_text() const;
  // A GitHub-flavoured markdown table, padded so the source is readable too.
  std::string to_markdown() const;

 private:
  bool right_aligned(std::size_t column) const;
  std::vector<std::vector<std::string>> cell_texts() const;

  std::vector<std::string> header_;
  std::vector<std::vector<TableCell>> rows_;
  std::vector<Align> align_;
  int significant_;
};

// Display width of UTF-8 text (one column per code point), for alignment of
// names such as "σ" or "τ".
std::size_t display_width(std::string_view text);

}  // namespace diffgen
