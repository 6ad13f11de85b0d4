// Writing run outputs: whole files replaced atomically (a crash or a full
// disk never leaves a half-written metrics.csv), tidy CSV tables whose
// numbers read back exactly, and JSON. Non-finite numbers are refused with a
// NumericalError (exit code 4) naming where they are, unless the caller
// marks them as missing: a NaN silently written into a table is a result
// nobody asked for.
#pragma once

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace diffgen {

// Writes `contents` to a temporary file beside `path`, flushes it to disk and
// renames it over `path`. Creates missing parent folders. Throws DataError
// (exit code 3) naming the file and the system's reason.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// Removes the temporaries of write_file_atomic and of plots (.NAME.tmp.*)
// in `dir` and its subfolders: what a killed writer left behind. Only for a
// folder no other process writes into (a locked run folder). Returns how many.
int remove_temporaries(const std::filesystem::path& dir);

// The whole file as bytes, through read_input_file. Throws DataError naming
// the file when it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

// The whole of an input file (data, configuration, plan), at most `max_bytes`
// long. Only a regular file (possibly through a symlink) is read: a FIFO, a
// device such as /dev/zero or a folder is refused before it is opened (opening
// a FIFO blocks until a writer comes; a device never ends), and so is a file
// longer than the limit. Throws DataError (exit code 3) naming the file and why.
std::string read_input_file(const std::filesystem::path& path, std::uint64_t max_bytes);

// Shortest decimal text that reads back to exactly `x` ("0.1", "1e-10").
std::string format_double(double x);

// One CSV field: a number, a string, or missing (an empty field). Built
// implicitly from any integer, floating-point or string value.
class CsvCell {
 public:
  CsvCell() = default;  // missing
  // Implicit, so that rows are written inline: add_row({seed, epoch, kl, "adam"}).
  // (bool picks the non-template overload below.)
  template <std::integral T>
  CsvCell(T v) {
    if constexpr (std::is_signed_v<T>) {
      value_ = static_cast<std::int64_t>(v);
    } else {
      value_ = static_cast<std::uint64_t>(v);
    }
  }
  CsvCell(double v) : value_(v) {}
  CsvCell(float v) : value_(static_cast<double>(v)) {}
  CsvCell(bool v) : value_(std::string(v ? "true" : "false")) {}
  CsvCell(std::string v) : value_(std::move(v)) {}
  CsvCell(std::string_view v) : value_(std::string(v)) {}
  CsvCell(const char* v) : value_(std::string(v)) {}

  // An intentionally empty field.
  static CsvCell missing() { return CsvCell(); }
  // `x` when finite, otherwise missing: for values that may legitimately be
  // undefined (a KL that is infinite by construction, an unreached epoch).
  static CsvCell finite_or_missing(double x);

  bool is_missing() const { return std::holds_alternative<std::monostate>(value_); }
  // A double that is NaN or infinite.
  bool is_non_finite() const;
  // The field as written, before CSV quoting ("" when missing).
  std::string text() const;

 private:
  std::variant<std::monostate, std::int64_t, std::uint64_t, double, std::string> value_;
};

// A tidy table: a header row of column names, then one row per observation.
class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> columns);

  // Non-finite numbers in this column are written as missing instead of
  // being refused.
  void allow_missing(std::string_view column);

  // Adds a row with one cell per column. Throws NumericalError naming the
  // column, the row number (1 = first data row) and the row's other cells if
  // a number is NaN or infinite in a column that does not allow missing
  // values; the table is then unchanged, so the rows before can still be
  // written. A row of the wrong length is a bug (std::invalid_argument).
  void add_row(std::vector<CsvCell> row);

  const std::vector<std::string>& columns() const { return columns_; }
  std::size_t num_rows() const { return rows_.size(); }
  const CsvCell& cell(std::size_t row, std::size_t column) const { return rows_.at(row).at(column); }
  // Index of a column; std::invalid_argument when absent.
  std::size_t column_index(std::string_view column) const;

  // The CSV text (RFC 4180 quoting, '\n' line ends).
  std::string to_string() const;
  // Atomically writes to_string() to `path`.
  void write(const std::filesystem::path& path) const;

 private:
  std::vector<std::string> columns_;
  std::vector<bool> missing_allowed_;
  std::vector<std::vector<CsvCell>> rows_;
};

// Pretty-printed JSON (two-space indent, final newline). Throws NumericalError
// naming the JSON pointer (e.g. /seeds/2/kl) of a NaN or infinite number,
// which JSON cannot represent: store null explicitly where a value is missing.
std::string to_json_text(const nlohmann::json& value);
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);

}  // namespace diffgen
