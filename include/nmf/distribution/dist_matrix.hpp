// X distributed over the process grid: each rank holds only its block X_ij, dense or sparse.
#pragma once

#include <string>

#include "nmf/distribution/layout.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

enum class Storage { dense, sparse };
const char* storage_name(Storage storage);

// This rank's block X_ij, with block-local indices.
struct LocalBlock {
  Storage storage = Storage::sparse;
  index_t rows = 0;      // rows of row block i
  index_t cols = 0;      // columns of column block j
  DenseMatrix dense;     // rows x cols, column-major (dense storage)
  CompressedMatrix csr;  // row-compressed (sparse storage)
  CompressedMatrix csc;  // column-compressed copy (sparse storage): A^T X gathers along columns
  index_t nonzeros = 0;  // stored entries that are not zero
};

// Calls visit(row, col, value) for every stored entry of the block (block-local indices): every entry of a
// dense block, column by column; the stored entries of a sparse block, row by row.
template <class Visit>
void for_each_stored_entry(const LocalBlock& block, Visit&& visit) {
  if (block.storage == Storage::dense) {
    for (index_t c = 0; c < block.cols; ++c)
      for (index_t r = 0; r < block.rows; ++r) visit(r, c, block.dense(r, c));
  } else {
    for (index_t r = 0; r < block.rows; ++r)
      for (index_t p = block.csr.ptr[r]; p < block.csr.ptr[r + 1]; ++p)
        visit(r, block.csr.index[p], block.csr.values[p]);
  }
}

// Global facts about X, the same on every rank.
struct MatrixStats {
  index_t nonzeros = 0;        // entries that are not zero
  index_t stored_entries = 0;  // entries stored after merging duplicates (sparse) or n*m (dense)
  index_t duplicates = 0;      // duplicate entries summed while reading
  double frobenius_sq = 0.0;   // ||X||_F^2
  double sum = 0.0;            // sum of all entries
  index_t min_block_nonzeros = 0, max_block_nonzeros = 0;  // spread of nonzeros over ranks
};

struct DistMatrix {
  Layout layout;
  LocalBlock block;
  MatrixStats stats;
  std::string source;  // where it came from, for messages and the summary
};

// Computes the stats every rank shares (collective over the grid). `duplicates` is this rank's count.
MatrixStats reduce_matrix_stats(MPI_Comm grid_comm, const LocalBlock& block, index_t local_duplicates);

// Builds the local block from triplets already holding block-local indices (consumed).
LocalBlock assemble_block(Storage storage, index_t rows, index_t cols, TripletChunks&& local_triplets,
                          index_t& duplicates);

}  // namespace nmf
