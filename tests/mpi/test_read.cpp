// Parallel reads give every rank exactly its block of the serial reference, for every format, every grid
// shape of the job's ranks, with and without --transpose, and with read buffers small enough that lines
// cross block boundaries.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "nmf/io/input.hpp"
#include "nmf/io/matrix_market.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

struct ReadCase {
  std::string name;
  std::string file;
  DenseMatrix reference;  // the matrix the file holds
};

// Reads `path` on every grid shape and both orientations and checks every block.
void expect_reads_match(const std::string& path, const DenseMatrix& reference, index_t chunk_bytes = 16 << 20,
                        double kept_entries_bytes = -1) {
  for (const GridShape shape : all_grid_shapes(world_size())) {
    for (const bool transpose : {false, true}) {
      SCOPED_TRACE(path + " on grid " + shape.str() + (transpose ? " transposed" : ""));
      ReadOptions options;
      options.path = path;
      options.transpose = transpose;
      options.chunk_bytes = chunk_bytes;
      options.kept_entries_bytes = kept_entries_bytes;
      auto source = open_input(MPI_COMM_WORLD, options);
      ASSERT_EQ(source->shape().rows, transpose ? reference.cols() : reference.rows());
      ASSERT_EQ(source->shape().cols, transpose ? reference.rows() : reference.cols());
      const ProcessGrid grid(MPI_COMM_WORLD, shape);
      const DistMatrix x = source->distribute(grid);
      expect_block_matches(x, grid, reference, transpose);
      double sum_sq = 0;
      index_t nonzeros = 0;
      for (double v : reference.values()) {
        sum_sq += v * v;
        nonzeros += v != 0.0;
      }
      EXPECT_EQ(x.stats.nonzeros, nonzeros);
      EXPECT_DOUBLE_EQ(x.stats.frobenius_sq, sum_sq);
    }
  }
}

DenseMatrix symmetric(const DenseMatrix& x) {
  DenseMatrix s(x.rows(), x.rows());
  for (index_t i = 0; i < x.rows(); ++i)
    for (index_t j = 0; j < x.rows(); ++j) s(i, j) = x(i, j) + x(j, i);
  return s;
}

TEST(ParallelRead, MatrixMarketCoordinateReal) {
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(23, 17, 0.2, 1);
  write_mtx_coordinate(dir.file("x.mtx"), x);
  expect_reads_match(dir.file("x.mtx"), x);
}

TEST(ParallelRead, MatrixMarketCoordinateInteger) {
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(19, 29, 0.3, 2, true);
  write_mtx_coordinate(dir.file("x.mtx"), x, MtxField::integer);
  expect_reads_match(dir.file("x.mtx"), x);
}

TEST(ParallelRead, MatrixMarketCoordinatePattern) {
  SharedTempDir dir;
  DenseMatrix x = random_matrix(21, 13, 0.25, 3);
  for (double& v : x.values()) v = v != 0.0 ? 1.0 : 0.0;
  write_mtx_coordinate(dir.file("x.mtx"), x, MtxField::pattern);
  expect_reads_match(dir.file("x.mtx"), x);
}

TEST(ParallelRead, MatrixMarketCoordinateSymmetric) {
  SharedTempDir dir;
  const DenseMatrix x = symmetric(random_matrix(16, 16, 0.2, 4));
  write_mtx_coordinate(dir.file("x.mtx"), x, MtxField::real, /*symmetric_lower=*/true);
  expect_reads_match(dir.file("x.mtx"), x);
}

TEST(ParallelRead, MatrixMarketArray) {
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(14, 9, 0.6, 5);
  write_mtx_array(dir.file("x.mtx"), x);
  expect_reads_match(dir.file("x.mtx"), x);
}

TEST(ParallelRead, TinyReadBuffersSplitLinesAcrossBlocks) {
  // 7- and 64-byte blocks put most line boundaries inside a block and many lines across two blocks.
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(31, 27, 0.15, 6);
  write_mtx_coordinate(dir.file("coo.mtx"), x);
  write_mtx_array(dir.file("array.mtx"), x);
  for (const index_t chunk : {7, 64}) {
    expect_reads_match(dir.file("coo.mtx"), x, chunk);
    expect_reads_match(dir.file("array.mtx"), x, chunk);
  }
}

TEST(ParallelRead, EntriesNotKeptFromTheFirstPassAreParsedAgain) {
  // 0 bytes: nothing is kept, every block is parsed twice; 300 bytes: the first blocks are kept, then the
  // reader gives up keeping part-way and parses every block again. Both must read what keeping reads.
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(31, 27, 0.15, 16);
  write_mtx_coordinate(dir.file("coo.mtx"), x);
  write_mtx_array(dir.file("array.mtx"), x);
  const DenseMatrix sym = symmetric(random_matrix(16, 16, 0.2, 17));
  write_mtx_coordinate(dir.file("sym.mtx"), sym, MtxField::real, /*symmetric_lower=*/true);
  for (const double kept : {0.0, 300.0}) {
    for (const index_t chunk : {64, 16 << 20}) {
      expect_reads_match(dir.file("coo.mtx"), x, chunk, kept);
      expect_reads_match(dir.file("array.mtx"), x, chunk, kept);
      expect_reads_match(dir.file("sym.mtx"), sym, chunk, kept);
    }
  }
}

