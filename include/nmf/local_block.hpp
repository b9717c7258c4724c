// One rank's block of X, dense or sparse, with block-local indices: the base type the kernels compute on.
// Which block a rank holds, and the global facts about X, live in the distribution layer
// (nmf/distribution/dist_matrix.hpp); this header knows no MPI.
#pragma once

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

// Builds the local block from triplets already holding block-local indices (consumed).
LocalBlock assemble_block(Storage storage, index_t rows, index_t cols, TripletChunks&& local_triplets,
                          index_t& duplicates);

}  // namespace nmf
