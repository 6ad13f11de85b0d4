#include "data/points_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/limits.hpp"

namespace diffgen {
namespace {

// A piece of the input as it can be shown in a message: printable ASCII is
// kept, other bytes are escaped (a fuzzed or binary file must not put control
// characters on the user's terminal), and long pieces are cut.
std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 40;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out;
}

std::string non_finite_name(double x) {
  if (std::isnan(x)) return "nan";
  return x > 0 ? "inf" : "-inf";
}

// ---------------------------------------------------------------- CSV

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

enum class NumberStatus { kOk, kNotANumber, kOutOfRange };

// std::from_chars (locale-independent, exact), plus a leading '+' as some
// writers produce it. "nan" and "inf" parse: they are numbers, only not
// finite ones, and are refused as such.
NumberStatus parse_number(std::string_view text, double& value) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  if (text.empty()) return NumberStatus::kNotANumber;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (stop != end) return NumberStatus::kNotANumber;
  if (ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  if (ec != std::errc()) return NumberStatus::kNotANumber;
  return NumberStatus::kOk;
}

// Splits one line (without its line end) into fields at the commas outside
// double quotes. A quoted field's content is returned without the outer
// quotes (a doubled quote inside stays doubled: such a field is never a
// number, and header fields are not used). Quotes must close on their line.
void split_fields(std::string_view line, std::size_t line_number, std::string_view name,
                  std::vector<std::string_view>& fields) {
  fields.clear();
  const std::size_t n = line.size();
  std::size_t pos = 0;
  for (;;) {
    const std::size_t column = fields.size() + 1;
    const std::size_t start = pos;
    while (pos < n && is_blank(line[pos])) ++pos;
    if (pos < n && line[pos] == '"') {
      const std::size_t content_begin = ++pos;
      std::size_t content_end = 0;
      for (;;) {
        const std::size_t quote = line.find('"', pos);
        if (quote == std::string_view::npos) {
          throw DataError(fmt::format("{}: line {}, column {}: a quote opened here is not closed on this line", name,
                                      line_number, column));
        }
        if (quote + 1 < n && line[quote + 1] == '"') {
          pos = quote + 2;
          continue;
        }
        content_end = quote;
        pos = quote + 1;
        break;
      }
      while (pos < n && is_blank(line[pos])) ++pos;
      if (pos < n && line[pos] != ',') {
        throw DataError(fmt::format("{}: line {}, column {}: text after a closing quote", name, line_number, column));
      }
      fields.push_back(line.substr(content_begin, content_end - content_begin));
    } else {
      const std::size_t comma = std::min(line.find(',', pos), n);
      fields.push_back(trim_blanks(line.substr(start, comma - start)));
      pos = comma;
    }
    if (pos >= n) return;
    ++pos;  // the comma: at least one more (possibly empty) field follows
  }
}

// ---------------------------------------------------------------- NPY

constexpr std::string_view kNpyMagic = "\x93NUMPY";

std::uint64_t read_le(std::string_view bytes, std::size_t offset, std::size_t count) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

struct NpyHeader {
  std::string descr;
  std::size_t descr_at = 0;
  bool fortran_order = false;
  std::size_t fortran_order_at = 0;
  std::vector<std::uint64_t> shape;
  std::size_t shape_at = 0;
};

// The header of an NPY file: a Python dict literal such as
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }
// followed by padding. Only what numpy writes is accepted; positions in
// messages are byte offsets in the file.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::size_t base, std::string_view name)
      : text_(text), base_(base), name_(name) {}

  NpyHeader parse() {
    NpyHeader header;
    bool have_descr = false, have_fortran_order = false, have_shape = false;
    skip_space();
    if (!eat('{')) fail(pos_, "header is not a Python dict literal (expected '{')");
    for (;;) {
      skip_space();
      if (eat('}')) break;
      const std::size_t key_at = pos_;
      if (!at_quote()) fail(pos_, "header is not a Python dict literal (expected a quoted key or '}')");
      const std::string_view key = string_literal();
      skip_space();
      if (!eat(':')) fail(pos_, "header is not a Python dict literal (expected ':' after a key)");
      skip_space();
      const auto once = [&](bool& seen) {
        if (seen) fail(key_at, fmt::format("key '{}' appears twice in the header", shown(key)));
        seen = true;
      };
      if (key == "descr") {
        once(have_descr);
        header.descr_at = base_ + pos_;
        if (peek() == '[') fail(pos_, "structured dtypes (a list in 'descr') are not supported");
        if (!at_quote()) fail(pos_, "'descr' must be a quoted dtype such as '<f8'");
        header.descr = std::string(string_literal());
      } else if (key == "fortran_order") {
        once(have_fortran_order);
        header.fortran_order_at = base_ + pos_;
        if (eat_word("True")) {
          header.fortran_order = true;
        } else if (eat_word("False")) {
          header.fortran_order = false;
        } else {
          fail(pos_, "'fortran_order' must be True or False");
        }
      } else if (key == "shape") {
        once(have_shape);
        header.shape_at = base_ + pos_;
        header.shape = shape_tuple();
      } else {
        fail(key_at,
             fmt::format("unexpected key '{}' in the header (expected 'descr', 'fortran_order', 'shape')", shown(key)));
      }
      skip_space();
      if (eat(',')) continue;
      if (eat('}')) break;
      fail(pos_, "header is not a Python dict literal (expected ',' or '}')");
    }
    skip_space();
    if (pos_ < text_.size()) fail(pos_, "unexpected text after the header's dict (only padding may follow)");
    if (!have_descr) fail(0, "the header has no 'descr' (the dtype)");
    if (!have_fortran_order) fail(0, "the header has no 'fortran_order'");
    if (!have_shape) fail(0, "the header has no 'shape'");
    return header;
  }

 private:
  [[noreturn]] void fail(std::size_t at, std::string_view what) const {
    throw DataError(fmt::format("{}: byte {}: {}", name_, base_ + at, what));
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool at_quote() const { return peek() == '\'' || peek() == '"'; }

  bool eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // A Python name (True, False) not followed by more name characters.
  bool eat_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    const std::size_t after = pos_ + word.size();
    if (after < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[after])) || text_[after] == '_')) {
      return false;
    }
    pos_ = after;
    return true;
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // '...' or "..." without escapes (numpy's keys and dtypes have none).
  std::string_view string_literal() {
    const char quote = text_[pos_];
    const std::size_t begin = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') fail(pos_, "escape sequences are not supported in the header");
      if (text_[pos_] == '\n') fail(begin - 1, "a string in the header is not closed on its line");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail(begin - 1, "a string in the header is not closed");
    return text_.substr(begin, pos_++ - begin);
  }

  // (n,), (n, d), () ...: non-negative integers (Python 2's 'L' suffix
  // allowed, as old numpy wrote it).
  std::vector<std::uint64_t> shape_tuple() {
    constexpr std::uint64_t kMaxDimension = std::uint64_t{1} << 62;
    const std::size_t open_at = pos_;
    if (!eat('(')) fail(pos_, "'shape' must be a tuple of integers such as (100, 2)");
    std::vector<std::uint64_t> shape;
    for (;;) {
      skip_space();
      if (eat(')')) break;
      const std::size_t number_at = pos_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) {
        fail(pos_, "'shape' must be a tuple of integers such as (100, 2)");
      }
      std::uint64_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        value = value * 10 + static_cast<std::uint64_t>(text_[pos_++] - '0');
        if (value > kMaxDimension) fail(number_at, "a 'shape' entry is too large");
      }
      if (peek() == 'L' || peek() == 'l') ++pos_;
      shape.push_back(value);
      skip_space();
      if (eat(',')) continue;
      if (eat(')')) break;
      fail(pos_, "'shape' must be a tuple of integers such as (100, 2) (expected ',' or ')')");
    }
    if (shape.size() > 64) fail(open_at, fmt::format("'shape' has {} dimensions (numpy allows 64)", shape.size()));
    return shape;
  }

  std::string_view text_;
  std::size_t base_;
  std::string_view name_;
  std::size_t pos_ = 0;
};

