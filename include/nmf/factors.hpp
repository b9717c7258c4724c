// This rank's slices of the two factors: the base type the solvers update, the driver iterates and the
// output layer writes.
#pragma once

#include "nmf/matrix.hpp"

namespace nmf {

// Both slices are stored k x count (column-major), so one row of A or one column of S is k contiguous
// doubles.
struct Factors {
  DenseMatrix a_t;  // k x (rows in this rank's A slice): row r of A is column r here
  DenseMatrix s;    // k x (columns in this rank's S slice)
};

}  // namespace nmf
