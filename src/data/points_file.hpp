// Point sets from user files (training sets, generated samples, reference
// samples): rows are points, columns coordinates, any dimension d >= 1.
// Two formats, chosen by the file's extension:
//
//   .csv  comma-separated numbers, one point per line; an optional header row
//         (a first row whose fields are not all numbers); '#' comment lines;
//         blank lines at the end; '\n' or '\r\n' line ends; spaces and tabs
//         around fields; RFC 4180 quotes within a line.
//   .npy  NumPy format 1.0, 2.0 or 3.0, little-endian float32 ('<f4') or
//         float64 ('<f8'), C order, shape (n,) (read as n x 1) or (n, d).
//
// Every problem with a file is a DataError (exit code 3) whose message names
// the file and where in it the problem is: line and column (1-based) for
// CSV, byte offset (0-based) or value index for NPY. NaN and infinite values
// are refused: a point set with them is never what the user meant to feed a
// distance computation.
//
// The parsers take the bytes in memory and the file's name only for
// messages; they are fuzzed (fuzz/), and allocate at most what the input's
// own size justifies.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/types.hpp"

namespace diffgen {

// Reads `file` and parses it by its extension (.csv or .npy, any case).
// Another extension, a missing or unreadable file, an empty file, a file
// without points or any malformed content throws DataError.
Matrix load_points(const std::filesystem::path& file);

// The CSV rules above, on the file's bytes; `name` is used in messages.
Matrix parse_points_csv(std::string_view bytes, std::string_view name);

// The NPY rules above, on the file's bytes; `name` is used in messages.
// NPY values are located as numpy indexes them, from 0: "value 17 (row 8,
// column 1)" is a[8, 1] of a (n, 2) array.
Matrix parse_points_npy(std::string_view bytes, std::string_view name);

// The bytes of an NPY 1.0 file holding `points` as float64, shape (n, d),
// C order (header padded so the data starts on a 64-byte boundary, as numpy
// writes it). Throws std::invalid_argument for an empty matrix and
// NumericalError (exit code 4) naming row and column of a NaN or infinite
// value, which load_points would refuse.
std::string encode_points_npy(const Matrix& points);

// Atomically writes encode_points_npy(points) to `file` (core/io.hpp
// write_file_atomic; DataError naming the file when it cannot be written).
// np.load(file) reads it back as the same n x d float64 array.
void save_points_npy(const std::filesystem::path& file, const Matrix& points);

}  // namespace diffgen
