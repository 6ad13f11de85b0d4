#include "core/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/limits.hpp"

namespace diffgen {
namespace {

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// Optimal string alignment distance: Levenshtein plus adjacent swaps, the
// common typos in a key name.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

bool valid_key(std::string_view key) {
  if (key.empty()) return false;
  std::size_t part_length = 0;
  for (char c : key) {
    if (c == '.') {
      if (part_length == 0) return false;
      part_length = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') {
      ++part_length;
    } else {
      return false;
    }
  }
  return part_length > 0;
}

bool type_matches(ValueType type, const Value& value) {
  // The variant's alternatives are in ValueType's order.
  return value.index() == static_cast<std::size_t>(type);
}

bool is_numeric(ValueType type) {
  return type == ValueType::Int || type == ValueType::Double || type == ValueType::IntList ||
         type == ValueType::DoubleList;
}

// "" when the number is within the spec's range, otherwise the reason.
std::string number_violation(const KeySpec& spec, double x) {
  if (!std::isfinite(x)) return "is not a finite number";
  const bool below = spec.min && (spec.min_exclusive ? x <= *spec.min : x < *spec.min);
  const bool above = spec.max && (spec.max_exclusive ? x >= *spec.max : x > *spec.max);
  if (below || above) return "is out of range: must be " + allowed_text(spec);
  return "";
}

std::string choice_violation(const KeySpec& spec, const std::string& s) {
  if (spec.choices.empty() || std::find(spec.choices.begin(), spec.choices.end(), s) != spec.choices.end()) return "";
  return fmt::format("is not allowed (allowed: {})", join(spec.choices, ", "));
}

// Each element of a list against the element rules, then the list's size and repeats.
template <class T>
std::string list_violation(const KeySpec& spec, const std::vector<T>& items) {
  // An element is checked, and its range described, as a scalar of the element type.
  KeySpec element = spec;
  element.type = element_type(spec.type);
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string why;
    if constexpr (std::is_same_v<T, std::string>) {
      why = choice_violation(element, items[i]);
    } else {
      why = number_violation(element, static_cast<double>(items[i]));
    }
    if (!why.empty()) return fmt::format("has element {} = {}, which {}", i + 1, format_value(Value(items[i])), why);
    if (spec.unique && std::find(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(i), items[i]) !=
                           items.begin() + static_cast<std::ptrdiff_t>(i))
      return fmt::format("lists {} twice", format_value(Value(items[i])));
  }
  if (items.size() < spec.min_items)
    return fmt::format("has {} element{}: give at least {}", items.size(), items.size() == 1 ? "" : "s",
                       spec.min_items);
  return "";
}

// "" when the value is allowed, otherwise the reason (without the key).
std::string violation(const KeySpec& spec, const Value& value) {
  switch (spec.type) {
    case ValueType::Int:
      return number_violation(spec, static_cast<double>(std::get<std::int64_t>(value)));
    case ValueType::Double:
      return number_violation(spec, std::get<double>(value));
    case ValueType::String:
      return choice_violation(spec, std::get<std::string>(value));
    case ValueType::IntList:
      return list_violation(spec, std::get<IntList>(value));
    case ValueType::DoubleList:
      return list_violation(spec, std::get<DoubleList>(value));
    case ValueType::StringList:
      return list_violation(spec, std::get<StringList>(value));
    case ValueType::Bool:
      break;
  }
  return "";
}

// Offset of the first byte of `s` that is not part of valid UTF-8 (overlong
// forms, surrogates and code points past U+10FFFF are invalid), or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      code = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      code = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code = lead & 0x07;
    } else {
      return i;
    }
    if (length > s.size() - i) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = (code << 6) | (next & 0x3F);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

// The value as it appears in a message: strings quoted, numbers bare.
std::string quoted_value(const Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return fmt::format("'{}'", *s);
  return format_value(value);
}

// The first invalid UTF-8 byte of any string in the value, or npos.
std::size_t invalid_utf8_in(const Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return invalid_utf8_at(*text);
  if (const auto* list = std::get_if<StringList>(&value))
    for (const auto& item : *list)
      if (const std::size_t at = invalid_utf8_at(item); at != std::string_view::npos) return at;
  return std::string_view::npos;
}

