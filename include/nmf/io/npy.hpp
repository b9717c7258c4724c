// NumPy .npy format (versions 1.0, 2.0, 3.0): header parsing and writing. Hand-written because the
// readers and writers need only the header and do the data movement themselves with MPI-IO, at
// offsets no serial .npy library exposes.
#pragma once

#include <string>
#include <vector>

#include "nmf/types.hpp"

namespace nmf::npy {

enum class ElementType { uint8, int32, int64, float32, float64 };

struct Header {
  ElementType type = ElementType::float64;
  bool big_endian = false;
  int item_size = 8;
  bool fortran_order = false;
  std::vector<index_t> shape;
  index_t data_offset = 0;  // bytes before the array data
  std::string descr;        // as written, e.g. "<f8"
};

// Parses the header at the start of `bytes` (which must hold the whole header). Throws InputError
// naming `path` for a bad magic string, an unsupported version or dtype, or a malformed dictionary.
// Returns the number of header bytes needed if `bytes` is too short (then header is not filled).
index_t parse_header(const std::string& bytes, const std::string& path, Header& header);

// A complete version 1.0 header (magic, dictionary, padding to a multiple of 64 bytes) for a
// little-endian float64 array of the given shape.
std::string format_float64_header(const std::vector<index_t>& shape, bool fortran_order);

// Converts `count` elements of `type` at `raw` (file byte order) to doubles.
void convert_to_double(const char* raw, index_t count, const Header& header, double* out);

}  // namespace nmf::npy
