#include "data/idx_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/gzip_file.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string bytes_of(std::initializer_list<unsigned> values) {
  std::string out;
  for (unsigned v : values) out += static_cast<char>(v);
  return out;
}

// A 2 x 3 array written by hand: magic 00 00 08 02, then 2 and 3 as
// big-endian uint32, then the six values.
const std::string k2x3 = bytes_of({0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 250, 251, 255});

class IdxFileTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& bytes) const {
    const fs::path path = temp_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // load_idx on `bytes` written as `name` throws DataError (exit code 3)
  // naming the file and containing every one of `parts`.
  void expect_error(const std::string& name, const std::string& bytes, std::initializer_list<std::string> parts) const {
    const fs::path path = write(name, bytes);
    try {
      load_idx(path);
    } catch (const DataError& e) {
      EXPECT_EQ(e.exit_code(), 3);
      EXPECT_THAT(e.what(), HasSubstr(path.string()));
      for (const auto& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
      return;
    }
    ADD_FAILURE() << "loading " << name << " did not throw DataError";
  }

  TempDir temp_;
};

TEST_F(IdxFileTest, ReadsAHandWrittenFile) {
  const IdxArray a = load_idx(write("a.idx", k2x3));
  EXPECT_THAT(a.dims, ElementsAre(2, 3));
  EXPECT_THAT(a.data, ElementsAre(1, 2, 3, 250, 251, 255));
}

TEST_F(IdxFileTest, ReadsBigEndianSizes) {
  // 258 = 0x00000102 values in one dimension: a little-endian reader would see 0x02010000.
  std::string bytes = bytes_of({0, 0, 8, 1, 0, 0, 1, 2});
  for (int i = 0; i < 258; ++i) bytes += static_cast<char>(i % 256);
  const IdxArray a = parse_idx(bytes, "labels");
  EXPECT_THAT(a.dims, ElementsAre(258));
  EXPECT_EQ(a.data[257], 1);
  EXPECT_EQ(idx_header_bytes(1), 8u);
  EXPECT_EQ(idx_header_bytes(3), 16u);
}

TEST_F(IdxFileTest, ReadsGzippedFiles) {
  const IdxArray a = load_idx(write("a-idx1-ubyte.gz", gzip_compress(k2x3)));
  EXPECT_THAT(a.dims, ElementsAre(2, 3));
  EXPECT_THAT(a.data, ElementsAre(1, 2, 3, 250, 251, 255));
  // The extension decides, in any case.
  EXPECT_THAT(load_idx(write("b.GZ", gzip_compress(k2x3))).dims, ElementsAre(2, 3));
}

TEST_F(IdxFileTest, EncodeWritesWhatParseReads) {
  EXPECT_EQ(encode_idx(IdxArray{{2, 3}, {1, 2, 3, 250, 251, 255}}), k2x3);
  IdxArray four{{2, 1, 3, 2}, std::vector<std::uint8_t>(12)};
  std::iota(four.data.begin(), four.data.end(), std::uint8_t{100});
  const IdxArray back = parse_idx(encode_idx(four), "four");
  EXPECT_EQ(back.dims, four.dims);
  EXPECT_EQ(back.data, four.data);
  EXPECT_THROW(encode_idx(IdxArray{{}, {}}), std::invalid_argument);
  EXPECT_THROW(encode_idx(IdxArray{{1, 1, 1, 1, 1}, {7}}), std::invalid_argument);
  EXPECT_THROW(encode_idx(IdxArray{{2, 2}, {1, 2, 3}}), std::invalid_argument);
  EXPECT_THROW(encode_idx(IdxArray{{0}, {}}), std::invalid_argument);
  EXPECT_THROW(encode_idx(IdxArray{{Index{1} << 32}, {}}), std::invalid_argument);
}

TEST_F(IdxFileTest, RefusesMissingAndEmptyFiles) {
  expect_error("missing.idx", "", {"is empty"});
  const fs::path missing = temp_ / "nowhere" / "train-images-idx3-ubyte";
  try {
    load_idx(missing);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing.string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
  }
}

TEST_F(IdxFileTest, RefusesABadMagicNumber) {
  expect_error("a.idx", bytes_of({0, 1, 8, 1, 0, 0, 0, 1, 5}), {"byte 1", "not an IDX file", "0x01"});
  expect_error("a.idx", "P5\n28 28\n255\n", {"byte 0", "not an IDX file", "0x50"});
  expect_error("a.idx", bytes_of({0}), {"truncated", "the file has 1 byte"});
  expect_error("a.idx", bytes_of({0, 0, 8}), {"truncated", "bytes 0 to 3", "the file has 3 bytes"});
}

TEST_F(IdxFileTest, RefusesTypesOtherThanUnsignedByte) {
  expect_error("a.idx", bytes_of({0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}),
               {"byte 2", "type 0x0d (float32) is not supported", "only 0x08 (unsigned byte)"});
  expect_error("a.idx", bytes_of({0, 0, 0x09, 1, 0, 0, 0, 1, 0}), {"0x09 (signed byte)"});
  expect_error("a.idx", bytes_of({0, 0, 0x42, 1, 0, 0, 0, 1, 0}), {"0x42 (not an IDX type)"});
}

TEST_F(IdxFileTest, RefusesZeroOrTooManyDimensions) {
  expect_error("a.idx", bytes_of({0, 0, 8, 0}), {"byte 3", "0 dimensions", "1 to 4"});
  std::string five = bytes_of({0, 0, 8, 5});
  for (int k = 0; k < 5; ++k) five += bytes_of({0, 0, 0, 1});
  expect_error("a.idx", five + "x", {"byte 3", "5 dimensions", "1 to 4"});
  expect_error("a.idx", bytes_of({0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0}), {"byte 8", "dimension 2 of 2 has size 0"});
}

TEST_F(IdxFileTest, RefusesSizesBeyondTheLimit) {
  // 2^30 + 1 bytes: just over the limit; the file itself is 12 bytes.
  expect_error("a.idx", bytes_of({0, 0, 8, 2, 0x40, 0, 0, 1, 0, 0, 0, 1}),
               {"byte 4", "1073741825 x 1", "more than 1 GiB"});
  // 4 x (2^32 - 1): the product would overflow 64 bits without the early stop.
  expect_error("a.idx",
               bytes_of({0, 0, 8, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}),
               {"more than 1 GiB"});
  // Exactly 1 GiB is allowed by the header; the data is then missing.
  expect_error("a.idx", bytes_of({0, 0, 8, 1, 0x40, 0, 0, 0}), {"truncated", "need 1073741824 bytes"});
}

TEST_F(IdxFileTest, RefusesTruncatedFiles) {
  expect_error("a.idx", k2x3.substr(0, 10), {"truncated", "bytes 4 to 11", "the file has 10 bytes"});
  expect_error(
      "a.idx", k2x3.substr(0, 16),
      {"truncated", "dimensions 2 x 3 need 6 bytes of data after byte 12, the file has 4", "1 of 2 records complete"});
  expect_error("a.idx.gz", gzip_compress(k2x3.substr(0, 12)),
               {"(decompressed)", "need 6 bytes of data after byte 12, the file has 0"});
}

TEST_F(IdxFileTest, RefusesTrailingBytes) {
  expect_error("a.idx", k2x3 + "ab", {"byte 18", "2 bytes after the data", "need 6 bytes after byte 12"});
}

TEST_F(IdxFileTest, RefusesCorruptGzip) {
  std::string gz = gzip_compress(k2x3);
  gz[gz.size() - 8] ^= 0x10;  // the CRC-32
  expect_error("a.gz", gz, {"corrupt gzip stream", "incorrect data check"});
  expect_error("a.gz", gzip_compress(k2x3).substr(0, 20), {"truncated gzip stream"});
  expect_error("a.gz", k2x3, {"not a gzip file"});
}

// Debian's dataset-fashion-mnist, when installed: the real files, gzipped.
TEST_F(IdxFileTest, ReadsDebiansFashionMnist) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const IdxArray images = load_idx(dir / "train-images-idx3-ubyte.gz");
  EXPECT_THAT(images.dims, ElementsAre(60000, 28, 28));
  EXPECT_EQ(images.data.size(), 60000u * 28 * 28);
  const IdxArray labels = load_idx(dir / "train-labels-idx1-ubyte.gz");
  EXPECT_THAT(labels.dims, ElementsAre(60000));
  for (std::uint8_t label : labels.data) ASSERT_LT(label, 10);
  EXPECT_THAT(load_idx(dir / "t10k-images-idx3-ubyte.gz").dims, ElementsAre(10000, 28, 28));
}

}  // namespace
}  // namespace diffgen
