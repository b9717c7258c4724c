// Helpers for the MPI tests: shared temporary directories, reference matrices and the files that hold
// them, and block-by-block comparison of a distributed matrix with its serial reference.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/distribution/grid.hpp"
#include "nmf/driver/factorization.hpp"

namespace nmf::test {

int world_rank();
int world_size();

// A fresh directory made by rank 0 and known to every rank; removed (by rank 0, after a barrier) when
// the object goes out of scope. Collective construction and destruction.
class SharedTempDir {
 public:
  SharedTempDir();
  ~SharedTempDir();
  SharedTempDir(const SharedTempDir&) = delete;
  SharedTempDir& operator=(const SharedTempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A deterministic non-negative n x m matrix with about `density` of its entries non-zero. Values are
// dyadic (multiples of 1/8 up to 20) or integers, so every text and binary format holds them exactly.
DenseMatrix random_matrix(index_t n, index_t m, double density, std::uint64_t seed, bool integers = false);

// Rank 0 writes the file; the others wait at a barrier. Collective.
enum class MtxField { real, integer, pattern };
void write_mtx_coordinate(const std::string& path, const DenseMatrix& x, MtxField field = MtxField::real,
                          bool symmetric_lower = false);
void write_mtx_array(const std::string& path, const DenseMatrix& x);
// dtype: "|u1", "<i4", "<i8", "<f4", "<f8", ">f8".
void write_npy(const std::string& path, const DenseMatrix& x, const std::string& dtype, bool fortran_order);
void write_text(const std::string& path, const std::string& text);

// Every grid shape of `ranks` ranks.
std::vector<GridShape> all_grid_shapes(int ranks);

// Expects this rank's block of `x` to equal the matching block of `reference` (of X^T if `transpose`),
// entry by entry and exactly.
void expect_block_matches(const DistMatrix& x, const ProcessGrid& grid, const DenseMatrix& reference, bool transpose);

// The whole factors A (n x k) and S (k x m) on every rank, assembled from every rank's slices.
void gather_factors(const ProcessGrid& grid, const Layout& layout, const Factors& factors, DenseMatrix& a,
                    DenseMatrix& s);

// The whole matrix, gathered on every rank (tiny matrices only).
DenseMatrix gather_everywhere(const DistMatrix& x, const ProcessGrid& grid);

}  // namespace nmf::test
