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
  switch (type) {
    case ValueType::Int:
      return std::holds_alternative<std::int64_t>(value);
    case ValueType::Double:
      return std::holds_alternative<double>(value);
    case ValueType::Bool:
      return std::holds_alternative<bool>(value);
    case ValueType::String:
      return std::holds_alternative<std::string>(value);
  }
  return false;
}

// "" when the value is allowed, otherwise the reason (without the key).
std::string violation(const KeySpec& spec, const Value& value) {
  if (spec.type == ValueType::Int || spec.type == ValueType::Double) {
    const double x =
        spec.type == ValueType::Int ? static_cast<double>(std::get<std::int64_t>(value)) : std::get<double>(value);
    if (!std::isfinite(x)) return "is not a finite number";
    const bool below = spec.min && (spec.min_exclusive ? x <= *spec.min : x < *spec.min);
    const bool above = spec.max && (spec.max_exclusive ? x >= *spec.max : x > *spec.max);
    if (below || above) return "is out of range: must be " + allowed_text(spec);
  }
  if (spec.type == ValueType::String && !spec.choices.empty()) {
    const auto& s = std::get<std::string>(value);
    if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
      return fmt::format("is not allowed (allowed: {})", join(spec.choices, ", "));
    }
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
// the next line), with a message saying how to write it instead.
void check_toml_non_ascii(std::string_view text, std::string_view source) {
  std::size_t line = 1, line_start = 0;
  const auto fail = [&](std::size_t at, std::string_view what) {
    // Columns count characters, as toml++'s do: UTF-8 continuation bytes are not counted.
    std::size_t column = 1;
    for (std::size_t k = line_start; k < at; ++k) column += (static_cast<unsigned char>(text[k]) & 0xC0) != 0x80;
    throw ConfigError(fmt::format("{}:{}:{}: invalid TOML: {}", source, line, column, what));
  };
  const auto non_ascii = [&](std::size_t k) { return k < text.size() && static_cast<unsigned char>(text[k]) >= 0x80; };
  const auto triple = [&](std::size_t k, char q) {
    return k + 2 < text.size() && text[k] == q && text[k + 1] == q && text[k + 2] == q;
  };
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  // toml++'s value terminators: whitespace, ',', ']', '}', '#'.
  const auto ends_value = [&](char c) { return is_space(c) || c == ',' || c == ']' || c == '}' || c == '#'; };

  enum class State { kOutside, kComment, kBasic, kMultiBasic, kLiteral, kMultiLiteral } state = State::kOutside;
  enum class Open { kArray, kInlineTable, kHeader };
  std::vector<Open> open;      // brackets and braces around the current position
  bool value_next = false;     // the next token is a value (after '=', in an array)
  std::size_t bare_begin = 0;  // where the bare value being scanned began
  bool in_bare = false;        // inside a bare value, which toml++ scans to a terminator
  for (std::size_t k = 0; k < text.size(); ++k) {
    const char c = text[k];
    if (c == '\n') {
      ++line;
      line_start = k + 1;
      // Comments and single-line strings end with their line (an
      // unterminated string is toml++'s to report).
      if (state == State::kComment || state == State::kBasic || state == State::kLiteral) state = State::kOutside;
    }
    switch (state) {
      case State::kOutside:
        if (non_ascii(k)) fail(k, "non-ASCII characters are allowed only in strings and comments");
        if (in_bare) {
          if (!ends_value(c)) break;
          // toml++ reads on past one space after a date, for a date-time
          // written with a space instead of 'T'.
          const std::string_view bare = text.substr(bare_begin, k - bare_begin);
          const bool date = bare.size() == 10 && bare[4] == '-' && bare[7] == '-' &&
                            bare.find_first_not_of("0123456789-") == std::string_view::npos;
          if (date && c == ' ') break;
          in_bare = false;
        }
        switch (c) {
          case '\n':
            // Only arrays continue on the next line.
            while (!open.empty() && open.back() != Open::kArray) open.pop_back();
            if (open.empty()) value_next = false;
            break;
          case '#':
            state = State::kComment;
            break;
          case '=':
            value_next = true;
            break;
          case '"':
          case '\'': {
            const bool multi = triple(k, c);
            state = c == '"' ? (multi ? State::kMultiBasic : State::kBasic)
                             : (multi ? State::kMultiLiteral : State::kLiteral);
            if (multi) k += 2;
            value_next = false;
            break;
          }
          case '[':
            open.push_back(value_next ? Open::kArray : Open::kHeader);
            break;
          case '{':
            open.push_back(Open::kInlineTable);
            value_next = false;
            break;
          case ',':
            value_next = !open.empty() && open.back() == Open::kArray;
            break;
          case ']':
          case '}':
            if (!open.empty()) open.pop_back();
            value_next = false;
            break;
          default:
            if (value_next && !is_space(c)) {
              in_bare = true;
              bare_begin = k;
              value_next = false;
            }
        }
        break;
      case State::kComment:
        break;
      case State::kBasic:
      case State::kMultiBasic:
        if (c == '\\') {
          if (non_ascii(k + 1)) fail(k, "a backslash escape is followed by a non-ASCII character");
          if (state == State::kMultiBasic && k + 1 < text.size() && is_space(text[k + 1])) {
            // A line-ending backslash: toml++ skips the whitespace after it.
            std::size_t next = k + 1;
            for (; next < text.size() && is_space(text[next]); ++next) {
              if (text[next] == '\n') {
                ++line;
                line_start = next + 1;
              }
            }
            if (non_ascii(next)) {
              fail(next,
                   "a non-ASCII character right after a line-ending backslash is not supported: start the line with "
                   "an ASCII character or write it as a \\u escape");
            }
            k = next - 1;
          } else if (k + 1 < text.size() && text[k + 1] != '\n') {
            ++k;  // the escaped character, which may be a quote
          }
        } else if (state == State::kBasic && c == '"') {
          state = State::kOutside;
        } else if (state == State::kMultiBasic && triple(k, '"')) {
          k += 2;
          // Up to two more quotes belong to the string (TOML 1.0).
          for (int extra = 0; extra < 2 && k + 1 < text.size() && text[k + 1] == '"'; ++extra) ++k;
          state = State::kOutside;
        }
        break;
      case State::kLiteral:
        if (c == '\'') state = State::kOutside;
        break;
      case State::kMultiLiteral:
        if (triple(k, '\'')) {
          k += 2;
          for (int extra = 0; extra < 2 && k + 1 < text.size() && text[k + 1] == '\''; ++extra) ++k;
          state = State::kOutside;
        }
        break;
    }
  }
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

}  // namespace

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
  }
  return "?";
}

