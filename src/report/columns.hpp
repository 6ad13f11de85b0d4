// The columns of a tidy CSV table, declared once per row type: every file
// that writes rows of that type has the same columns in the same order. A
// column maps a row to one cell; a column that allows missing values writes
// a non-finite number as an empty field ("not evaluated here"), the others
// refuse it (core/io.hpp).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/io.hpp"

namespace diffgen {

template <class Row>
class Columns {
 public:
  Columns& add(std::string name, std::function<CsvCell(const Row&)> cell, bool missing_allowed = true) {
    columns_.push_back({std::move(name), std::move(cell), missing_allowed});
    return *this;
  }
  // A double member, missing where not finite.
  Columns& number(std::string name, double Row::*member) {
    return add(std::move(name), [member](const Row& r) { return CsvCell::finite_or_missing(r.*member); });
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& c : columns_) out.push_back(c.name);
    return out;
  }

  // An empty table with `leading` columns (a variant's tags, the seed) before these.
  CsvTable table(std::vector<std::string> leading = {}) const {
    std::vector<std::string> all = std::move(leading);
    for (const auto& c : columns_) all.push_back(c.name);
    CsvTable t(all);
    for (const auto& c : columns_)
      if (c.missing_allowed) t.allow_missing(c.name);
    return t;
  }

  // Adds `row` after the leading cells.
  void add_row(CsvTable& table, std::vector<CsvCell> leading, const Row& row) const {
    for (const auto& c : columns_) leading.push_back(c.cell(row));
    table.add_row(std::move(leading));
  }

 private:
  struct Column {
    std::string name;
    std::function<CsvCell(const Row&)> cell;
    bool missing_allowed;
  };
  std::vector<Column> columns_;
};

}  // namespace diffgen
