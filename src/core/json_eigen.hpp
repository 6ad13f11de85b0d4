// Eigen vectors and matrices in nlohmann::json: a vector as an array of its
// numbers, a matrix as {rows, cols, data} with data row by row. Doubles keep
// every bit in the binary JSON forms (CBOR) the engine stores, NaN and ±inf
// included; JSON text cannot hold those (core/io.hpp refuses them).
#pragma once

#include <nlohmann/json.hpp>

#include "core/types.hpp"

namespace nlohmann {

template <>
struct adl_serializer<diffgen::Vector> {
  static void to_json(json& j, const diffgen::Vector& v) {
    j = json::array();
    for (diffgen::Index i = 0; i < v.size(); ++i) j.push_back(v[i]);
  }
  static void from_json(const json& j, diffgen::Vector& v) {
    v.resize(static_cast<diffgen::Index>(j.size()));
    for (diffgen::Index i = 0; i < v.size(); ++i) v[i] = j[static_cast<std::size_t>(i)].get<double>();
  }
};

template <>
struct adl_serializer<diffgen::Matrix> {
  static void to_json(json& j, const diffgen::Matrix& m) {
    json data = json::array();
    for (diffgen::Index r = 0; r < m.rows(); ++r)
      for (diffgen::Index c = 0; c < m.cols(); ++c) data.push_back(m(r, c));
    j = json{{"rows", m.rows()}, {"cols", m.cols()}, {"data", std::move(data)}};
  }
  static void from_json(const json& j, diffgen::Matrix& m) {
    m.resize(j.at("rows").get<diffgen::Index>(), j.at("cols").get<diffgen::Index>());
    const json& data = j.at("data");
    for (diffgen::Index r = 0; r < m.rows(); ++r)
      for (diffgen::Index c = 0; c < m.cols(); ++c)
        m(r, c) = data[static_cast<std::size_t>(r * m.cols() + c)].get<double>();
  }
};

}  // namespace nlohmann