TEST(ParallelRead, BytesReadAreCounted) {
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(23, 17, 0.4, 18);
  write_mtx_coordinate(dir.file("x.mtx"), x);
  write_npy(dir.file("x.npy"), x, "<f8", false);
  const ProcessGrid grid(MPI_COMM_WORLD, all_grid_shapes(world_size()).front());
  for (const double kept : {-1.0, 0.0}) {
    ReadOptions options;
    options.path = dir.file("x.mtx");
    options.chunk_bytes = 64;
    options.kept_entries_bytes = kept;
    std::ifstream in(options.path, std::ios::binary);
    const index_t data_bytes =
        static_cast<index_t>(std::filesystem::file_size(options.path)) - mm::parse_header(in, options.path).data_offset;
    const DistMatrix m = open_input(MPI_COMM_WORLD, options)->distribute(grid);
    // Every byte of the data lines at least once (twice when nothing is kept), plus at most the line
    // completions and the byte before each block.
    EXPECT_GE(m.stats.bytes_read, (kept == 0.0 ? 2 : 1) * data_bytes - 64) << "kept " << kept;
    EXPECT_LE(m.stats.bytes_read, (kept == 0.0 ? 2 : 1) * 2 * data_bytes) << "kept " << kept;
  }
  ReadOptions options;
  options.path = dir.file("x.npy");
  EXPECT_EQ(open_input(MPI_COMM_WORLD, options)->distribute(grid).stats.bytes_read, 23 * 17 * 8);
}

TEST(ParallelRead, CrlfLineEndingsAndBlankLines) {
  SharedTempDir dir;
  write_text(dir.file("x.mtx"),
             "%%MatrixMarket matrix coordinate real general\r\n% comment\r\n\r\n3 2 3\r\n1 1 1.5\r\n\r\n3 2 2\r\n2 1 "
             "0.25");  // no newline at the end of the file
  DenseMatrix x(3, 2);
  x(0, 0) = 1.5;
  x(2, 1) = 2;
  x(1, 0) = 0.25;
  expect_reads_match(dir.file("x.mtx"), x, 5);
}

TEST(ParallelRead, NumpyEveryDtypeAndOrder) {
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(13, 11, 0.5, 7, /*integers=*/true);
  for (const std::string dtype : {"|u1", "<i4", "<i8", "<f4", "<f8", ">f8", ">i4"}) {
    for (const bool fortran : {false, true}) {
      const std::string path = dir.file("x" + std::to_string(fortran) + dtype.substr(1) + ".npy");
      write_npy(path, x, dtype, fortran);
      expect_reads_match(path, x);
      expect_reads_match(path, x, 8);  // one short row or column per collective read round
    }
  }
}

TEST(ParallelRead, DuplicatesAreSummedAndCounted) {
  SharedTempDir dir;
  write_text(dir.file("x.mtx"),
             "%%MatrixMarket matrix coordinate real general\n4 3 6\n1 1 1\n4 3 2\n1 1 0.5\n2 2 1\n4 3 1\n1 1 0.25\n");
  DenseMatrix x(4, 3);
  x(0, 0) = 1.75;
  x(3, 2) = 3;
  x(1, 1) = 1;
  expect_reads_match(dir.file("x.mtx"), x);
  ReadOptions options;
  options.path = dir.file("x.mtx");
  const ProcessGrid grid(MPI_COMM_WORLD, all_grid_shapes(world_size()).front());
  EXPECT_EQ(open_input(MPI_COMM_WORLD, options)->distribute(grid).stats.duplicates, 3);
}

TEST(ParallelRead, SkewedRowsAreBalancedByNonzeros) {
  // The first 5% of the rows hold about half of the nonzeros: equal row counts would give the first
  // rank at least half of the work; balancing by nonzeros must not.
  if (world_size() == 1) GTEST_SKIP() << "balance needs more than one rank";
  SharedTempDir dir;
  const index_t n = 400, m = 300;
  DenseMatrix x = random_matrix(n, m, 0.01, 8);
  for (index_t i = 0; i < n / 20; ++i)
    for (index_t j = 0; j < m; j += 2) x(i, j) = 1.0;
  write_mtx_coordinate(dir.file("x.mtx"), x);
  ReadOptions options;
  options.path = dir.file("x.mtx");
  options.storage = StorageChoice::sparse;
  const ProcessGrid grid(MPI_COMM_WORLD, GridShape{world_size(), 1});
  const DistMatrix dist = open_input(MPI_COMM_WORLD, options)->distribute(grid);
  const double mean = static_cast<double>(dist.stats.nonzeros) / world_size();
  EXPECT_LE(static_cast<double>(dist.stats.max_block_nonzeros), 1.25 * mean);
  expect_block_matches(dist, grid, x, false);
}

TEST(ParallelRead, DenseCoordinateInputCanBeStoredDense) {
  SharedTempDir dir;
  const DenseMatrix x = random_matrix(12, 10, 0.7, 9);
  write_mtx_coordinate(dir.file("x.mtx"), x);
  ReadOptions options;
  options.path = dir.file("x.mtx");
  const ProcessGrid grid(MPI_COMM_WORLD, all_grid_shapes(world_size()).back());
  const DistMatrix dist = open_input(MPI_COMM_WORLD, options)->distribute(grid);
  EXPECT_EQ(dist.block.storage, Storage::dense);  // 70% dense: above the automatic threshold
  expect_block_matches(dist, grid, x, false);
}

}  // namespace
}  // namespace nmf::test
