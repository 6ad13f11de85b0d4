#include "data/gzip_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace diffgen {
namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kNoLimit = std::uint64_t{1} << 40;

std::string bytes_of(std::initializer_list<unsigned> values) {
  std::string out;
  for (unsigned v : values) out += static_cast<char>(v);
  return out;
}

// `printf 'diffgen\n' | gzip -n -9`: one member, deflate, no name, time 0,
// then CRC-32 0x14347ff2 and length 8, little-endian.
const std::string kDiffgenGz =
    bytes_of({0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0xc9, 0x4c, 0x4b,
              0x4b, 0x4f, 0xcd, 0xe3, 0x02, 0x00, 0xf2, 0x7f, 0x34, 0x14, 0x08, 0x00, 0x00, 0x00});

// gzip_decompress(compressed) throws DataError (exit code 3) naming the
// stream and containing every one of `parts`.
void expect_error(const std::string& compressed, std::uint64_t max_bytes, std::initializer_list<std::string> parts) {
  try {
    gzip_decompress(compressed, "data.gz", max_bytes);
  } catch (const DataError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_THAT(e.what(), HasSubstr("data.gz"));
    for (const auto& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
    return;
  }
  ADD_FAILURE() << "gzip_decompress did not throw DataError";
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::string out(n, '\0');
  // Few distinct values, so that deflate has something to compress.
  for (char& c : out) c = static_cast<char>(rng.below(4) * 60);
  return out;
}

TEST(GzipFile, DecompressesWhatGzipWrote) {
  EXPECT_EQ(gzip_decompress(kDiffgenGz, "diffgen.gz", kNoLimit), "diffgen\n");
}

TEST(GzipFile, CompressesToTheGzipHeaderAndTrailer) {
  const std::string gz = gzip_compress("diffgen\n");
  // Header: magic, deflate, no flags, time 0, best compression, Unix.
  EXPECT_EQ(gz.substr(0, 10), kDiffgenGz.substr(0, 10));
  // Trailer: the CRC-32 of the content and its length.
  EXPECT_EQ(gz.substr(gz.size() - 8), kDiffgenGz.substr(kDiffgenGz.size() - 8));
  EXPECT_EQ(gzip_decompress(gz, "diffgen.gz", kNoLimit), "diffgen\n");
}

TEST(GzipFile, RoundTripsEmptyAndLargeContent) {
  EXPECT_EQ(gzip_decompress(gzip_compress(""), "empty.gz", kNoLimit), "");
  // Larger than the decompressor's output step of 1 MiB.
  const std::string big = random_bytes(1'500'000, 7);
  const std::string gz = gzip_compress(big);
  EXPECT_LT(gz.size(), big.size() / 2);
  EXPECT_EQ(gzip_decompress(gz, "big.gz", kNoLimit), big);
}

TEST(GzipFile, ConcatenatedMembersDecompressToTheirConcatenation) {
  EXPECT_EQ(gzip_decompress(kDiffgenGz + gzip_compress("second\n"), "two.gz", kNoLimit), "diffgen\nsecond\n");
}

TEST(GzipFile, IsGzipLooksAtTheMagicNumber) {
  EXPECT_TRUE(is_gzip(kDiffgenGz));
  EXPECT_FALSE(is_gzip("\x1f"));
  EXPECT_FALSE(is_gzip(std::string("\0\0\x08\x01", 4)));
}

TEST(GzipFile, HoldsTheContentToTheLimit) {
  const std::string gz = gzip_compress(std::string(1000, 'a'));
  EXPECT_EQ(gzip_decompress(gz, "data.gz", 1000).size(), 1000u);
  expect_error(gz, 999, {"decompresses to more than 999 bytes"});
  // A stream that inflates a thousandfold is stopped at the limit.
  expect_error(gzip_compress(std::string(4'000'000, '\0')), 1 << 20, {"more than 1 MiB"});
}

TEST(GzipFile, RefusesEmptyAndNonGzipInput) {
  expect_error("", kNoLimit, {"is empty"});
  expect_error(std::string("\0\0\x08\x01\0\0\0\x01\x07", 9), kNoLimit, {"byte 0", "not a gzip file"});
  expect_error("\x1f", kNoLimit, {"not a gzip file"});
}

TEST(GzipFile, RefusesCorruptStreams) {
  std::string bad_method = kDiffgenGz;
  bad_method[2] = 0x07;  // compression method 7: only 8 (deflate) exists
  expect_error(bad_method, kNoLimit, {"corrupt gzip stream", "unknown compression method"});
  std::string bad_crc = kDiffgenGz;
  bad_crc[20] ^= 0x01;  // the CRC-32 in the trailer
  expect_error(bad_crc, kNoLimit, {"corrupt gzip stream", "incorrect data check"});
  std::string bad_length = kDiffgenGz;
  bad_length[24] = 0x09;  // the length in the trailer
  expect_error(bad_length, kNoLimit, {"corrupt gzip stream", "incorrect length check"});
  std::string bad_block = kDiffgenGz;
  bad_block[10] = static_cast<char>(0xff);  // block type 3, which deflate reserves
  expect_error(bad_block, kNoLimit, {"corrupt gzip stream", "compressed byte"});
}

TEST(GzipFile, RefusesTruncatedStreams) {
  for (std::size_t keep : {2u, 10u, 15u, 20u, 27u}) {
    SCOPED_TRACE(keep);
    expect_error(kDiffgenGz.substr(0, keep), kNoLimit,
                 {"truncated gzip stream", "ends at byte " + std::to_string(keep), "member that starts at byte 0"});
  }
  // The second member cut short: the message says where it starts.
  expect_error(kDiffgenGz + kDiffgenGz.substr(0, 10), kNoLimit,
               {"truncated gzip stream", "member that starts at byte 28", "8 bytes decompressed so far"});
}

TEST(GzipFile, RefusesBytesAfterTheStream) {
  expect_error(kDiffgenGz + "xyz", kNoLimit, {"compressed byte 28", "3 bytes after the end of the gzip stream"});
}

}  // namespace
}  // namespace diffgen
