// report.md builder: headings, paragraphs, lists, tables, images and code,
// each block separated by a blank line. Text is written as given (it is
// markdown); tables escape their own cells.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "report/table.hpp"

namespace diffgen {

class MarkdownReport {
 public:
  // Level 1 (#) to 6 (######); other levels are clamped.
  MarkdownReport& heading(std::string_view text, int level = 1);
  MarkdownReport& paragraph(std::string_view text);
  MarkdownReport& bullets(const std::vector<std::string>& items);
  MarkdownReport& table(const Table& table);
  // An image link; `path` relative to the report (e.g. "plots/kl.png").
  // A non-empty caption is set in italics below the image.
  MarkdownReport& image(std::string_view alt, const std::filesystem::path& path, std::string_view caption = "");
  // A fenced code block (e.g. the command that reproduces the run).
  MarkdownReport& code(std::string_view text, std::string_view language = "");
  // Markdown added verbatim as one block.
  MarkdownReport& raw(std::string_view markdown);

  const std::string& text() const { return text_; }
  // Atomically writes text() to `path` (DataError on failure).
  void write(const std::filesystem::path& path) const;

 private:
  void block(std::string_view markdown);

  std::string text_;
};

}  // namespace diffgen
