#include "data/image_set.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/gzip_file.hpp"
#include "data/idx_file.hpp"
#include "testing/temp_dir.hpp"

namespace diffgen {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Two 2 x 3 images, pixels 51 k (k / 5 after scaling), labels 7 and 0.
IdxArray two_images() {
  return IdxArray{{2, 2, 3}, {0, 51, 102, 153, 204, 255, 255, 204, 153, 102, 51, 0}};
}
IdxArray labels_of(std::initializer_list<std::uint8_t> labels) {
  return IdxArray{{static_cast<Index>(labels.size())}, labels};
}

// make_image_set throws DataError (exit code 3) containing every one of `parts`.
void expect_error(IdxArray images, IdxArray labels, std::initializer_list<std::string> parts) {
  try {
    make_image_set(std::move(images), std::move(labels), "images.idx", "labels.idx");
  } catch (const DataError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    for (const auto& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
    return;
  }
  ADD_FAILURE() << "make_image_set did not throw DataError";
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The four files of MNIST's layout in `dir` (plain or .gz), holding small
// sets: 2 training images labelled 7, 0 and 1 test image labelled 3.
void write_mnist_layout(const fs::path& dir, bool gzipped) {
  const auto put = [&](const std::string& name, const IdxArray& array) {
    const std::string bytes = encode_idx(array);
    if (gzipped) {
      write(dir / (name + ".gz"), gzip_compress(bytes));
    } else {
      write(dir / name, bytes);
    }
  };
  put("train-images-idx3-ubyte", two_images());
  put("train-labels-idx1-ubyte", labels_of({7, 0}));
  put("t10k-images-idx3-ubyte", IdxArray{{1, 2, 3}, {9, 9, 9, 9, 9, 9}});
  put("t10k-labels-idx1-ubyte", labels_of({3}));
}

TEST(ImageSet, PairsImagesWithLabels) {
  const ImageSet set = make_image_set(two_images(), labels_of({7, 0}), "images", "labels");
  EXPECT_EQ(set.count, 2);
  EXPECT_EQ(set.height, 2);
  EXPECT_EQ(set.width, 3);
  EXPECT_EQ(set.pixels_per_image(), 6);
  EXPECT_EQ(set.num_classes, 10);
  EXPECT_THAT(set.labels, ElementsAre(7, 0));
  EXPECT_EQ(set.pixels, two_images().data);
  EXPECT_THAT(label_counts(set), ElementsAre(1, 0, 0, 0, 0, 0, 0, 1, 0, 0));
  EXPECT_EQ(split_name(Split::kTrain), "train");
  EXPECT_EQ(split_name(Split::kTest), "test");
}

TEST(ImageSet, ImageMatrixScalesPixelsToTheUnitInterval) {
  const ImageSet set = make_image_set(two_images(), labels_of({7, 0}), "images", "labels");
  const Matrix x = image_matrix(set);
  ASSERT_EQ(x.rows(), 2);
  ASSERT_EQ(x.cols(), 6);
  // 51 k / 255 = k / 5, correctly rounded: the same doubles as the literals.
  EXPECT_EQ(x.row(0), (RowVector(6) << 0.0, 0.2, 0.4, 0.6, 0.8, 1.0).finished());
  EXPECT_EQ(x.row(1), (RowVector(6) << 1.0, 0.8, 0.6, 0.4, 0.2, 0.0).finished());
  EXPECT_EQ(image_matrix(set, 1, 1), x.bottomRows(1));
  EXPECT_EQ(image_matrix(set, 1), x.bottomRows(1));
  EXPECT_EQ(image_matrix(set, 2).rows(), 0);
  EXPECT_THROW(image_matrix(set, 3), std::out_of_range);
  EXPECT_THROW(image_matrix(set, 1, 2), std::out_of_range);
  EXPECT_THROW(image_matrix(set, -1, 1), std::out_of_range);
}

TEST(ImageSet, RefusesFilesThatDoNotBelongTogether) {
  expect_error(IdxArray{{2, 6}, two_images().data}, labels_of({7, 0}),
               {"images.idx", "images need 3 dimensions", "has 2: 2 x 6"});
  expect_error(two_images(), IdxArray{{2, 1}, {7, 0}}, {"labels.idx", "labels need 1 dimension", "has 2: 2 x 1"});
  expect_error(two_images(), labels_of({7, 0, 1}), {"images.idx holds 2 images but labels.idx holds 3 labels"});
  // Record 1 sits at byte 8 + 1 of a 1-D IDX file.
  expect_error(two_images(), labels_of({3, 10}), {"labels.idx: record 1 (byte 9): label 10 is not a class (0 to 9)"});
  EXPECT_THROW(make_image_set(two_images(), labels_of({7, 0}), "i", "l", 0), std::invalid_argument);
  EXPECT_THROW(make_image_set(two_images(), labels_of({7, 0}), "i", "l", 257), std::invalid_argument);
  // With 256 classes every byte is a label.
  EXPECT_EQ(make_image_set(two_images(), labels_of({255, 0}), "i", "l", 256).labels[0], 255);
}

TEST(ImageSet, LoadsMnistsPlainFiles) {
  TempDir temp;
  write_mnist_layout(temp.path(), false);
  const ImageSet train = load_mnist(temp.path(), Split::kTrain);
  EXPECT_EQ(train.count, 2);
  EXPECT_THAT(train.labels, ElementsAre(7, 0));
  const ImageSet test = load_mnist(temp.path(), Split::kTest);
  EXPECT_EQ(test.count, 1);
  EXPECT_THAT(test.labels, ElementsAre(3));
  EXPECT_THAT(test.pixels, ElementsAre(9, 9, 9, 9, 9, 9));
}

TEST(ImageSet, LoadsFashionMnistsGzippedFiles) {
  TempDir temp;
  write_mnist_layout(temp.path(), true);
  const ImageSet train = load_fashion_mnist(temp.path(), Split::kTrain);
  EXPECT_EQ(train.count, 2);
  EXPECT_EQ(train.pixels, two_images().data);
  EXPECT_THAT(load_fashion_mnist(temp.path(), Split::kTest).labels, ElementsAre(3));
}

TEST(ImageSet, MissingFilesSayHowToGetThem) {
  TempDir temp;
  try {
    load_mnist(temp.path(), Split::kTest);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((temp.path() / "t10k-images-idx3-ubyte").string()));
    EXPECT_THAT(e.what(), HasSubstr("scripts/fetch_mnist.sh"));
  }
  try {
    load_fashion_mnist(temp.path(), Split::kTrain);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((temp.path() / "train-images-idx3-ubyte.gz").string()));
    EXPECT_THAT(e.what(), HasSubstr("dataset-fashion-mnist"));
  }
  // A file that is there but bad is named by the reader.
  write_mnist_layout(temp.path(), false);
  write(temp.path() / "train-labels-idx1-ubyte", encode_idx(labels_of({7, 0, 1})));
  try {
    load_mnist(temp.path(), Split::kTrain);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds 2 images but"));
    EXPECT_THAT(e.what(), HasSubstr("train-labels-idx1-ubyte holds 3 labels"));
  }
}

// Debian's dataset-fashion-mnist, when installed: 6000 training and 1000
// test images of each of the 10 classes (Xiao, Rasul and Vollgraf 2017).
TEST(ImageSet, DebiansFashionMnistHasItsPublishedSizes) {
  if (!fs::exists(fs::path(kFashionMnistDir) / "t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  const ImageSet train = load_fashion_mnist(Split::kTrain);
  EXPECT_EQ(train.count, 60000);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.width, 28);
  EXPECT_EQ(label_counts(train), std::vector<Index>(10, 6000));
  const ImageSet test = load_fashion_mnist(Split::kTest);
  EXPECT_EQ(test.count, 10000);
  EXPECT_EQ(label_counts(test), std::vector<Index>(10, 1000));
  const Matrix x = image_matrix(test, 0, 100);
  EXPECT_EQ(x.cols(), 784);
  EXPECT_GE(x.minCoeff(), 0.0);
  EXPECT_EQ(x.maxCoeff(), 1.0);  // some pixel of the first 100 is full white
}

// MNIST itself, once scripts/fetch_mnist.sh has fetched it (into
// $DIFFGEN_MNIST_DIR, else build/data/mnist): the label counts of the
// original training and test sets (LeCun, Cortes and Burges).
TEST(ImageSet, FetchedMnistHasItsPublishedLabelCounts) {
  const char* env = std::getenv("DIFFGEN_MNIST_DIR");
  const fs::path dir = env != nullptr ? fs::path(env) : fs::path(DIFFGEN_SOURCE_DIR) / "build" / "data" / "mnist";
  if (!fs::exists(dir / "t10k-labels-idx1-ubyte")) GTEST_SKIP() << "MNIST is not fetched into " << dir;
  const ImageSet train = load_mnist(dir, Split::kTrain);
  EXPECT_EQ(train.count, 60000);
  EXPECT_EQ(train.pixels_per_image(), 784);
  EXPECT_THAT(label_counts(train), ElementsAre(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949));
  const ImageSet test = load_mnist(dir, Split::kTest);
  EXPECT_EQ(test.count, 10000);
  EXPECT_THAT(label_counts(test), ElementsAre(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009));
}

}  // namespace
}  // namespace diffgen