std::string format_value(const Value& value) {
  struct Formatter {
    std::string operator()(std::int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return v; }
    std::string operator()(double v) const { return fmt::format("{}", v); }
  };
  return std::visit(Formatter{}, value);
}

std::string allowed_text(const KeySpec& spec) {
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
  const bool numeric = spec.type == ValueType::Int || spec.type == ValueType::Double;
  if (!numeric && (spec.min || spec.max)) fail("only numeric keys have a range");
  if (spec.type != ValueType::String && !spec.choices.empty()) fail("only string keys have choices");
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
  if (!type_matches(spec.type, v)) {
    const std::string_view expected = spec.type == ValueType::Int      ? "an integer"
                                      : spec.type == ValueType::Double ? "a number"
                                      : spec.type == ValueType::Bool   ? "a boolean (true or false)"
                                                                       : "a string";
    throw ConfigError(fmt::format("{} = {} is not {}", spec.key, quoted_value(v), expected));
  }
  // TOML files are UTF-8: a string that is not could not be saved in the
  // run's config.toml and read back (found by fuzz/fuzz_config).
  if (const auto* text = std::get_if<std::string>(&v)) {
    if (const std::size_t at = invalid_utf8_at(*text); at != std::string_view::npos) {
      throw ConfigError(
          fmt::format("{} = a text that is not valid UTF-8 (byte {} of it, counting from 0)", spec.key, at));
    }
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
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw ConfigError(fmt::format("config file '{}' cannot be read", path.string()));
  merge_toml_string(text.str(), path.string());
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
