#include "data/gzip_file.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "core/error.hpp"
#include "core/limits.hpp"

namespace diffgen {
namespace {

// zlib counts in uInt (32 bits); larger inputs are fed in pieces.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
// Output is produced in steps that double from the first to the largest
// one, so that the string grows with what the stream really holds (a small
// file costs little), not with max_bytes.
constexpr std::size_t kFirstOutputStep = std::size_t{1} << 14;
constexpr std::size_t kOutputStep = std::size_t{1} << 20;

// An inflate stream for gzip members (windowBits 15 + 16: gzip header and
// trailer, no zlib or raw deflate), released when it goes out of scope.
class Inflater {
 public:
  explicit Inflater(std::string_view name) {
    if (inflateInit2(&stream_, 15 + 16) != Z_OK) {
      throw DataError(fmt::format("{}: cannot start gzip decompression (out of memory)", name));
    }
  }
  ~Inflater() { inflateEnd(&stream_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  z_stream& stream() { return stream_; }

 private:
  z_stream stream_{};
};

std::string member_error(std::string_view name, std::uint64_t at, const z_stream& stream, int code) {
  const char* why = stream.msg != nullptr ? stream.msg : (code == Z_MEM_ERROR ? "out of memory" : "invalid data");
  return fmt::format("{}: compressed byte {}: corrupt gzip stream ({})", name, at, why);
}

}  // namespace

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::string gzip_decompress(std::string_view compressed, std::string_view name, std::uint64_t max_bytes) {
  if (compressed.empty()) throw DataError(fmt::format("{} is empty: no gzip stream", name));
  if (!is_gzip(compressed)) {
    throw DataError(fmt::format("{}: byte 0: not a gzip file (it does not start with the bytes 1f 8b)", name));
  }
  Inflater inflater(name);
  z_stream& stream = inflater.stream();
  std::string out;
  std::size_t in_pos = 0;     // compressed bytes handed to zlib so far
  std::size_t member_at = 0;  // where the current member starts
  for (;;) {
    // Input: what is left, in pieces zlib's 32-bit counters can hold.
    if (stream.avail_in == 0 && in_pos < compressed.size()) {
      const std::size_t chunk = std::min(compressed.size() - in_pos, kMaxChunk);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data() + in_pos));
      stream.avail_in = static_cast<uInt>(chunk);
      in_pos += chunk;
    }
    // Output: room for one more step, but never past max_bytes + 1 (one
    // byte beyond the limit proves the content is too long).
    const std::uint64_t limit = max_bytes == std::numeric_limits<std::uint64_t>::max() ? max_bytes : max_bytes + 1;
    const std::size_t step = std::clamp(out.size(), kFirstOutputStep, kOutputStep);
    const std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(step, limit - out.size()));
    const std::size_t before = out.size();
    out.resize(before + room);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(room);
    const std::uint64_t consumed_before = in_pos - stream.avail_in;
    const int code = inflate(&stream, Z_NO_FLUSH);
    out.resize(before + room - stream.avail_out);
    const std::uint64_t consumed = in_pos - stream.avail_in;
    if (out.size() > max_bytes) {
      throw DataError(fmt::format("{}: the gzip stream decompresses to more than {} (the limit for this file)", name,
                                  format_bytes(static_cast<double>(max_bytes))));
    }
    if (code == Z_STREAM_END) {
      if (consumed == compressed.size()) return out;
      // Another member may follow; anything else is trailing garbage.
      if (!is_gzip(compressed.substr(consumed))) {
        throw DataError(fmt::format("{}: compressed byte {}: {} bytes after the end of the gzip stream", name, consumed,
                                    compressed.size() - consumed));
      }
      member_at = consumed;
      inflateReset(&stream);
      continue;
    }
    if (code != Z_OK && code != Z_BUF_ERROR) throw DataError(member_error(name, consumed, stream, code));
    // No progress with input left means zlib wants more input than there is.
    const bool input_exhausted = in_pos == compressed.size() && stream.avail_in == 0;
    if (input_exhausted && consumed == consumed_before && out.size() == before) {
      throw DataError(fmt::format(
          "{}: truncated gzip stream: the file ends at byte {} inside the member that starts at byte {} ({} "
          "decompressed so far)",
          name, compressed.size(), member_at, format_bytes(static_cast<double>(out.size()))));
    }
  }
}

std::string gzip_compress(std::string_view bytes) {
  z_stream stream{};
  // windowBits 15 + 16: a gzip header (no name, time 0) and trailer.
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("gzip_compress: deflateInit2 failed");
  }
  std::string out;
  std::size_t in_pos = 0;
  int code = Z_OK;
  do {
    if (stream.avail_in == 0 && in_pos < bytes.size()) {
      const std::size_t chunk = std::min(bytes.size() - in_pos, kMaxChunk);
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + in_pos));
      stream.avail_in = static_cast<uInt>(chunk);
      in_pos += chunk;
    }
    const int flush = in_pos == bytes.size() ? Z_FINISH : Z_NO_FLUSH;
    const std::size_t before = out.size();
    out.resize(before + kOutputStep);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(kOutputStep);
    code = deflate(&stream, flush);
    out.resize(before + kOutputStep - stream.avail_out);
  } while (code == Z_OK || code == Z_BUF_ERROR);
  deflateEnd(&stream);
  if (code != Z_STREAM_END) throw std::runtime_error(fmt::format("gzip_compress: deflate failed ({})", code));
  return out;
}

}  // namespace diffgen
