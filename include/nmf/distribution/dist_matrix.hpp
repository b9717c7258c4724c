// X distributed over the process grid: each rank holds only its block X_ij, dense or sparse.
#pragma once

#include <string>

#include "nmf/distribution/layout.hpp"
#include "nmf/local_block.hpp"

namespace nmf {

// Global facts about X, the same on every rank.
struct MatrixStats {
  index_t nonzeros = 0;        // entries that are not zero
  index_t stored_entries = 0;  // entries stored after merging duplicates (sparse) or n*m (dense)
  index_t duplicates = 0;      // duplicate entries summed while reading
  double frobenius_sq = 0.0;   // ||X||_F^2
  double sum = 0.0;            // sum of all entries
  index_t min_block_nonzeros = 0, max_block_nonzeros = 0;  // spread of nonzeros over ranks
  index_t bytes_read = 0;  // bytes of the input file the ranks read, summed over them (0: not from a file)
};

struct DistMatrix {
  Layout layout;
  LocalBlock block;
  MatrixStats stats;
  std::string source;  // where it came from, for messages and the summary
};

// Computes the stats every rank shares (collective over the grid). `duplicates` is this rank's count.
MatrixStats reduce_matrix_stats(MPI_Comm grid_comm, const LocalBlock& block, index_t local_duplicates);

}  // namespace nmf
