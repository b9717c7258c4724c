#include "nmf/local_block.hpp"

#include <algorithm>

namespace nmf {

const char* storage_name(Storage storage) {
  return storage == Storage::dense ? "dense" : "sparse";
}

LocalBlock assemble_block(Storage storage, index_t rows, index_t cols, TripletChunks&& local_triplets,
                          index_t& duplicates) {
  LocalBlock block;
  block.storage = storage;
  block.rows = rows;
  block.cols = cols;
  block.csr = compress_rows(rows, cols, std::move(local_triplets), duplicates);
  if (storage == Storage::dense) {
    block.dense = DenseMatrix(rows, cols);
    for (index_t r = 0; r < rows; ++r)
      for (index_t p = block.csr.ptr[r]; p < block.csr.ptr[r + 1]; ++p)
        block.dense(r, block.csr.index[p]) = block.csr.values[p];
    block.csr = CompressedMatrix{};
  } else {
    block.csc = transpose_compressed(block.csr);
  }
  const auto& values = storage == Storage::dense ? block.dense.values() : block.csr.values;
  block.nonzeros = std::count_if(values.begin(), values.end(), [](double v) { return v != 0.0; });
  return block;
}

}  // namespace nmf