std::int64_t parse_int(const KeySpec& spec, std::string_view raw) {
  std::string_view text = trim(raw);
  // from_chars takes no '+'; accept it as users write it.
  if (text.size() > 1 && text[0] == '+' && text[1] != '-') text.remove_prefix(1);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    throw ConfigError(fmt::format("{} = '{}' is out of range for a 64-bit integer", spec.key, raw));
  }
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw ConfigError(fmt::format("{} = '{}' is not an integer", spec.key, raw));
  }
  return value;
}

double parse_double(const KeySpec& spec, std::string_view raw) {
  std::string_view text = trim(raw);
  if (text.size() > 1 && text[0] == '+' && text[1] != '-') text.remove_prefix(1);
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    throw ConfigError(fmt::format("{} = '{}' is out of range for a double", spec.key, raw));
  }
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw ConfigError(fmt::format("{} = '{}' is not a number", spec.key, raw));
  }
  if (!std::isfinite(value)) throw ConfigError(fmt::format("{} = {} is not a finite number", spec.key, trim(raw)));
  return value;
}

bool parse_bool(const KeySpec& spec, std::string_view raw) {
  const std::string text = to_lower(trim(raw));
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  throw ConfigError(fmt::format("{} = '{}' is not a boolean (allowed: true, false, yes, no, 1, 0)", spec.key, raw));
}