// Where an NPY file's header lies: after the magic string, the format
// version and the header length.
struct NpyLayout {
  std::size_t header_begin = 0;
  std::uint64_t header_length = 0;
};

// Checks the magic string and the format version, and reads the header length.
NpyLayout npy_layout(std::string_view bytes, std::string_view name) {
  const std::size_t size = bytes.size();
  const auto need = [&](std::size_t offset, std::size_t count, std::string_view what) {
    if (size < offset + count) {
      throw DataError(fmt::format("{}: truncated: {} takes bytes {} to {}, the file has {} byte{}", name, what, offset,
                                  offset + count - 1, size, size == 1 ? "" : "s"));
    }
  };
  // Magic string, compared as far as the file goes so that a short file
  // that is not NPY at all is called that rather than "truncated".
  for (std::size_t i = 0; i < std::min(size, kNpyMagic.size()); ++i) {
    if (bytes[i] != kNpyMagic[i]) {
      throw DataError(fmt::format("{}: byte {}: not an NPY file (it does not start with \\x93NUMPY)", name, i));
    }
  }
  need(0, kNpyMagic.size() + 2, "the magic string and format version");
  const unsigned major = static_cast<unsigned char>(bytes[6]);
  const unsigned minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw DataError(
        fmt::format("{}: byte 6: NPY format version {}.{} is not supported (1.0, 2.0 or 3.0)", name, major, minor));
  }
  // Version 1.0 has a 2-byte header length, 2.0 and 3.0 a 4-byte one.
  const std::size_t length_size = major == 1 ? 2 : 4;
  need(8, length_size, "the header length");
  NpyLayout layout;
  layout.header_begin = 8 + length_size;
  layout.header_length = read_le(bytes, 8, length_size);
  if (layout.header_length > size - layout.header_begin) {
    throw DataError(fmt::format("{}: byte 8: header length {} runs past the end of the file ({} bytes)", name,
                                layout.header_length, size));
  }
  return layout;
}

