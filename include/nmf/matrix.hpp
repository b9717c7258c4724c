// Local matrices: dense column-major (ready for BLAS) and compressed sparse rows/columns.
// Factors are stored transposed where that keeps the k values of one row of A together: a slice of A
// is held as At (k x rows), a slice of S as S (k x columns), both column-major.
#pragma once

#include <vector>

#include "nmf/types.hpp"

namespace nmf {

class DenseMatrix {
 public:
  DenseMatrix() = default;
  DenseMatrix(index_t rows, index_t cols, double fill = 0.0)
      : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(rows * cols), fill) {}

  index_t rows() const { return rows_; }
  index_t cols() const { return cols_; }
  index_t size() const { return rows_ * cols_; }
  // Leading dimension for BLAS, which requires at least 1 even for an empty matrix.
  int ld() const { return blas_int(rows_ > 0 ? rows_ : 1, "leading dimension"); }

  double& operator()(index_t i, index_t j) { return data_[static_cast<std::size_t>(i + j * rows_)]; }
  double operator()(index_t i, index_t j) const { return data_[static_cast<std::size_t>(i + j * rows_)]; }
  double* data() { return data_.data(); }
  const double* data() const { return data_.data(); }
  double* col(index_t j) { return data_.data() + j * rows_; }
  const double* col(index_t j) const { return data_.data() + j * rows_; }
  std::vector<double>& values() { return data_; }
  const std::vector<double>& values() const { return data_; }

  // New shape, every entry zero.
  void resize(index_t rows, index_t cols) {
    rows_ = rows;
    cols_ = cols;
    data_.assign(static_cast<std::size_t>(rows * cols), 0.0);
  }
  // New shape, entries left as they happen to be: for scratch matrices the caller overwrites entirely.
  void reshape(index_t rows, index_t cols) {
    rows_ = rows;
    cols_ = cols;
    data_.resize(static_cast<std::size_t>(rows * cols));
  }

 private:
  index_t rows_ = 0, cols_ = 0;
  std::vector<double> data_;
};

// One stored entry on its way to its owner; global or local indices depending on the stage.
struct Triplet {
  index_t row;
  index_t col;
  double value;
};

// Compressed sparse rows (or, read as its transpose, compressed sparse columns): the entries of
// row r are index[ptr[r] .. ptr[r+1]) with their values, column indices sorted, no duplicates.
struct CompressedMatrix {
  index_t rows = 0;  // rows of the compressed dimension: matrix rows for CSR, matrix columns for CSC
  index_t cols = 0;  // the other dimension
  std::vector<index_t> ptr{0};
  std::vector<index_t> index;
  std::vector<double> values;
  index_t nnz() const { return static_cast<index_t>(values.size()); }
};

// Builds CSR (rows x cols) from local triplets held in chunks, summing duplicates. Each chunk is
// released as soon as it is copied. `duplicates` receives the number of entries merged into another.
using TripletChunks = std::vector<std::vector<Triplet>>;
CompressedMatrix compress_rows(index_t rows, index_t cols, TripletChunks&& chunks, index_t& duplicates);

// The same matrix compressed along the other dimension (CSR -> CSC, or back).
CompressedMatrix transpose_compressed(const CompressedMatrix& a);

namespace detail {
// compress_rows and transpose_compressed sort entries into buckets of consecutive rows (columns) first, at
// most 2^max_bucket_bits of them (fewer where the packed indices need the bits); exposed for the tests, which
// check small buckets on tiny matrices.
inline constexpr int kMaxBucketBits = 10;
CompressedMatrix compress_rows_in_buckets(index_t rows, index_t cols, TripletChunks&& chunks, index_t& duplicates,
                                          int max_bucket_bits);
CompressedMatrix transpose_in_buckets(const CompressedMatrix& a, int max_bucket_bits);
}  // namespace detail

}  // namespace nmf
