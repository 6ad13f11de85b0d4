// gzip streams in memory (RFC 1952), through zlib: the Fashion-MNIST files of
// Debian's dataset-fashion-mnist are gzipped IDX files, and a reader that
// inflates them itself needs no gunzip beside diffgen.
//
// Decompression is bounded: the caller says how many bytes the content may
// have, and a stream that inflates to more (a damaged length, a deliberate
// "zip bomb") is refused before it is held in memory. Every problem is a
// DataError (exit code 3) naming the file and the compressed byte offset
// where it went wrong. Concatenated gzip members (what `cat a.gz b.gz`
// makes, and what gunzip accepts) decompress to their concatenation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace diffgen {

// True when `bytes` starts with the gzip magic number 1f 8b.
bool is_gzip(std::string_view bytes);

// The decompressed content of the gzip stream `compressed`, at most
// `max_bytes` long. `name` is used in messages. Throws DataError when the
// stream is empty, is not gzip, is corrupt (a bad header, block or checksum),
// ends before its last member does, is followed by bytes that are not another
// member, or decompresses to more than `max_bytes`.
std::string gzip_decompress(std::string_view compressed, std::string_view name, std::uint64_t max_bytes);

// One gzip member holding `bytes` (best compression, no file name, time 0,
// so equal input gives equal output): for tests and fixtures. gunzip reads it.
std::string gzip_compress(std::string_view bytes);

}  // namespace diffgen