// The size of one value of the header's dtype (float32 or float64,
// little-endian, C order; anything else is refused).
std::size_t npy_item_size(const NpyHeader& header, std::string_view name) {
  std::size_t item_size = 0;
  if (header.descr == "<f8") {
    item_size = 8;
  } else if (header.descr == "<f4") {
    item_size = 4;
  } else {
    throw DataError(
        fmt::format("{}: byte {}: dtype '{}' is not supported (float32 '<f4' or float64 '<f8', little-endian)", name,
                    header.descr_at, shown(header.descr)));
  }
  if (header.fortran_order) {
    throw DataError(fmt::format(
        "{}: byte {}: 'fortran_order': True is not supported (save a C-ordered array: np.ascontiguousarray)", name,
        header.fortran_order_at));
  }
  return item_size;
}

// The points' count n and dimension d: shape (n,) or (n, d).
struct NpyShape {
  std::uint64_t n = 0, d = 0;
  std::string text;  // as in messages
};

NpyShape npy_shape(const NpyHeader& header, std::string_view name) {
  const auto& shape = header.shape;
  NpyShape out;
  out.text = shape_text(shape);
  if (shape.empty() || shape.size() > 2) {
    throw DataError(fmt::format("{}: byte {}: shape {} has {} dimensions; points need shape (n,) or (n, d)", name,
                                header.shape_at, out.text, shape.size()));
  }
  out.n = shape[0];
  out.d = shape.size() == 2 ? shape[1] : 1;
  if (out.n == 0) throw DataError(fmt::format("{}: byte {}: shape {} has no points", name, header.shape_at, out.text));
  if (out.d == 0) {
    throw DataError(
        fmt::format("{}: byte {}: shape {}: points need at least one coordinate", name, header.shape_at, out.text));
  }
  return out;
}

