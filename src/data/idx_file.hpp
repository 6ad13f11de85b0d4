// IDX files: the format of the MNIST distribution (LeCun, Cortes and Burges,
// "The MNIST database of handwritten digits", file formats section), also
// used by Fashion-MNIST (Xiao, Rasul and Vollgraf 2017). A file is
//
//   bytes 0-1   zero
//   byte  2     the data type: 0x08 unsigned byte (0x09 signed byte, 0x0B
//               int16, 0x0C int32, 0x0D float32, 0x0E float64 exist but
//               are refused here: the image sets diffgen reads are bytes)
//   byte  3     the number of dimensions, 1 to 4 here
//   then        one big-endian uint32 per dimension
//   then        the values in C order (last index fastest), nothing after.
//
// MNIST's train-images-idx3-ubyte is 60000 x 28 x 28, its labels file 60000.
// load_idx reads plain files and gzip files (name ending in .gz, as Debian's
// dataset-fashion-mnist ships them).
//
// Every problem is a DataError (exit code 3) naming the file, what is wrong
// and where: a byte offset (0-based, in the decompressed content for a .gz
// file). The parser takes the bytes in memory and the name only for messages;
// it is fuzzed (fuzz/fuzz_idx.cpp) and allocates no more than the input's own
// size justifies, and never more than kMaxIdxDataBytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace diffgen {

// The largest array read: 1 GiB of values (MNIST's training images are 45 MiB).
inline constexpr std::uint64_t kMaxIdxDataBytes = std::uint64_t{1} << 30;
// Dimensions an IDX array may have here (images: 3, labels: 1).
inline constexpr int kMaxIdxDimensions = 4;

// An array of unsigned bytes with its dimensions, C order.
struct IdxArray {
  std::vector<Index> dims;         // each >= 1
  std::vector<std::uint8_t> data;  // the product of dims values
};

// The number of bytes before the data in an IDX file with `num_dims`
// dimensions (4 + 4 num_dims): where record k of a 1-D file is, in messages.
std::size_t idx_header_bytes(std::size_t num_dims);

// Parses the bytes of an IDX file (not gzipped); `name` is used in messages.
// Throws DataError for an empty or short header, a bad magic number, a type
// other than 0x08, zero or more than kMaxIdxDimensions dimensions, a
// dimension of size 0, a size beyond kMaxIdxDataBytes, missing data (how many
// bytes were expected and found) and bytes after the data.
IdxArray parse_idx(std::string_view bytes, std::string_view name);

// Reads `file` and parses it; a name ending in ".gz" (any case) is inflated
// first. Throws DataError for a missing or unreadable file, a corrupt or
// truncated gzip stream, or anything parse_idx refuses.
IdxArray load_idx(const std::filesystem::path& file);

// The bytes of an IDX file holding `array` (type 0x08): what parse_idx reads
// back. Throws std::invalid_argument when the dimensions do not fit the
// format (1 to 4, each 1 to 2^32 - 1) or do not match the data's length.
std::string encode_idx(const IdxArray& array);

}  // namespace diffgen
