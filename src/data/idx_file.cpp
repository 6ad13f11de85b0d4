#include "data/idx_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <limits>
#include <stdexcept>

#include "core/error.hpp"
#include "core/io.hpp"
#include "core/limits.hpp"
#include "data/gzip_file.hpp"

namespace diffgen {
namespace {

constexpr unsigned kTypeUnsignedByte = 0x08;

// The IDX types of the format's description, for messages.
std::string type_name(unsigned type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "not an IDX type";
  }
}

std::uint32_t read_be32(std::string_view bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

std::string dims_text(const std::vector<std::uint64_t>& dims) {
  return fmt::format("{}", fmt::join(dims, " x "));
}

// Magic number, type and dimension count (bytes 0 to 3); returns the count.
std::size_t idx_dimension_count(std::string_view bytes, std::string_view name) {
  // The two zero bytes are checked as far as the file goes, so that a short
  // file that is not IDX at all is called that rather than "truncated".
  for (std::size_t i = 0; i < 2 && i < bytes.size(); ++i) {
    if (bytes[i] != '\0') {
      throw DataError(
          fmt::format("{}: byte {}: not an IDX file (its first two bytes must be zero, this one is 0x{:02x})", name, i,
                      static_cast<unsigned char>(bytes[i])));
    }
  }
  if (bytes.size() < 4) {
    throw DataError(fmt::format("{}: truncated: the IDX magic number takes bytes 0 to 3, the file has {} byte{}", name,
                                bytes.size(), bytes.size() == 1 ? "" : "s"));
  }
  const unsigned type = static_cast<unsigned char>(bytes[2]);
  if (type != kTypeUnsignedByte) {
    throw DataError(
        fmt::format("{}: byte 2: IDX data type 0x{:02x} ({}) is not supported; only 0x08 (unsigned byte) is", name,
                    type, type_name(type)));
  }
  const std::size_t count = static_cast<unsigned char>(bytes[3]);
  if (count < 1 || count > static_cast<std::size_t>(kMaxIdxDimensions)) {
    throw DataError(
        fmt::format("{}: byte 3: {} dimensions; an IDX array here has 1 to {}", name, count, kMaxIdxDimensions));
  }
  return count;
}

// The dimensions (bytes 4 to 4 + 4 count - 1) and the number of values,
// checked against kMaxIdxDataBytes without overflow.
std::vector<std::uint64_t> idx_dims(std::string_view bytes, std::size_t count, std::string_view name,
                                    std::uint64_t& values) {
  const std::size_t header = idx_header_bytes(count);
  if (bytes.size() < header) {
    throw DataError(fmt::format("{}: truncated: the sizes of {} dimensions take bytes 4 to {}, the file has {} bytes",
                                name, count, header - 1, bytes.size()));
  }
  std::vector<std::uint64_t> dims(count);
  for (std::size_t k = 0; k < count; ++k) {
    dims[k] = read_be32(bytes, 4 + 4 * k);
    if (dims[k] == 0) {
      throw DataError(fmt::format("{}: byte {}: dimension {} of {} has size 0: the array holds no data", name,
                                  4 + 4 * k, k + 1, count));
    }
  }
  // Each factor is below 2^32 and the running product stays at most 2^30
  // (or the loop stops), so no product below can overflow 64 bits.
  values = 1;
  for (std::size_t k = 0; k < count; ++k) {
    values *= dims[k];
    if (values > kMaxIdxDataBytes) {
      throw DataError(fmt::format("{}: byte 4: dimensions {} hold more than {} of data (the limit for an IDX array)",
                                  name, dims_text(dims), format_bytes(static_cast<double>(kMaxIdxDataBytes))));
    }
  }
  return dims;
}

}  // namespace

std::size_t idx_header_bytes(std::size_t num_dims) {
  return 4 + 4 * num_dims;
}

IdxArray parse_idx(std::string_view bytes, std::string_view name) {
  if (bytes.empty()) throw DataError(fmt::format("{} is empty: no IDX header", name));
  const std::size_t count = idx_dimension_count(bytes, name);
  std::uint64_t values = 0;
  const std::vector<std::uint64_t> dims = idx_dims(bytes, count, name, values);
  const std::size_t begin = idx_header_bytes(count);
  const std::uint64_t available = bytes.size() - begin;
  if (available < values) {
    throw DataError(fmt::format(
        "{}: truncated: dimensions {} need {} bytes of data after byte {}, the file has {} ({} of {} records complete)",
        name, dims_text(dims), values, begin, available, available / (values / dims[0]), dims[0]));
  }
  if (available > values) {
    throw DataError(fmt::format("{}: byte {}: {} bytes after the data (dimensions {} need {} bytes after byte {})",
                                name, begin + values, available - values, dims_text(dims), values, begin));
  }
  IdxArray array;
  array.dims.assign(dims.begin(), dims.end());
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(begin), bytes.end());
  return array;
}

IdxArray load_idx(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::string extension = file.extension().string();
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::uint64_t max_content = kMaxIdxDataBytes + idx_header_bytes(kMaxIdxDimensions);
  if (extension != ".gz") return parse_idx(read_input_file(file, max_content), name);
  // A .gz file: the compressed file is held to the general input limit, its
  // content to what the largest IDX array needs.
  const std::string content = gzip_decompress(read_input_file(file, kMaxInputFileBytes), name, max_content);
  return parse_idx(content, name + " (decompressed)");
}

std::string encode_idx(const IdxArray& array) {
  const std::size_t count = array.dims.size();
  if (count < 1 || count > static_cast<std::size_t>(kMaxIdxDimensions)) {
    throw std::invalid_argument(fmt::format("encode_idx: {} dimensions (1 to {})", count, kMaxIdxDimensions));
  }
  std::uint64_t values = 1;
  for (Index d : array.dims) {
    if (d < 1 || static_cast<std::uint64_t>(d) > std::numeric_limits<std::uint32_t>::max()) {
      throw std::invalid_argument(fmt::format("encode_idx: dimension {} does not fit (1 to 2^32 - 1)", d));
    }
    if (__builtin_mul_overflow(values, static_cast<std::uint64_t>(d), &values) || values > array.data.size()) {
      throw std::invalid_argument(fmt::format("encode_idx: dimensions {} do not match {} values",
                                              fmt::join(array.dims, " x "), array.data.size()));
    }
  }
  if (values != array.data.size()) {
    throw std::invalid_argument(fmt::format("encode_idx: dimensions {} do not match {} values",
                                            fmt::join(array.dims, " x "), array.data.size()));
  }
  std::string out{'\0', '\0', static_cast<char>(kTypeUnsignedByte), static_cast<char>(count)};
  for (Index d : array.dims) {
    const auto v = static_cast<std::uint32_t>(d);
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
  }
  out.append(array.data.begin(), array.data.end());
  return out;
}

}  // namespace diffgen