// A TOML basic string with the escapes TOML requires.
std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string toml_value(const Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return toml_quote(*s);
  if (const auto* list = std::get_if<StringList>(&value)) {
    std::vector<std::string> items;
    for (const auto& item : *list) items.push_back(toml_quote(item));
    return "[" + join(items, ", ") + "]";
  }
  if (const auto* list = std::get_if<DoubleList>(&value)) {
    std::vector<std::string> items;
    for (double x : *list) items.push_back(toml_value(Value(x)));
    return "[" + join(items, ", ") + "]";
  }
  std::string text = format_value(value);
  // A double must read back as a TOML float, not an integer: 1 -> 1.0.
  if (std::holds_alternative<double>(value) && text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string location(std::string_view source, const toml::source_region& region) {
  if (region.begin.line == 0) return std::string(source);
  return fmt::format("{}:{}:{}", source, region.begin.line, region.begin.column);
}

// toml++ 3.3 (Debian bookworm's) reaches __builtin_unreachable(), undefined
// behaviour, when it asks whether a non-ASCII character is whitespace
// (marzer/tomlplusplus#190, #295; found by fuzz/fuzz_config). It asks outside
// strings and comments, where TOML 1.0 allows no non-ASCII anyway; while it
// scans a bare value (a number, a boolean, a date) up to the next value
// terminator, quotes included; and after a backslash in a multi-line basic
// string. So non-ASCII characters in those places are refused here, before
// toml++ sees them. This follows TOML's structure only as far as needed to
// tell keys, bare values and strings apart; valid TOML is refused only in
// the last case ("""\ at a line end, then a non-ASCII character first on
// the next line), with a message saying how to write it instead. One pass
// over the text: the members hold where in TOML's structure it is, and each
// kind of place (outside strings, in a basic string) has its own method.
class TomlNonAsciiCheck {
 public:
  TomlNonAsciiCheck(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  void run() {
    for (std::size_t k = 0; k < text_.size(); ++k) {
      const char c = text_[k];
      if (c == '\n') {
        ++line_;
        line_start_ = k + 1;
        // Comments and single-line strings end with their line (an
        // unterminated string is toml++'s to report).
        if (state_ == State::kComment || state_ == State::kBasic || state_ == State::kLiteral) state_ = State::kOutside;
      }
      switch (state_) {
        case State::kOutside:
          k = outside(k);
          break;
        case State::kComment:
          break;
        case State::kBasic:
        case State::kMultiBasic:
          k = basic_string(k);
          break;
        case State::kLiteral:
          if (c == '\'') state_ = State::kOutside;
          break;
        case State::kMultiLiteral:
          if (triple(k, '\'')) {
            k += 2;
            for (int extra = 0; extra < 2 && k + 1 < text_.size() && text_[k + 1] == '\''; ++extra) ++k;
            state_ = State::kOutside;
          }
          break;
      }
    }
  }

 private:
  enum class State { kOutside, kComment, kBasic, kMultiBasic, kLiteral, kMultiLiteral };
  enum class Open { kArray, kInlineTable, kHeader };

  [[noreturn]] void fail(std::size_t at, std::string_view what) const {
    // Columns count characters, as toml++'s do: UTF-8 continuation bytes are not counted.
    std::size_t column = 1;
    for (std::size_t k = line_start_; k < at; ++k) column += (static_cast<unsigned char>(text_[k]) & 0xC0) != 0x80;
    throw ConfigError(fmt::format("{}:{}:{}: invalid TOML: {}", source_, line_, column, what));
  }
  bool non_ascii(std::size_t k) const { return k < text_.size() && static_cast<unsigned char>(text_[k]) >= 0x80; }
  bool triple(std::size_t k, char q) const {
    return k + 2 < text_.size() && text_[k] == q && text_[k + 1] == q && text_[k + 2] == q;
  }
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  // toml++'s value terminators: whitespace, ',', ']', '}', '#'.
  static bool ends_value(char c) { return is_space(c) || c == ',' || c == ']' || c == '}' || c == '#'; }

  // Whether text_[k] still belongs to the bare value being scanned (which
  // it then ends when it does not).
  bool in_bare_value(std::size_t k) {
    if (!in_bare_) return false;
    const char c = text_[k];
    if (!ends_value(c)) return true;
    // toml++ reads on past one space after a date, for a date-time
    // written with a space instead of 'T'.
    const std::string_view bare = text_.substr(bare_begin_, k - bare_begin_);
    const bool date = bare.size() == 10 && bare[4] == '-' && bare[7] == '-' &&
                      bare.find_first_not_of("0123456789-") == std::string_view::npos;
    if (date && c == ' ') return true;
    in_bare_ = false;
    return false;
  }

  // Outside strings and comments: text_[k] as TOML's structure; returns
  // the last position it consumed.
  std::size_t outside(std::size_t k) {
    const char c = text_[k];
    if (non_ascii(k)) fail(k, "non-ASCII characters are allowed only in strings and comments");
    if (in_bare_value(k)) return k;
    switch (c) {
      case '\n':
        // Only arrays continue on the next line.
        while (!open_.empty() && open_.back() != Open::kArray) open_.pop_back();
        if (open_.empty()) value_next_ = false;
        break;
      case '#':
        state_ = State::kComment;
        break;
      case '=':
        value_next_ = true;
        break;
      case '"':
      case '\'': {
        const bool multi = triple(k, c);
        state_ =
            c == '"' ? (multi ? State::kMultiBasic : State::kBasic) : (multi ? State::kMultiLiteral : State::kLiteral);
        if (multi) k += 2;
        value_next_ = false;
        break;
      }
      case '[':
        open_.push_back(value_next_ ? Open::kArray : Open::kHeader);
        break;
      case '{':
        open_.push_back(Open::kInlineTable);
        value_next_ = false;
        break;
      case ',':
        value_next_ = !open_.empty() && open_.back() == Open::kArray;
        break;
      case ']':
      case '}':
        if (!open_.empty()) open_.pop_back();
        value_next_ = false;
        break;
      default:
        if (value_next_ && !is_space(c)) {
          in_bare_ = true;
          bare_begin_ = k;
          value_next_ = false;
        }
    }
    return k;
  }

  // In a basic string, single- or multi-line: text_[k]; returns the last
  // position it consumed.
  std::size_t basic_string(std::size_t k) {
    const char c = text_[k];
    if (c == '\\') {
      if (non_ascii(k + 1)) fail(k, "a backslash escape is followed by a non-ASCII character");
      if (state_ == State::kMultiBasic && k + 1 < text_.size() && is_space(text_[k + 1])) {
        // A line-ending backslash: toml++ skips the whitespace after it.
        std::size_t next = k + 1;
        for (; next < text_.size() && is_space(text_[next]); ++next) {
          if (text_[next] == '\n') {
            ++line_;
            line_start_ = next + 1;
          }
        }
        if (non_ascii(next)) {
          fail(next,
               "a non-ASCII character right after a line-ending backslash is not supported: start the line with "
               "an ASCII character or write it as a \\u escape");
        }
        k = next - 1;
      } else if (k + 1 < text_.size() && text_[k + 1] != '\n') {
        ++k;  // the escaped character, which may be a quote
      }
    } else if (state_ == State::kBasic && c == '"') {
      state_ = State::kOutside;
    } else if (state_ == State::kMultiBasic && triple(k, '"')) {
      k += 2;
      // Up to two more quotes belong to the string (TOML 1.0).
      for (int extra = 0; extra < 2 && k + 1 < text_.size() && text_[k + 1] == '"'; ++extra) ++k;
      state_ = State::kOutside;
    }
    return k;
  }

  std::string_view text_, source_;
  std::size_t line_ = 1, line_start_ = 0;
  State state_ = State::kOutside;
  std::vector<Open> open_;      // brackets and braces around the current position
  bool value_next_ = false;     // the next token is a value (after '=', in an array)
  std::size_t bare_begin_ = 0;  // where the bare value being scanned began
  bool in_bare_ = false;        // inside a bare value, which toml++ scans to a terminator
};

void check_toml_non_ascii(std::string_view text, std::string_view source) {
  TomlNonAsciiCheck(text, source).run();
}

// A TOML value as a user would read it in a message.
std::string describe_toml_node(const toml::node& node) {
  if (const auto* s = node.as_string()) return fmt::format("'{}'", s->get());
  if (const auto* i = node.as_integer()) return fmt::format("{}", i->get());
  if (const auto* f = node.as_floating_point()) return format_value(f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (node.is_array()) return "[...]";
  if (node.is_table()) return "{...}";
  return "a date/time";
}

// A TOML array as a list value of the key's element type; an int is
// accepted for a double element. ConfigError naming the element otherwise.
Value list_from_toml(const KeySpec& spec, const toml::array& array) {
  const ValueType element = element_type(spec.type);
  IntList ints;
  DoubleList doubles;
  StringList strings;
  for (std::size_t i = 0; i < array.size(); ++i) {
    const toml::node& node = *array.get(i);
    if (element == ValueType::String && node.is_string()) {
      strings.push_back(node.as_string()->get());
    } else if (element == ValueType::Int && node.is_integer()) {
      ints.push_back(node.as_integer()->get());
    } else if (element == ValueType::Double && (node.is_integer() || node.is_floating_point())) {
      doubles.push_back(node.is_integer() ? static_cast<double>(node.as_integer()->get())
                                          : node.as_floating_point()->get());
    } else {
      throw ConfigError(fmt::format("{}: element {} = {} is not a {}", spec.key, i + 1, describe_toml_node(node),
                                    type_name(element)));
    }
  }
  if (element == ValueType::Int) return ints;
  if (element == ValueType::Double) return doubles;
  return strings;
}

// A list as typed on the command line: a TOML array "[2, 4]" or the bare
// items "2,4" (strings unquoted, spaces around items ignored).
Value parse_list(const KeySpec& spec, std::string_view raw);

}  // namespace

namespace {

Value parse_list(const KeySpec& spec, std::string_view raw) {
  const std::string_view text = trim(raw);
  if (!text.empty() && text.front() == '[') {
    const std::string document = "value = " + std::string(text);
    check_toml_non_ascii(document, spec.key);
    try {
      const toml::table root = toml::parse(document, spec.key);
      if (const auto* array = root["value"].as_array()) return list_from_toml(spec, *array);
    } catch (const toml::parse_error& e) {
      throw ConfigError(fmt::format("{} = '{}' is not a list: {}", spec.key, raw, e.description()));
    }
    throw ConfigError(fmt::format("{} = '{}' is not a list", spec.key, raw));
  }
  const ValueType element = element_type(spec.type);
  KeySpec item_spec = spec;
  item_spec.type = element;
  IntList ints;
  DoubleList doubles;
  StringList strings;
  std::size_t start = 0;
  while (!text.empty() && start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = trim(text.substr(start, comma - start));
    if (item.empty())
      throw ConfigError(fmt::format("{} = '{}' has an empty item (give items separated by commas, e.g. 2,4,8)",
                                    spec.key, raw));
    if (element == ValueType::Int) ints.push_back(parse_int(item_spec, item));
    if (element == ValueType::Double) doubles.push_back(parse_double(item_spec, item));
    if (element == ValueType::String) strings.emplace_back(item);
    start = comma + 1;
  }
  if (element == ValueType::Int) return ints;
  if (element == ValueType::Double) return doubles;
  return strings;
}

}  // namespace

bool is_list(ValueType type) {
  return type == ValueType::IntList || type == ValueType::DoubleList || type == ValueType::StringList;
}

ValueType element_type(ValueType type) {
  switch (type) {
    case ValueType::IntList:
      return ValueType::Int;
    case ValueType::DoubleList:
      return ValueType::Double;
    case ValueType::StringList:
      return ValueType::String;
    default:
      return type;
  }
}

std::string_view type_name(ValueType type) {
  switch (type) {
    case ValueType::Int:
      return "int";
    case ValueType::Double:
      return "double";
    case ValueType::Bool:
      return "bool";
    case ValueType::String:
      return "string";
    case ValueType::IntList:
      return "list of int";
    case ValueType::DoubleList:
      return "list of double";
    case ValueType::StringList:
      return "list of string";
  }
  return "?";
}

namespace {

struct ValueFormatter {
  std::string operator()(std::int64_t v) const { return fmt::format("{}", v); }
  std::string operator()(bool v) const { return v ? "true" : "false"; }
  std::string operator()(const std::string& v) const { return v; }
  std::string operator()(double v) const { return fmt::format("{}", v); }
  template <class T>
  std::string operator()(const std::vector<T>& list) const {
    std::vector<std::string> items;
    for (const auto& item : list) items.push_back((*this)(item));
    return "[" + join(items, ", ") + "]";
  }
};

}  // namespace

std::string format_value(const Value& value) {
  return std::visit(ValueFormatter{}, value);
}

std::string allowed_text(const KeySpec& spec) {
  if (is_list(spec.type)) {
    KeySpec element = spec;
    element.type = element_type(spec.type);
    const std::string each = allowed_text(element);
    std::string text = each.empty() ? "" : "each " + each;
    if (spec.min_items > 1) text += fmt::format("{}at least {} items", text.empty() ? "" : "; ", spec.min_items);
    if (spec.unique) text += text.empty() ? "no repeats" : ", no repeats";
    return text;
  }
  if (spec.type == ValueType::Bool) return "true, false";
  if (spec.type == ValueType::String) return join(spec.choices, ", ");
  const auto bound = [&](double b) {
    return spec.type == ValueType::Int ? fmt::format("{}", static_cast<std::int64_t>(b)) : fmt::format("{}", b);
  };
  if (spec.min && spec.max) {
    return fmt::format("in {}{}, {}{}", spec.min_exclusive ? '(' : '[', bound(*spec.min), bound(*spec.max),
                       spec.max_exclusive ? ')' : ']');
  }
  if (spec.min) return fmt::format("{} {}", spec.min_exclusive ? ">" : ">=", bound(*spec.min));
  if (spec.max) return fmt::format("{} {}", spec.max_exclusive ? "<" : "<=", bound(*spec.max));
  return "";
}

std::vector<std::string> closest_names(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string w = to_lower(word);
  // Allow about one typo per three letters, so short words do not match everything.
  const std::size_t threshold = w.size() <= 3 ? 1 : (w.size() <= 6 ? 2 : 3);
  std::size_t best = threshold + 1;
  std::vector<std::string> out;
  for (const auto& candidate : candidates) {
    const std::string c = to_lower(candidate);
    std::size_t d = edit_distance(w, c);
    const auto dot = c.rfind('.');
    if (w.find('.') == std::string::npos && dot != std::string::npos) {
      d = std::min(d, edit_distance(w, std::string_view(c).substr(dot + 1)));
    }
    if (d < best) {
      best = d;
      out.clear();
    }
    if (d == best && out.size() < 3) out.push_back(candidate);
  }
  return out;
}

Schema& Schema::add(KeySpec spec) {
  const auto fail = [&](std::string_view why) {
    throw std::invalid_argument(fmt::format("schema key '{}': {}", spec.key, why));
  };
  if (!valid_key(spec.key)) fail("a key is dotted parts of letters, digits, '_' and '-'");
  if (index_.count(spec.key)) fail("declared twice");
  for (const auto& other : keys_) {
    if (other.key.rfind(spec.key + ".", 0) == 0 || spec.key.rfind(other.key + ".", 0) == 0) {
      fail(fmt::format("conflicts with key '{}' (a key cannot also be a table)", other.key));
    }
  }
  if (!type_matches(spec.type, spec.default_value)) fail("default value has the wrong type");
  if (!is_numeric(spec.type) && (spec.min || spec.max)) fail("only numeric keys have a range");
  if (element_type(spec.type) != ValueType::String && !spec.choices.empty()) fail("only string keys have choices");
  if ((spec.min && !std::isfinite(*spec.min)) || (spec.max && !std::isfinite(*spec.max))) fail("bounds must be finite");
  if (spec.min && spec.max && *spec.min > *spec.max) fail("min is above max");
  if (const std::string why = violation(spec, spec.default_value); !why.empty()) {
    fail(fmt::format("default {} {}", quoted_value(spec.default_value), why));
  }
  index_.emplace(spec.key, keys_.size());
  keys_.push_back(std::move(spec));
  return *this;
}

Schema& Schema::add_int(std::string key, std::int64_t default_value, std::string description,
                        std::optional<std::int64_t> min, std::optional<std::int64_t> max) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.type = ValueType::Int;
  spec.default_value = default_value;
  spec.description = std::move(description);
  if (min) spec.min = static_cast<double>(*min);
  if (max) spec.max = static_cast<double>(*max);
  return add(std::move(spec));
}

Schema& Schema::add_double(std::string key, double default_value, std::string description, std::optional<double> min,
                           std::optional<double> max, bool min_exclusive, bool max_exclusive) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.type = ValueType::Double;
  spec.default_value = default_value;
  spec.description = std::move(description);
  spec.min = min;
  spec.max = max;
  spec.min_exclusive = min_exclusive;
  spec.max_exclusive = max_exclusive;
  return add(std::move(spec));
}

Schema& Schema::add_bool(std::string key, bool default_value, std::string description) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.type = ValueType::Bool;
  spec.default_value = default_value;
  spec.description = std::move(description);
  return add(std::move(spec));
}