// The number of values, n d. The data must fill the rest of the file
// (size bytes, data from data_begin) exactly. Checked before anything is
// allocated, so a hostile shape cannot ask for more memory than the file's
// own size.
std::uint64_t npy_value_count(std::size_t size, std::size_t data_begin, const NpyShape& shape, const NpyHeader& header,
                              std::size_t item_size, std::string_view name) {
  const std::uint64_t available = size - data_begin;
  std::uint64_t count = 0, needed = 0;
  const bool overflow =
      __builtin_mul_overflow(shape.n, shape.d, &count) || __builtin_mul_overflow(count, item_size, &needed);
  if (overflow || needed > available) {
    throw DataError(fmt::format("{}: truncated: shape {} of '{}' needs {} bytes of data after byte {}, the file has {}",
                                name, shape.text, header.descr, overflow ? "more than 2^64" : std::to_string(needed),
                                data_begin, available));
  }
  if (needed < available) {
    throw DataError(fmt::format(
        "{}: byte {}: {} bytes after the data: shape {} of '{}' needs {} bytes of data after byte {}, the file has {}",
        name, data_begin + needed, available - needed, shape.text, header.descr, needed, data_begin, available));
  }
  if (count > static_cast<std::uint64_t>(std::numeric_limits<Index>::max())) {
    throw DataError(fmt::format("{}: shape {} is too large to hold", name, shape.text));
  }
  return count;
}

// Only regular files, at most kMaxInputFileBytes (read_input_file): a FIFO
// or /dev/zero named points.csv must not block or fill the memory.
std::string read_whole_file(const std::filesystem::path& file) {
  return read_input_file(file, kMaxInputFileBytes);
}

}  // namespace

Matrix parse_points_csv(std::string_view bytes, std::string_view name) {
  // A UTF-8 byte order mark, as spreadsheet programs write it.
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (bytes.substr(0, kBom.size()) == kBom) bytes.remove_prefix(kBom.size());
  if (bytes.empty()) throw DataError(fmt::format("{} is empty: no points", name));

  std::size_t columns = 0;       // fixed by the first row (header or data)
  std::size_t columns_line = 0;  // the line that fixed it
  std::size_t header_line = 0;   // 0: no header
  std::size_t first_blank = 0;   // first blank line after content: must be trailing
  std::size_t rows = 0;
  std::vector<double> values;  // row-major; grows with the input, never ahead of it
  std::vector<std::string_view> fields;

  std::size_t line_number = 0;
  while (!bytes.empty()) {
    const std::size_t end = std::min(bytes.find('\n'), bytes.size());
    std::string_view line = bytes.substr(0, end);
    bytes.remove_prefix(std::min(end + 1, bytes.size()));
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    const std::string_view content = trim_blanks(line);
    if (content.empty()) {
      if (first_blank == 0 && columns > 0) first_blank = line_number;
      continue;
    }
    if (content.front() == '#') continue;
    if (first_blank != 0) {
      throw DataError(fmt::format("{}: line {} is blank but rows follow (line {}): blank lines may only end the file",
                                  name, first_blank, line_number));
    }

    split_fields(line, line_number, name, fields);
    if (columns == 0) {
      // The first row is a header when any of its fields is not a number.
      columns = fields.size();
      columns_line = line_number;
      double ignored = 0.0;
      const bool all_numbers = std::all_of(fields.begin(), fields.end(), [&](std::string_view f) {
        return parse_number(f, ignored) != NumberStatus::kNotANumber;
      });
      if (!all_numbers) {
        header_line = line_number;
        continue;
      }
    } else if (fields.size() != columns) {
      throw DataError(fmt::format("{}: line {} has {} column{}, expected {} (as in line {})", name, line_number,
                                  fields.size(), fields.size() == 1 ? "" : "s", columns, columns_line));
    }

    for (std::size_t j = 0; j < fields.size(); ++j) {
      const std::string_view field = fields[j];
      const auto where = [&] { return fmt::format("{}: line {}, column {}", name, line_number, j + 1); };
      double x = 0.0;
      switch (parse_number(field, x)) {
        case NumberStatus::kOk:
          break;
        case NumberStatus::kNotANumber:
          if (field.empty()) throw DataError(fmt::format("{}: empty field, expected a number", where()));
          throw DataError(fmt::format("{}: '{}' is not a number{}", where(), shown(field),
                                      header_line != 0 ? "" : " (only the first row may be a header)"));
        case NumberStatus::kOutOfRange:
          throw DataError(fmt::format("{}: {} is out of the range of a double", where(), shown(field)));
      }
      if (!std::isfinite(x)) throw DataError(fmt::format("{}: {} is not a finite number", where(), shown(field)));
      values.push_back(x);
    }
    ++rows;
  }

  if (columns == 0) throw DataError(fmt::format("{}: no points: the file has only blank lines and comments", name));
  if (rows == 0) {
    throw DataError(fmt::format("{}: no points: line {} is a header and no rows of numbers follow", name, header_line));
  }
  Matrix points(static_cast<Index>(rows), static_cast<Index>(columns));
  std::copy(values.begin(), values.end(), points.data());
  return points;
}

