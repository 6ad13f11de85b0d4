// libFuzzer target: the IDX reader on arbitrary bytes, plain or (when they
// start with the gzip magic number) gzipped, as load_idx reads a .gz file. A
// DataError is the expected answer to bad input; any other exception, a
// crash, a sanitizer report, a leak, a hang or an allocation beyond
// -rss_limit_mb (a hostile size, a decompression bomb) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "data/gzip_file.hpp"
#include "data/idx_file.hpp"

namespace {

// Decompressed content beyond this is refused, as load_idx refuses content
// beyond kMaxIdxDataBytes: smaller here so that a run stays within
// -rss_limit_mb.
constexpr std::uint64_t kMaxContent = std::uint64_t{16} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string content;
  diffgen::IdxArray array;
  try {
    content =
        diffgen::is_gzip(bytes) ? diffgen::gzip_decompress(bytes, "fuzz.idx.gz", kMaxContent) : std::string(bytes);
    array = diffgen::parse_idx(content, "fuzz.idx");
  } catch (const diffgen::DataError&) {
    return 0;
  }
  // What a successful parse promises: 1 to 4 dimensions, none of size 0,
  // exactly as many values as they multiply to, and the whole content used:
  // encoding the array again gives back the same bytes.
  if (array.dims.empty() || array.dims.size() > static_cast<std::size_t>(diffgen::kMaxIdxDimensions)) __builtin_trap();
  std::uint64_t values = 1;
  for (diffgen::Index d : array.dims) {
    if (d < 1) __builtin_trap();
    values *= static_cast<std::uint64_t>(d);
  }
  if (values != array.data.size() || values > content.size()) __builtin_trap();
  if (diffgen::encode_idx(array) != content) __builtin_trap();
  return 0;
}
