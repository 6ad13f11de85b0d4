#include "report/markdown.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/io.hpp"

namespace diffgen {

void MarkdownReport::block(std::string_view markdown) {
  if (!text_.empty()) text_ += '\n';
  text_ += markdown;
  if (text_.empty() || text_.back() != '\n') text_ += '\n';
}

MarkdownReport& MarkdownReport::heading(std::string_view text, int level) {
  block(std::string(static_cast<std::size_t>(std::clamp(level, 1, 6)), '#') + ' ' + std::string(text));
  return *this;
}

MarkdownReport& MarkdownReport::paragraph(std::string_view text) {
  block(text);
  return *this;
}

MarkdownReport& MarkdownReport::bullets(const std::vector<std::string>& items) {
  if (items.empty()) return *this;
  std::string out;
  for (const auto& item : items) out += "- " + item + '\n';
  block(out);
  return *this;
}

MarkdownReport& MarkdownReport::table(const Table& table) {
  block(table.to_markdown());
  return *this;
}

MarkdownReport& MarkdownReport::image(std::string_view alt, const std::filesystem::path& path,
                                      std::string_view caption) {
  std::string target = path.generic_string();
  // CommonMark: a link target with spaces must be written in angle brackets.
  if (target.find_first_of(" ()") != std::string::npos) target = '<' + target + '>';
  std::string alt_text(alt);
  std::replace(alt_text.begin(), alt_text.end(), ']', ')');
  std::replace(alt_text.begin(), alt_text.end(), '[', '(');
  std::string out = fmt::format("![{}]({})", alt_text, target);
  if (!caption.empty()) out += fmt::format("\n\n*{}*", caption);
  block(out);
  return *this;
}

MarkdownReport& MarkdownReport::code(std::string_view text, std::string_view language) {
  // The fence must be longer than any run of backticks inside the code.
  std::size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(std::max<std::size_t>(3, longest + 1), '`');
  std::string body(text);
  if (!body.empty() && body.back() != '\n') body += '\n';
  block(fmt::format("{}{}\n{}{}", fence, language, body, fence));
  return *this;
}

MarkdownReport& MarkdownReport::raw(std::string_view markdown) {
  block(markdown);
  return *this;
}

void MarkdownReport::write(const std::filesystem::path& path) const {
  write_file_atomic(path, text_);
}

}  // namespace diffgen