Matrix parse_points_npy(std::string_view bytes, std::string_view name) {
  if (bytes.empty()) throw DataError(fmt::format("{} is empty: no points", name));
  const NpyLayout layout = npy_layout(bytes, name);
  const NpyHeader header =
      NpyHeaderParser(bytes.substr(layout.header_begin, layout.header_length), layout.header_begin, name).parse();
  const std::size_t item_size = npy_item_size(header, name);
  const NpyShape shape = npy_shape(header, name);
  const std::size_t data_begin = layout.header_begin + static_cast<std::size_t>(layout.header_length);
  const std::uint64_t count = npy_value_count(bytes.size(), data_begin, shape, header, item_size, name);

  Matrix points(static_cast<Index>(shape.n), static_cast<Index>(shape.d));
  double* out = points.data();
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::size_t offset = data_begin + static_cast<std::size_t>(k * item_size);
    const double x =
        item_size == 8
            ? std::bit_cast<double>(read_le(bytes, offset, 8))
            : static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(read_le(bytes, offset, 4))));
    if (!std::isfinite(x)) {
      throw DataError(
          fmt::format("{}: value {} (row {}, column {}) is {}", name, k, k / shape.d, k % shape.d, non_finite_name(x)));
    }
    out[k] = x;
  }
  return points;
}

std::string encode_points_npy(const Matrix& points) {
  if (points.rows() == 0 || points.cols() == 0) {
    throw std::invalid_argument(
        fmt::format("encode_points_npy: a {} x {} matrix has no points", points.rows(), points.cols()));
  }
  for (Index i = 0; i < points.rows(); ++i) {
    for (Index j = 0; j < points.cols(); ++j) {
      if (!std::isfinite(points(i, j))) {
        throw NumericalError(
            fmt::format("points to save: row {}, column {} is {}", i, j, non_finite_name(points(i, j))));
      }
    }
  }
  std::string header =
      fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}", points.rows(), points.cols());
  // numpy pads with spaces so that the data starts on a 64-byte boundary,
  // and ends the header with '\n'.
  constexpr std::size_t kPrefix = 10;  // magic, version, 2-byte header length
  const std::size_t unpadded = kPrefix + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  std::string out;
  out.reserve(kPrefix + header.size() + static_cast<std::size_t>(points.size()) * 8);
  out += kNpyMagic;
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  const double* data = points.data();  // row-major: C order
  for (Index k = 0; k < points.size(); ++k) {
    const auto bits = std::bit_cast<std::uint64_t>(data[k]);
    for (int b = 0; b < 8; ++b) out += static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

void save_points_npy(const std::filesystem::path& file, const Matrix& points) {
  write_file_atomic(file, encode_points_npy(points));
}

Matrix load_points(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::string extension = file.extension().string();
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (extension != ".csv" && extension != ".npy") {
    throw DataError(fmt::format("{}: {} (allowed: .csv, .npy)", name,
                                extension.empty() ? std::string("the file has no extension")
                                                  : fmt::format("extension '{}' is not supported", shown(extension))));
  }
  const std::string bytes = read_whole_file(file);
  return extension == ".csv" ? parse_points_csv(bytes, name) : parse_points_npy(bytes, name);
}

}  // namespace diffgen
