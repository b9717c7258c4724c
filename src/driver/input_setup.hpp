// What every driver does before it has a matrix: the reader's options from the command line's, and the grid the
// options ask for. One place, so that a new input option reaches the factorization and the fold-in alike.
#pragma once

#include <string>

#include "nmf/distribution/grid.hpp"
#include "nmf/io/input.hpp"
#include "nmf/options.hpp"

namespace nmf::detail {

// The reader's options for o.input; `factor_rank` is the largest k the memory check counts factors for. Observed
// ratings (`missing` unobserved) are read sparse unless --storage says otherwise: the stored entries, an explicit 0
// included, are the observed ones.
ReadOptions input_read_options(const Options& o, int factor_rank, MissingEntries missing);

// The grid `grid` ("auto" or PRxPC) names for `ranks` ranks and this matrix, validated. Not collective: callers
// wrap it in collectively().
GridShape requested_grid_shape(const std::string& grid, int ranks, const InputShape& shape);

}  // namespace nmf::detail
