#include "data/image_set.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace diffgen {
namespace {

std::string dims_text(const std::vector<Index>& dims) {
  return fmt::format("{}", fmt::join(dims, " x "));
}

// The first label that is not a class, with where it is in the labels file.
void check_labels(const IdxArray& labels, std::string_view name, int num_classes) {
  const std::size_t header = idx_header_bytes(labels.dims.size());
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= num_classes) {
      throw DataError(fmt::format("{}: record {} (byte {}): label {} is not a class (0 to {})", name, i, header + i,
                                  labels.data[i], num_classes - 1));
    }
  }
}

// `dir`/`file`, or a DataError saying how to get it when it is missing.
std::filesystem::path data_file(const std::filesystem::path& dir, std::string_view file, std::string_view set,
                                std::string_view how_to_get) {
  const std::filesystem::path path = dir / file;
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) {
    throw DataError(fmt::format("{} file '{}' not found; {}", set, path.string(), how_to_get));
  }
  return path;
}

}  // namespace

std::string_view split_name(Split split) {
  return split == Split::kTrain ? "train" : "test";
}

ImageSet make_image_set(IdxArray images, IdxArray labels, std::string_view images_name, std::string_view labels_name,
                        int num_classes) {
  if (num_classes < 1 || num_classes > 256) {
    throw std::invalid_argument(fmt::format("make_image_set: num_classes = {} (1 to 256)", num_classes));
  }
  if (images.dims.size() != 3) {
    throw DataError(fmt::format("{}: images need 3 dimensions (count x height x width), the file has {}: {}",
                                images_name, images.dims.size(), dims_text(images.dims)));
  }
  if (labels.dims.size() != 1) {
    throw DataError(fmt::format("{}: labels need 1 dimension (count), the file has {}: {}", labels_name,
                                labels.dims.size(), dims_text(labels.dims)));
  }
  if (images.dims[0] != labels.dims[0]) {
    throw DataError(fmt::format("{} holds {} images but {} holds {} labels: the files do not belong together",
                                images_name, images.dims[0], labels_name, labels.dims[0]));
  }
  check_labels(labels, labels_name, num_classes);
  ImageSet set;
  set.count = images.dims[0];
  set.height = images.dims[1];
  set.width = images.dims[2];
  set.num_classes = num_classes;
  set.pixels = std::move(images.data);
  set.labels = std::move(labels.data);
  return set;
}

ImageSet load_image_set(const std::filesystem::path& images_file, const std::filesystem::path& labels_file,
                        int num_classes) {
  IdxArray images = load_idx(images_file);
  IdxArray labels = load_idx(labels_file);
  return make_image_set(std::move(images), std::move(labels), images_file.string(), labels_file.string(), num_classes);
}

ImageSet load_mnist(const std::filesystem::path& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string how = fmt::format("fetch MNIST with: bash scripts/fetch_mnist.sh {}", dir.string());
  const auto images = data_file(dir, prefix + "-images-idx3-ubyte", "MNIST", how);
  const auto labels = data_file(dir, prefix + "-labels-idx1-ubyte", "MNIST", how);
  return load_image_set(images, labels, kMnistClasses);
}

ImageSet load_fashion_mnist(const std::filesystem::path& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string how =
      "install Debian's dataset-fashion-mnist (bash scripts/setup.sh dataset-fashion-mnist), which puts the files "
      "in /usr/share/datasets/fashion-mnist";
  const auto images = data_file(dir, prefix + "-images-idx3-ubyte.gz", "Fashion-MNIST", how);
  const auto labels = data_file(dir, prefix + "-labels-idx1-ubyte.gz", "Fashion-MNIST", how);
  return load_image_set(images, labels, kMnistClasses);
}

ImageSet load_fashion_mnist(Split split) {
  return load_fashion_mnist(std::filesystem::path(kFashionMnistDir), split);
}

Matrix image_matrix(const ImageSet& set, Index first, Index count) {
  if (count == -1 && first >= 0 && first <= set.count) count = set.count - first;
  if (first < 0 || count < 0 || first > set.count || count > set.count - first) {
    throw std::out_of_range(
        fmt::format("image_matrix: images {} to {} of a set of {}", first, first + count - 1, set.count));
  }
  const Index d = set.pixels_per_image();
  Matrix out(count, d);
  const std::uint8_t* pixels = set.pixels.data() + first * d;
  double* values = out.data();  // row-major: image after image
  for (Index k = 0; k < count * d; ++k) values[k] = static_cast<double>(pixels[k]) / 255.0;
  return out;
}

std::vector<Index> label_counts(const ImageSet& set) {
  std::vector<Index> counts(static_cast<std::size_t>(set.num_classes), 0);
  for (std::uint8_t label : set.labels) ++counts.at(label);  // make_image_set checked each label
  return counts;
}

}  // namespace diffgen