Schema& Schema::add_string(std::string key, std::string default_value, std::string description,
                           std::vector<std::string> choices) {
  KeySpec spec;
  spec.key = std::move(key);
  spec.type = ValueType::String;
  spec.default_value = std::move(default_value);
  spec.description = std::move(description);
  spec.choices = std::move(choices);
  return add(std::move(spec));
}

Schema& Schema::add_renamed(std::string old_key, std::string new_key) {
  if (index_.count(old_key)) throw std::invalid_argument("schema: renamed key '" + old_key + "' is still declared");
  renamed_[std::move(old_key)].push_back(std::move(new_key));
  return *this;
}

const std::string* Schema::renamed_to(std::string_view old_key) const {
  const auto it = renamed_.find(old_key);
  if (it == renamed_.end()) return nullptr;
  for (const auto& now : it->second)
    if (find(now)) return &now;
  return nullptr;
}

const KeySpec* Schema::find(std::string_view key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &keys_[it->second];
}

std::vector<std::string> Schema::key_names() const {
  std::vector<std::string> names;
  names.reserve(keys_.size());
  for (const auto& spec : keys_) names.push_back(spec.key);
  return names;
}

Config::Config(Schema schema) : schema_(std::move(schema)) {
  for (const auto& spec : schema_.keys()) values_.push_back(spec.default_value);
  user_set_.assign(values_.size(), false);
}

