// Index types and checked narrowing. Global and local indices and nonzero counts are 64-bit everywhere;
// the only 32-bit integers are the ones BLAS (LP64) and MPI counts require, and every conversion to
// them goes through the checked functions below, so a huge matrix fails with a message, never overflows.
#pragma once

#include <climits>
#include <cstdint>
#include <string>

#include "nmf/error.hpp"

namespace nmf {

using index_t = std::int64_t;

// A dimension or count handed to BLAS/LAPACK (32-bit int in the LP64 interface OpenBLAS provides).
inline int blas_int(index_t value, const char* what) {
  if (value < 0 || value > INT_MAX)
    NMF_THROW(TooLargeError, std::string(what) + " = " + std::to_string(value) +
                                 " exceeds the 32-bit BLAS interface; use more ranks so local blocks are smaller");
  return static_cast<int>(value);
}

// A count or displacement handed to MPI (int in MPI-3).
inline int mpi_count(index_t value, const char* what) {
  if (value < 0 || value > INT_MAX)
    NMF_THROW(TooLargeError, std::string(what) + " = " + std::to_string(value) +
                                 " exceeds MPI's 32-bit count; use more ranks so each message is smaller");
  return static_cast<int>(value);
}

}  // namespace nmf
