#include "core/io.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "core/error.hpp"
#include "core/limits.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;

std::atomic<unsigned> g_temp_counter{0};

std::string csv_quote(std::string_view field) {
  const bool needs_quotes = field.find_first_of(",\"\r\n") != std::string_view::npos ||
                            (!field.empty() && (field.front() == ' ' || field.back() == ' '));
  if (!needs_quotes) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// RFC 6901: '~' and '/' inside a key are escaped.
std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

void check_finite(const nlohmann::json& value, const std::string& pointer) {
  if (value.is_number_float()) {
    const double x = value.get<double>();
    if (!std::isfinite(x)) {
      throw NumericalError(fmt::format("JSON value at {} is {}: JSON cannot hold it (use null for a missing value)",
                                       pointer.empty() ? "/" : pointer, format_double(x)));
    }
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) check_finite(item, pointer + "/" + pointer_token(key));
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) check_finite(value[i], fmt::format("{}/{}", pointer, i));
  }
}

}  // namespace

std::string read_text_file(const fs::path& path) {
  return read_input_file(path, kMaxInputFileBytes);
}

namespace {

// Why `info` is not a file to read whole, or empty.
std::string not_a_regular_file(const struct stat& info) {
  if (S_ISREG(info.st_mode)) return {};
  if (S_ISDIR(info.st_mode)) return "it is a folder, not a file";
  if (S_ISFIFO(info.st_mode)) return "it is a pipe (FIFO), not a regular file";
  if (S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode)) return "it is a device, not a regular file";
  if (S_ISSOCK(info.st_mode)) return "it is a socket, not a regular file";
  return "it is not a regular file";
}

std::string too_large(const fs::path& path, std::uint64_t size, std::uint64_t max_bytes) {
  return fmt::format("cannot read '{}': it is {} long, more than the {} an input file may have", path.string(),
                     format_bytes(static_cast<double>(size)), format_bytes(static_cast<double>(max_bytes)));
}

}  // namespace

std::string read_input_file(const fs::path& path, std::uint64_t max_bytes) {
  const std::string name = path.string();
  // stat (following symlinks) before open: opening a FIFO would block.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw DataError(fmt::format("cannot open '{}': {}", name, std::strerror(errno)));
  if (auto why = not_a_regular_file(info); !why.empty())
    throw DataError(fmt::format("cannot read '{}': {}", name, why));
  if (static_cast<std::uint64_t>(info.st_size) > max_bytes)
    throw DataError(too_large(path, static_cast<std::uint64_t>(info.st_size), max_bytes));
  // O_NONBLOCK: should the path have been replaced by a FIFO since the stat,
  // the open still returns, and the fstat below refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw DataError(fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &info) != 0) throw DataError(fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
  if (auto why = not_a_regular_file(info); !why.empty())
    throw DataError(fmt::format("cannot read '{}': {}", name, why));
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(info.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw DataError(fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
    }
    if (got == 0) break;
    // A file that grows while it is read is held to the same limit.
    if (bytes.size() + static_cast<std::size_t>(got) > max_bytes)
      throw DataError(too_large(path, bytes.size() + static_cast<std::uint64_t>(got), max_bytes));
    bytes.append(buffer, static_cast<std::size_t>(got));
  }
  return bytes;
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  fs::path parent = path.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec)
    throw DataError(
        fmt::format("cannot create folder '{}' for '{}': {}", parent.string(), path.string(), ec.message()));

  // A unique name beside the target, so the rename stays on one file system
  // and is atomic. O_EXCL guards against a clash with another writer.
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = (parent / fmt::format(".{}.tmp.{}.{}", path.filename().string(), ::getpid(), g_temp_counter++)).string();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw DataError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));

  const auto fail = [&](int err) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw DataError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
  };
  const char* data = contents.data();
  std::size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail(errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw DataError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw DataError(fmt::format("cannot write '{}': {}", path.string(), std::strerror(err)));
  }
  // Make the rename itself durable; best effort, as some file systems refuse.
  const int dir_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string format_double(double x) {
  return fmt::format("{}", x);
}

CsvCell CsvCell::finite_or_missing(double x) {
  return std::isfinite(x) ? CsvCell(x) : CsvCell();
}

bool CsvCell::is_non_finite() const {
  const auto* x = std::get_if<double>(&value_);
  return x && !std::isfinite(*x);
}

std::string CsvCell::text() const {
  struct Formatter {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(std::int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(std::uint64_t v) const { return fmt::format("{}", v); }
    std::string operator()(double v) const { return format_double(v); }
    std::string operator()(const std::string& v) const { return v; }
  };
  return std::visit(Formatter{}, value_);
}

CsvTable::CsvTable(std::vector<std::string> columns) : columns_(std::move(columns)) {
  if (columns_.empty()) throw std::invalid_argument("a CSV table needs at least one column");
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (columns_[i] == columns_[j])
        throw std::invalid_argument(fmt::format("CSV column '{}' appears twice", columns_[i]));
    }
  }
  missing_allowed_.assign(columns_.size(), false);
}

std::size_t CsvTable::column_index(std::string_view column) const {
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == column) return i;
  }
  throw std::invalid_argument(fmt::format("CSV table has no column '{}'", column));
}

void CsvTable::allow_missing(std::string_view column) {
  missing_allowed_[column_index(column)] = true;
}

void CsvTable::add_row(std::vector<CsvCell> row) {
  if (row.size() != columns_.size()) {
    throw std::invalid_argument(
        fmt::format("CSV row has {} cells but the table has {} columns", row.size(), columns_.size()));
  }
  for (std::size_t j = 0; j < row.size(); ++j) {
    if (!row[j].is_non_finite()) continue;
    if (missing_allowed_[j]) {
      row[j] = CsvCell::missing();
      continue;
    }
    // Name the row by its other cells (seed, epoch, ...) so the failure can be located.
    std::string context;
    for (std::size_t k = 0; k < row.size(); ++k) {
      if (k == j) continue;
      context += fmt::format("{}{}={}", context.empty() ? "" : ", ", columns_[k], row[k].text());
    }
    throw NumericalError(fmt::format("non-finite value {} in column '{}', row {} ({})", row[j].text(), columns_[j],
                                     rows_.size() + 1, context));
  }
  rows_.push_back(std::move(row));
}

std::string CsvTable::to_string() const {
  std::string out;
  const auto append_line = [&](const auto& fields, const auto& text_of) {
    for (std::size_t j = 0; j < fields.size(); ++j) {
      if (j > 0) out += ',';
      out += csv_quote(text_of(fields[j]));
    }
    out += '\n';
  };
  append_line(columns_, [](const std::string& s) { return s; });
  for (const auto& row : rows_) append_line(row, [](const CsvCell& c) { return c.text(); });
  return out;
}

void CsvTable::write(const fs::path& path) const {
  write_file_atomic(path, to_string());
}

std::string to_json_text(const nlohmann::json& value) {
  check_finite(value, "");
  // Invalid UTF-8 in a label should not lose a finished run's summary.
  return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void write_json_atomic(const fs::path& path, const nlohmann::json& value) {
  try {
    write_file_atomic(path, to_json_text(value));
  } catch (const NumericalError& e) {
    throw NumericalError(fmt::format("{}: {}", path.string(), e.what()));
  }
}

int remove_temporaries(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> leftovers;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos && it->is_regular_file(ec))
      leftovers.push_back(it->path());
  }
  int removed = 0;
  for (const auto& path : leftovers) removed += fs::remove(path, ec) ? 1 : 0;
  return removed;
}

}  // namespace diffgen