std::size_t Config::index_of(std::string_view key) const {
  if (const KeySpec* spec = schema_.find(key)) return static_cast<std::size_t>(spec - schema_.keys().data());
  if (const std::string* now = schema_.renamed_to(key))
    throw ConfigError(fmt::format("key '{}' was renamed to '{}'", key, *now));
  const auto names = schema_.key_names();
  const auto near = closest_names(key, names);
  if (near.empty()) {
    throw ConfigError(
        fmt::format("unknown key '{}' (known keys: {})", key, names.empty() ? "none" : join(names, ", ")));
  }
  std::vector<std::string> quoted;
  for (const auto& n : near) quoted.push_back("'" + n + "'");
  std::string options = quoted.back();
  if (quoted.size() > 1) {
    quoted.pop_back();
    options = join(quoted, ", ") + " or " + options;
  }
  throw ConfigError(fmt::format("unknown key '{}' (did you mean {}?)", key, options));
}

std::size_t Config::checked_index(std::string_view key, ValueType type) const {
  const KeySpec* spec = schema_.find(key);
  if (!spec) throw std::logic_error(fmt::format("config key '{}' is not declared in the schema", key));
  if (spec->type != type) {
    throw std::logic_error(
        fmt::format("config key '{}' is a {}, read as a {}", key, type_name(spec->type), type_name(type)));
  }
  return static_cast<std::size_t>(spec - schema_.keys().data());
}

void Config::set(std::string_view key, std::string_view text) {
  const std::size_t i = index_of(key);
  const KeySpec& spec = schema_.keys()[i];
  Value value;
  switch (spec.type) {
    case ValueType::Int:
      value = parse_int(spec, text);
      break;
    case ValueType::Double:
      value = parse_double(spec, text);
      break;
    case ValueType::Bool:
      value = parse_bool(spec, text);
      break;
    case ValueType::String:
      value = std::string(text);
      break;
    case ValueType::IntList:
    case ValueType::DoubleList:
    case ValueType::StringList:
      value = parse_list(spec, text);
      break;
  }
  set_value(key, value);
}

void Config::set_value(std::string_view key, const Value& value) {
  const std::size_t i = index_of(key);
  const KeySpec& spec = schema_.keys()[i];
  Value v = value;
  if (spec.type == ValueType::Double && std::holds_alternative<std::int64_t>(v)) {
    v = static_cast<double>(std::get<std::int64_t>(v));
  }
  if (spec.type == ValueType::DoubleList && std::holds_alternative<IntList>(v)) {
    const IntList& ints = std::get<IntList>(v);
    v = DoubleList(ints.begin(), ints.end());
  }
  if (!type_matches(spec.type, v)) {
    const std::string_view expected = spec.type == ValueType::Int      ? "an integer"
                                      : spec.type == ValueType::Double ? "a number"
                                      : spec.type == ValueType::Bool   ? "a boolean (true or false)"
                                      : spec.type == ValueType::String ? "a string"
                                                                       : "a list";
    throw ConfigError(fmt::format("{} = {} is not {}", spec.key, quoted_value(v), expected));
  }
  // TOML files are UTF-8: a string that is not could not be saved in the
  // run's config.toml and read back (found by fuzz/fuzz_config).
  if (const std::size_t at = invalid_utf8_in(v); at != std::string_view::npos) {
    throw ConfigError(
        fmt::format("{} = a text that is not valid UTF-8 (byte {} of it, counting from 0)", spec.key, at));
  }
  if (const std::string why = violation(spec, v); !why.empty()) {
    throw ConfigError(fmt::format("{} = {} {}", spec.key, quoted_value(v), why));
  }
  values_[i] = std::move(v);
  user_set_[i] = true;
}

void Config::set_from_assignment(std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    throw ConfigError(fmt::format("'{}' is not an assignment: expected key=value", assignment));
  }
  const std::string_view key = trim(assignment.substr(0, eq));
  if (key.empty()) throw ConfigError(fmt::format("'{}' has no key: expected key=value", assignment));
  set(key, assignment.substr(eq + 1));
}

void Config::merge_toml_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    throw ConfigError(fmt::format("config file '{}' does not exist", path.string()));
  }
  if (std::filesystem::is_directory(status)) {
    throw ConfigError(fmt::format("config file '{}' is a folder, not a TOML file", path.string()));
  }
  // A FIFO or a device named config.toml is refused before it is opened, and
  // a file larger than the input limit before it is read (read_input_file);
  // the configuration's contract is exit code 2, so its message is kept.
  std::string text;
  try {
    text = read_input_file(path, kMaxInputFileBytes);
  } catch (const DataError& e) {
    throw ConfigError(fmt::format("config file: {}", e.what()));
  }
  merge_toml_string(text, path.string());
}

void Config::merge_toml_string(std::string_view text, std::string_view source) {
  check_toml_non_ascii(text, source);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}: invalid TOML: {}", location(source, e.source()), e.description()));
  }
  // Stage on a copy so a bad key leaves this Config unchanged.
  Config staged = *this;
  const auto apply = [&](const auto& self, const toml::table& table, const std::string& prefix) -> void {
    for (const auto& [name, node] : table) {
      const std::string key = prefix + std::string(name.str());
      const std::string where = location(source, node.source());
      if (const auto* sub = node.as_table()) {
        self(self, *sub, key + ".");
        continue;
      }
      try {
        staged.index_of(key);
        if (const auto* s = node.as_string()) {
          staged.set_value(key, s->get());
        } else if (const auto* i = node.as_integer()) {
          staged.set_value(key, i->get());
        } else if (const auto* f = node.as_floating_point()) {
          staged.set_value(key, f->get());
        } else if (const auto* b = node.as_boolean()) {
          staged.set_value(key, b->get());
        } else if (const auto* array = node.as_array(); array && is_list(schema_.find(key)->type)) {
          staged.set_value(key, list_from_toml(*schema_.find(key), *array));
        } else {
          const KeySpec& spec = *schema_.find(key);
          throw ConfigError(
              fmt::format("{} = {} is not a single {} value", key, describe_toml_node(node), type_name(spec.type)));
        }
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", where, e.what()));
      }
    }
  };
  apply(apply, root, "");
  *this = std::move(staged);
}

std::int64_t Config::get_int(std::string_view key) const {
  return std::get<std::int64_t>(values_[checked_index(key, ValueType::Int)]);
}

double Config::get_double(std::string_view key) const {
  return std::get<double>(values_[checked_index(key, ValueType::Double)]);
}

bool Config::get_bool(std::string_view key) const {
  return std::get<bool>(values_[checked_index(key, ValueType::Bool)]);
}

const std::string& Config::get_string(std::string_view key) const {
  return std::get<std::string>(values_[checked_index(key, ValueType::String)]);
}

const IntList& Config::get_int_list(std::string_view key) const {
  return std::get<IntList>(values_[checked_index(key, ValueType::IntList)]);
}

const DoubleList& Config::get_double_list(std::string_view key) const {
  return std::get<DoubleList>(values_[checked_index(key, ValueType::DoubleList)]);
}

const StringList& Config::get_string_list(std::string_view key) const {
  return std::get<StringList>(values_[checked_index(key, ValueType::StringList)]);
}

const Value& Config::get(std::string_view key) const {
  const KeySpec* spec = schema_.find(key);
  if (!spec) throw std::logic_error(fmt::format("config key '{}' is not declared in the schema", key));
  return values_[static_cast<std::size_t>(spec - schema_.keys().data())];
}

bool Config::is_user_set(std::string_view key) const {
  const KeySpec* spec = schema_.find(key);
  if (!spec) throw std::logic_error(fmt::format("config key '{}' is not declared in the schema", key));
  return user_set_[static_cast<std::size_t>(spec - schema_.keys().data())];
}

std::vector<std::string> Config::user_set_keys() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < values_.size(); ++i) {
    if (user_set_[i]) out.push_back(schema_.keys()[i].key);
  }
  return out;
}

std::string Config::to_toml() const {
  // TOML wants every bare key before the first [table], so group by the
  // table (the part before the last dot), tables in order of first use.
  std::vector<std::string> tables;
  std::vector<std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < values_.size(); ++i) {
    const std::string& key = schema_.keys()[i].key;
    const auto dot = key.rfind('.');
    const std::string table = dot == std::string::npos ? "" : key.substr(0, dot);
    auto it = std::find(tables.begin(), tables.end(), table);
    if (it == tables.end()) {
      // The top-level group always comes first.
      it = table.empty() ? tables.insert(tables.begin(), table) : tables.insert(tables.end(), table);
      members.insert(members.begin() + (it - tables.begin()), std::vector<std::size_t>{});
    }
    members[it - tables.begin()].push_back(i);
  }
  std::string out;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    bool after_header = false;
    if (!tables[t].empty()) {
      if (!out.empty()) out += '\n';
      out += fmt::format("[{}]\n", tables[t]);
      after_header = true;
    }
    for (std::size_t i : members[t]) {
      const KeySpec& spec = schema_.keys()[i];
      if (!out.empty() && !after_header) out += '\n';
      after_header = false;
      // The description, then the type and what is allowed, as comments.
      std::istringstream lines(spec.description);
      for (std::string line; std::getline(lines, line);) out += fmt::format("# {}\n", line);
      const std::string allowed = allowed_text(spec);
      out += fmt::format("# [{}{}{}]\n", type_name(spec.type), allowed.empty() ? "" : ": ", allowed);
      const auto dot = spec.key.rfind('.');
      const std::string leaf = dot == std::string::npos ? spec.key : spec.key.substr(dot + 1);
      out += fmt::format("{} = {}\n", leaf, toml_value(values_[i]));
    }
  }
  return out;
}

}  // namespace diffgen
