#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dense_helpers.hpp"
#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/error.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/products.hpp"
#include "nmf/matrix.hpp"

namespace {

using nmf::test::max_abs;
using nmf::test::random_dense;
using nmf::test::times;

using nmf::CompressedMatrix;
using nmf::DenseMatrix;
using nmf::index_t;
using nmf::LocalBlock;
using nmf::Storage;
using nmf::Triplet;
using nmf::TripletChunks;

// Random non-negative entries, with duplicates, in a few chunks. Rows and columns listed in `skip_rows`
// and `skip_cols` get no entries, so the block has empty rows and columns.
TripletChunks random_triplets(index_t rows, index_t cols, index_t count, std::mt19937_64& rng,
                              const std::vector<index_t>& skip_rows = {}, const std::vector<index_t>& skip_cols = {}) {
  TripletChunks chunks(3);
  std::uniform_real_distribution<double> value(0.0, 1.0);
  auto skipped = [](const std::vector<index_t>& list, index_t i) {
    return std::find(list.begin(), list.end(), i) != list.end();
  };
  for (index_t e = 0; e < count; ++e) {
    const index_t r = static_cast<index_t>(rng() % static_cast<std::uint64_t>(rows));
    const index_t c = static_cast<index_t>(rng() % static_cast<std::uint64_t>(cols));
    if (skipped(skip_rows, r) || skipped(skip_cols, c)) continue;
    chunks[static_cast<std::size_t>(e % 3)].push_back(Triplet{r, c, value(rng)});
  }
  return chunks;
}

// The matrix the triplets describe, duplicates summed.
DenseMatrix densify(index_t rows, index_t cols, const TripletChunks& chunks) {
  DenseMatrix x(rows, cols);
  for (const auto& chunk : chunks)
    for (const Triplet& t : chunk) x(t.row, t.col) += t.value;
  return x;
}

// With non-negative inputs every entry is a sum of non-negative terms, so a relative bound per entry holds.
void expect_close(const DenseMatrix& actual, const DenseMatrix& expected, double relative) {
  ASSERT_EQ(actual.rows(), expected.rows());
  ASSERT_EQ(actual.cols(), expected.cols());
  for (index_t j = 0; j < expected.cols(); ++j)
    for (index_t i = 0; i < expected.rows(); ++i)
      EXPECT_NEAR(actual(i, j), expected(i, j), relative * std::abs(expected(i, j))) << "(" << i << ", " << j << ")";
}

// ----- compress_rows / transpose_compressed ------------------------------------------------------------------

TEST(CompressRows, SumsDuplicatesAndSortsColumns) {
  TripletChunks chunks{{{0, 3, 1.0}, {0, 1, 2.0}}, {{0, 3, 4.0}, {2, 0, 5.0}}, {}, {{0, 3, 0.5}}};
  index_t duplicates = -1;
  const CompressedMatrix csr = nmf::compress_rows(3, 4, std::move(chunks), duplicates);
  EXPECT_EQ(csr.rows, 3);
  EXPECT_EQ(csr.cols, 4);
  EXPECT_EQ(duplicates, 2);
  EXPECT_EQ(csr.ptr, (std::vector<index_t>{0, 2, 2, 3}));
  EXPECT_EQ(csr.index, (std::vector<index_t>{1, 3, 0}));
  EXPECT_EQ(csr.values, (std::vector<double>{2.0, 5.5, 5.0}));
  EXPECT_EQ(csr.nnz(), 3);
}

TEST(CompressRows, ReleasesEveryChunk) {
  TripletChunks chunks{{{0, 0, 1.0}}, {{1, 1, 1.0}, {1, 0, 2.0}}};
  index_t duplicates = 0;
  nmf::compress_rows(2, 2, std::move(chunks), duplicates);
  for (const auto& chunk : chunks) EXPECT_EQ(chunk.capacity(), 0u);
}

TEST(CompressRows, NoEntries) {
  index_t duplicates = -1;
  const CompressedMatrix csr = nmf::compress_rows(4, 5, TripletChunks{{}, {}}, duplicates);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(csr.ptr, (std::vector<index_t>(5, 0)));
  EXPECT_TRUE(csr.index.empty());
  EXPECT_EQ(csr.nnz(), 0);
}

TEST(CompressRows, MatchesDenseSumOnRandomInput) {
  std::mt19937_64 rng(1);
  TripletChunks chunks = random_triplets(30, 20, 400, rng, {0, 7, 29}, {3});
  index_t count = 0;
  for (const auto& c : chunks) count += static_cast<index_t>(c.size());
  const DenseMatrix expected = densify(30, 20, chunks);
  index_t duplicates = 0;
  const CompressedMatrix csr = nmf::compress_rows(30, 20, std::move(chunks), duplicates);
  EXPECT_EQ(duplicates, count - csr.nnz());
  DenseMatrix rebuilt(30, 20);
  for (index_t r = 0; r < csr.rows; ++r) {
    for (index_t p = csr.ptr[r]; p < csr.ptr[r + 1]; ++p) {
      if (p > csr.ptr[r]) {
        EXPECT_LT(csr.index[p - 1], csr.index[p]) << "row " << r;
      }
      rebuilt(r, csr.index[p]) = csr.values[p];
    }
  }
  for (index_t r : {0, 7, 29}) EXPECT_EQ(csr.ptr[r], csr.ptr[r + 1]);
  // Duplicates are summed in an unspecified order, so allow rounding.
  expect_close(rebuilt, expected, 1e-15);
}

TEST(TransposeCompressed, HandExample) {
  // [0 2 0 5]
  // [0 0 0 0]
  // [5 0 0 1]
  CompressedMatrix csr;
  csr.rows = 3;
  csr.cols = 4;
  csr.ptr = {0, 2, 2, 4};
  csr.index = {1, 3, 0, 3};
  csr.values = {2.0, 5.0, 5.0, 1.0};
  const CompressedMatrix csc = nmf::transpose_compressed(csr);
  EXPECT_EQ(csc.rows, 4);
  EXPECT_EQ(csc.cols, 3);
  EXPECT_EQ(csc.ptr, (std::vector<index_t>{0, 1, 2, 2, 4}));
  EXPECT_EQ(csc.index, (std::vector<index_t>{2, 0, 0, 2}));
  EXPECT_EQ(csc.values, (std::vector<double>{5.0, 2.0, 5.0, 1.0}));
}

TEST(TransposeCompressed, RoundTripIsIdentity) {
  std::mt19937_64 rng(2);
  index_t duplicates = 0;
  const CompressedMatrix csr = nmf::compress_rows(25, 40, random_triplets(25, 40, 300, rng, {4}, {0, 39}), duplicates);
  const CompressedMatrix back = nmf::transpose_compressed(nmf::transpose_compressed(csr));
  EXPECT_EQ(back.rows, csr.rows);
  EXPECT_EQ(back.cols, csr.cols);
  EXPECT_EQ(back.ptr, csr.ptr);
  EXPECT_EQ(back.index, csr.index);
  EXPECT_EQ(back.values, csr.values);
}

// ----- bucketed placement against a plain reference -----------------------------------------------------------

// The CSR of the triplets by the definition: all of them sorted by (row, column), stably, so that duplicates
// keep the order they arrived in, and equal positions summed left to right.
CompressedMatrix reference_csr(index_t rows, index_t cols, const TripletChunks& chunks) {
  std::vector<Triplet> all;
  for (const auto& chunk : chunks) all.insert(all.end(), chunk.begin(), chunk.end());
  std::stable_sort(all.begin(), all.end(),
                   [](const Triplet& a, const Triplet& b) { return a.row != b.row ? a.row < b.row : a.col < b.col; });
  CompressedMatrix csr;
  csr.rows = rows;
  csr.cols = cols;
  csr.ptr.assign(static_cast<std::size_t>(rows + 1), 0);
  for (std::size_t e = 0; e < all.size(); ++e) {
    if (e > 0 && all[e].row == all[e - 1].row && all[e].col == all[e - 1].col) {
      csr.values.back() += all[e].value;
      continue;
    }
    csr.index.push_back(all[e].col);
    csr.values.push_back(all[e].value);
    ++csr.ptr[static_cast<std::size_t>(all[e].row + 1)];
  }
  for (index_t r = 0; r < rows; ++r) csr.ptr[r + 1] += csr.ptr[r];
  return csr;
}

// The CSC by the definition: each column's entries in row order.
CompressedMatrix reference_transpose(const CompressedMatrix& a) {
  std::vector<std::vector<std::pair<index_t, double>>> columns(static_cast<std::size_t>(a.cols));
  for (index_t r = 0; r < a.rows; ++r)
    for (index_t p = a.ptr[r]; p < a.ptr[r + 1]; ++p) columns[a.index[p]].push_back({r, a.values[p]});
  CompressedMatrix t;
  t.rows = a.cols;
  t.cols = a.rows;
  for (const auto& column : columns) {
    for (const auto& [row, value] : column) {
      t.index.push_back(row);
      t.values.push_back(value);
    }
    t.ptr.push_back(static_cast<index_t>(t.index.size()));
  }
  return t;
}

void expect_same(const CompressedMatrix& actual, const CompressedMatrix& expected, const std::string& what) {
  EXPECT_EQ(actual.rows, expected.rows) << what;
  EXPECT_EQ(actual.cols, expected.cols) << what;
  EXPECT_EQ(actual.ptr, expected.ptr) << what;
  EXPECT_EQ(actual.index, expected.index) << what;
  EXPECT_EQ(actual.values, expected.values) << what;  // the same sums in the same order: bit for bit
}

// Compresses and transposes `chunks` with buckets of every size from one row (column) each to all in one,
// comparing each result with the reference (the transpose only if asked: it has a pointer per column).
void expect_placement_matches_reference(index_t rows, index_t cols, const TripletChunks& chunks,
                                        const std::string& what, bool transpose = true) {
  const CompressedMatrix expected = reference_csr(rows, cols, chunks);
  index_t entries = 0;
  for (const auto& chunk : chunks) entries += static_cast<index_t>(chunk.size());
  for (int bits : {0, 1, 2, 3, 5, nmf::detail::kMaxBucketBits}) {
    const std::string label = what + ", at most 2^" + std::to_string(bits) + " buckets";
    TripletChunks copy = chunks;
    index_t duplicates = -1;
    const CompressedMatrix csr = nmf::detail::compress_rows_in_buckets(rows, cols, std::move(copy), duplicates, bits);
    expect_same(csr, expected, label);
    EXPECT_EQ(duplicates, entries - expected.nnz()) << label;
    if (transpose)
      expect_same(nmf::detail::transpose_in_buckets(csr, bits), reference_transpose(expected), label + ", transposed");
  }
}

TEST(BucketedPlacement, MatchesReferenceOnUnsortedInputWithDuplicatesAndEmptyLines) {
  std::mt19937_64 rng(11);
  expect_placement_matches_reference(37, 23, random_triplets(37, 23, 500, rng, {0, 5, 36}, {0, 22}),
                                     "unsorted with duplicates");
}

TEST(BucketedPlacement, MatchesReferenceOnRowAndColumnSortedInput) {
  std::mt19937_64 rng(12);
  std::vector<Triplet> all = random_triplets(19, 29, 300, rng, {3}, {7})[0];
  std::sort(all.begin(), all.end(),
            [](const Triplet& a, const Triplet& b) { return a.row != b.row ? a.row < b.row : a.col < b.col; });
  expect_placement_matches_reference(19, 29, {all}, "row-major sorted");
  std::stable_sort(all.begin(), all.end(), [](const Triplet& a, const Triplet& b) { return a.col < b.col; });
  expect_placement_matches_reference(19, 29, {all}, "column-major sorted");
  std::reverse(all.begin(), all.end());
  expect_placement_matches_reference(19, 29, {all}, "reverse sorted");
}

TEST(BucketedPlacement, MatchesReferenceOnEdgeShapes) {
  expect_placement_matches_reference(1, 1, {{{0, 0, 1.5}, {0, 0, 2.0}}, {}}, "1 x 1 with a duplicate");
  expect_placement_matches_reference(1, 6, {{{0, 5, 1.0}, {0, 2, 2.0}}, {{0, 0, 3.0}}}, "one row");
  expect_placement_matches_reference(6, 1, {{{5, 0, 1.0}, {2, 0, 2.0}}, {{0, 0, 3.0}}}, "one column");
  expect_placement_matches_reference(9, 4, {{}, {}}, "no entries");
  // Column indices that leave no bits to pack a row offset beside them: one row per bucket.
  const index_t huge = std::numeric_limits<index_t>::max() / 2;
  expect_placement_matches_reference(5, huge, {{{4, huge - 1, 1.0}, {0, 3, 2.0}, {4, 0, 4.0}, {4, huge - 1, 8.0}}},
                                     "2^62 columns", false);
}

// ----- local products ----------------------------------------------------------------------------------------

LocalBlock make_block(Storage storage, index_t rows, index_t cols, TripletChunks chunks) {
  index_t duplicates = 0;
  return nmf::assemble_block(storage, rows, cols, std::move(chunks), duplicates);
}

TEST(AssembleBlock, DenseAndSparseHoldTheSameMatrix) {
  std::mt19937_64 rng(3);
  const TripletChunks chunks = random_triplets(12, 9, 80, rng, {5}, {2});
  const DenseMatrix expected = densify(12, 9, chunks);
  const LocalBlock dense = make_block(Storage::dense, 12, 9, chunks);
  const LocalBlock sparse = make_block(Storage::sparse, 12, 9, chunks);
  ASSERT_EQ(dense.dense.rows(), 12);
  ASSERT_EQ(dense.dense.cols(), 9);
  expect_close(dense.dense, expected, 1e-15);
  const DenseMatrix from_csc = [&] {
    DenseMatrix x(12, 9);
    for (index_t c = 0; c < sparse.csc.rows; ++c)
      for (index_t p = sparse.csc.ptr[c]; p < sparse.csc.ptr[c + 1]; ++p)
        x(sparse.csc.index[p], c) = sparse.csc.values[p];
    return x;
  }();
  expect_close(from_csc, expected, 1e-15);
  index_t nonzeros = 0;
  for (double v : expected.values()) nonzeros += v != 0.0;
  EXPECT_EQ(dense.nonzeros, nonzeros);
  EXPECT_EQ(sparse.nonzeros, nonzeros);
}

TEST(ReferenceKernels, HandExample) {
  // X (2 x 3) = [1 0 2; 0 3 0], At (k=2 x 2) = [1 2; 3 4], S (2 x 3) = [1 0 1; 2 1 0].
  TripletChunks chunks{{{0, 0, 1.0}, {0, 2, 2.0}, {1, 1, 3.0}}};
  DenseMatrix at(2, 2);
  at(0, 0) = 1, at(0, 1) = 2, at(1, 0) = 3, at(1, 1) = 4;
  DenseMatrix s(2, 3);
  s(0, 0) = 1, s(0, 1) = 0, s(0, 2) = 1, s(1, 0) = 2, s(1, 1) = 1, s(1, 2) = 0;
  for (Storage storage : {Storage::dense, Storage::sparse}) {
    const LocalBlock x = make_block(storage, 2, 3, chunks);
    // At * X = [1 6 2; 3 12 6].
    DenseMatrix atx;
    nmf::reference::multiply_at_x(at, x, atx);
    ASSERT_EQ(atx.rows(), 2);
    ASSERT_EQ(atx.cols(), 3);
    EXPECT_EQ(atx.values(), (std::vector<double>{1, 3, 6, 12, 2, 6}));
    // S * X^T = [3 0; 2 3].
    DenseMatrix sxt;
    nmf::reference::multiply_s_xt(s, x, sxt);
    ASSERT_EQ(sxt.rows(), 2);
    ASSERT_EQ(sxt.cols(), 2);
    EXPECT_EQ(sxt.values(), (std::vector<double>{3, 2, 0, 3}));
  }
}

TEST(MultiplyCompressed, MatchesNaiveSum) {
  std::mt19937_64 rng(4);
  index_t duplicates = 0;
  const CompressedMatrix c = nmf::compress_rows(15, 11, random_triplets(15, 11, 90, rng, {0, 14}), duplicates);
  const DenseMatrix factor = random_dense(5, 11, rng);
  DenseMatrix out(3, 3, 99.0);  // stale content of another shape must not leak into the result
  nmf::multiply_compressed(factor, c, out);
  DenseMatrix expected(5, 15);
  for (index_t r = 0; r < 15; ++r)
    for (index_t p = c.ptr[r]; p < c.ptr[r + 1]; ++p)
      for (index_t q = 0; q < 5; ++q) expected(q, r) += c.values[p] * factor(q, c.index[p]);
  expect_close(out, expected, 1e-12);
  for (index_t q = 0; q < 5; ++q) EXPECT_EQ(out(q, 0), 0.0);
}

TEST(MultiplyCompressed, RejectsMismatchedFactor) {
  CompressedMatrix c;
  c.rows = 2;
  c.cols = 3;
  c.ptr = {0, 0, 0};
  DenseMatrix out;
  EXPECT_THROW(nmf::multiply_compressed(DenseMatrix(2, 4), c, out), nmf::Error);
}

struct ProductCase {
  index_t rows, cols, entries;
  std::vector<index_t> empty_rows, empty_cols;
};

// Fast kernels against the reference loops, for both storages, several k, and blocks with empty rows
// and columns, a block with no entries and a block with no rows. The 30 x 600 block is wider than the
// slices a dense A^T X is formed in (dense.cpp): two whole slices and a partial one.
TEST(LocalProducts, MatchReferenceKernels) {
  const std::vector<ProductCase> cases = {
      {17, 13, 120, {}, {}}, {17, 13, 60, {0, 5, 16}, {1, 12}},
      {9, 30, 0, {}, {}},    {40, 1, 25, {3}, {}},
      {1, 40, 25, {}, {39}}, {0, 6, 0, {}, {}},
      {6, 0, 0, {}, {}},     {30, 600, 4000, {2}, {0, 255, 256, 599}},
  };
  std::mt19937_64 rng(5);
  for (const ProductCase& pc : cases) {
    const TripletChunks chunks = pc.entries > 0
                                     ? random_triplets(pc.rows, pc.cols, pc.entries, rng, pc.empty_rows, pc.empty_cols)
                                     : TripletChunks{};
    for (Storage storage : {Storage::dense, Storage::sparse}) {
      const LocalBlock x = make_block(storage, pc.rows, pc.cols, chunks);
      for (int k : {1, 3, 20}) {
        SCOPED_TRACE(::testing::Message()
                     << pc.rows << " x " << pc.cols << ", " << nmf::storage_name(storage) << ", k = " << k);
        const DenseMatrix at = random_dense(k, pc.rows, rng);
        const DenseMatrix s = random_dense(k, pc.cols, rng);
        DenseMatrix fast, slow;
        nmf::multiply_at_x(at, x, fast);
        nmf::reference::multiply_at_x(at, x, slow);
        expect_close(fast, slow, 1e-12);
        nmf::multiply_s_xt(s, x, fast);
        nmf::reference::multiply_s_xt(s, x, slow);
        expect_close(fast, slow, 1e-12);
      }
    }
  }
}

TEST(LocalProducts, ReferenceMatchesDenseDefinition) {
  std::mt19937_64 rng(6);
  const TripletChunks chunks = random_triplets(8, 6, 30, rng);
  const DenseMatrix xd = densify(8, 6, chunks);
  const LocalBlock x = make_block(Storage::sparse, 8, 6, chunks);
  const DenseMatrix at = random_dense(3, 8, rng);
  DenseMatrix out;
  nmf::reference::multiply_at_x(at, x, out);
  DenseMatrix expected(3, 6);
  for (index_t q = 0; q < 3; ++q)
    for (index_t j = 0; j < 6; ++j)
      for (index_t i = 0; i < 8; ++i) expected(q, j) += at(q, i) * xd(i, j);
  expect_close(out, expected, 1e-12);
}

// ----- dense kernels -----------------------------------------------------------------------------------------

TEST(Gram, MatchesNaiveTripleLoop) {
  std::mt19937_64 rng(7);
  for (index_t k : {1, 4, 13}) {
    const DenseMatrix f = random_dense(k, 57, rng);
    DenseMatrix g(2, 2, 7.0);
    nmf::gram(f, g);
    ASSERT_EQ(g.rows(), k);
    ASSERT_EQ(g.cols(), k);
    DenseMatrix expected(k, k);
    for (index_t i = 0; i < k; ++i)
      for (index_t j = 0; j < k; ++j)
        for (index_t l = 0; l < 57; ++l) expected(i, j) += f(i, l) * f(j, l);
    expect_close(g, expected, 1e-12);
    for (index_t i = 0; i < k; ++i)
      for (index_t j = 0; j < k; ++j) EXPECT_EQ(g(i, j), g(j, i));
  }
}

TEST(Gram, EmptySliceGivesZeros) {
  DenseMatrix g(3, 3, 5.0);
  nmf::gram(DenseMatrix(3, 0), g);
  ASSERT_EQ(g.rows(), 3);
  ASSERT_EQ(g.cols(), 3);
  for (double v : g.values()) EXPECT_EQ(v, 0.0);
}

TEST(FrobeniusDot, HandExample) {
  DenseMatrix a(2, 2), b(2, 2);
  a(0, 0) = 1, a(0, 1) = 2, a(1, 0) = 3, a(1, 1) = 4;
  b(0, 0) = 5, b(0, 1) = 6, b(1, 0) = 7, b(1, 1) = 8;
  EXPECT_EQ(nmf::frobenius_dot(a, b), 70.0);
  EXPECT_EQ(nmf::frobenius_dot(DenseMatrix(0, 3), DenseMatrix(0, 3)), 0.0);
}

TEST(FrobeniusDot, RejectsShapeMismatch) {
  EXPECT_THROW(nmf::frobenius_dot(DenseMatrix(2, 3), DenseMatrix(3, 2)), nmf::Error);
}

TEST(CholeskySolve, HandExample) {
  // [4 2; 2 3] y = [2; 1]  =>  y = [1/2; 0].
  DenseMatrix g(2, 2);
  g(0, 0) = 4, g(0, 1) = 2, g(1, 0) = 2, g(1, 1) = 3;
  DenseMatrix rhs(2, 1);
  rhs(0, 0) = 2, rhs(1, 0) = 1;
  EXPECT_EQ(nmf::cholesky_solve(g, rhs), 0.0);
  EXPECT_NEAR(rhs(0, 0), 0.5, 1e-15);
  EXPECT_NEAR(rhs(1, 0), 0.0, 1e-15);
}

TEST(CholeskySolve, SpdSystemHasSmallResidual) {
  std::mt19937_64 rng(8);
  const index_t k = 12;
  const DenseMatrix f = random_dense(k, 3 * k, rng);
  DenseMatrix g;
  nmf::gram(f, g);
  const DenseMatrix rhs = random_dense(k, 5, rng, -1.0, 1.0);
  DenseMatrix y = rhs;
  EXPECT_EQ(nmf::cholesky_solve(g, y), 0.0);
  DenseMatrix residual = times(g, y);
  for (index_t i = 0; i < residual.size(); ++i) residual.values()[i] -= rhs.values()[i];
  EXPECT_LT(max_abs(residual), 1e-10 * max_abs(rhs));
}

TEST(CholeskySolve, SingularGramGetsARidge) {
  // A factor with an all-zero row gives a Gram with a zero row and column.
  std::mt19937_64 rng(9);
  const index_t k = 5;
  DenseMatrix f = random_dense(k, 20, rng);
  for (index_t l = 0; l < 20; ++l) f(2, l) = 0.0;
  DenseMatrix g;
  nmf::gram(f, g);
  DenseMatrix truth = random_dense(k, 2, rng);
  for (index_t j = 0; j < 2; ++j) truth(2, j) = 0.0;
  const DenseMatrix rhs = times(g, truth);  // consistent: zero in the zero row
  DenseMatrix y = rhs;
  const double ridge = nmf::cholesky_solve(g, y);
  EXPECT_GT(ridge, 0.0);
  for (double v : y.values()) EXPECT_TRUE(std::isfinite(v));
  for (index_t j = 0; j < 2; ++j) EXPECT_EQ(y(2, j), 0.0);
  // The ridge is tiny next to the diagonal, so the other components are recovered.
  for (index_t j = 0; j < 2; ++j)
    for (index_t i = 0; i < k; ++i) EXPECT_NEAR(y(i, j), truth(i, j), 1e-6);
}

TEST(CholeskySolve, ZeroGramGetsARidge) {
  DenseMatrix y(3, 1, 0.0);
  EXPECT_GT(nmf::cholesky_solve(DenseMatrix(3, 3, 0.0), y), 0.0);
  for (double v : y.values()) EXPECT_EQ(v, 0.0);
}

TEST(CholeskySolve, EmptySystem) {
  DenseMatrix y(0, 4);
  EXPECT_EQ(nmf::cholesky_solve(DenseMatrix(0, 0), y), 0.0);
}

DenseMatrix spd3() {
  DenseMatrix g(3, 3);
  g(0, 0) = 4, g(1, 1) = 5, g(2, 2) = 6;
  g(0, 1) = g(1, 0) = 1;
  g(1, 2) = g(2, 1) = 1;
  return g;
}

TEST(CholeskySolve, ThrowsOnNaNOnTheDiagonal) {
  DenseMatrix g = spd3();
  g(1, 1) = std::numeric_limits<double>::quiet_NaN();
  DenseMatrix y(3, 1, 1.0);
  EXPECT_THROW(nmf::cholesky_solve(g, y), nmf::Error);
}

TEST(CholeskySolve, ThrowsOnNaNOffTheDiagonal) {
  DenseMatrix g = spd3();
  g(0, 2) = g(2, 0) = std::numeric_limits<double>::quiet_NaN();
  DenseMatrix y(3, 1, 1.0);
  EXPECT_THROW(nmf::cholesky_solve(g, y), nmf::Error);
}

TEST(CholeskySolve, ThrowsOnInfinity) {
  DenseMatrix g = spd3();
  g(0, 1) = g(1, 0) = std::numeric_limits<double>::infinity();
  DenseMatrix y(3, 1, 1.0);
  EXPECT_THROW(nmf::cholesky_solve(g, y), nmf::Error);
}

// ----- stabilize_gram ------------------------------------------------------------------------------------

DenseMatrix diagonal(const std::vector<double>& entries) {
  const index_t k = static_cast<index_t>(entries.size());
  DenseMatrix g(k, k);
  for (index_t i = 0; i < k; ++i) g(i, i) = entries[static_cast<std::size_t>(i)];
  return g;
}

double mean_diagonal(const DenseMatrix& g) {
  double trace = 0.0;
  for (index_t i = 0; i < g.rows(); ++i) trace += g(i, i);
  return trace / static_cast<double>(g.rows());
}

// G + ridge I == stabilized, entry for entry.
void expect_ridge_added(const DenseMatrix& original, const DenseMatrix& stabilized, double ridge) {
  ASSERT_EQ(stabilized.rows(), original.rows());
  ASSERT_EQ(stabilized.cols(), original.cols());
  for (index_t j = 0; j < original.cols(); ++j)
    for (index_t i = 0; i < original.rows(); ++i)
      EXPECT_EQ(stabilized(i, j), i == j ? original(i, j) + ridge : original(i, j)) << i << ", " << j;
}

TEST(StabilizeGram, WellConditionedGramIsLeftUnchanged) {
  std::mt19937_64 rng(20);
  // Reciprocal condition numbers: 1, ~0.2, ~1e-3 or better, and 1e-12 (still above the 1e-13 threshold).
  const std::vector<DenseMatrix> grams = {diagonal({1, 1, 1, 1, 1}), spd3(), nmf::test::random_gram(8, rng),
                                          nmf::test::random_gram(20, rng, -1.0, 1.0), diagonal({1.0, 1e-12})};
  for (const DenseMatrix& original : grams) {
    DenseMatrix g = original;
    EXPECT_EQ(nmf::stabilize_gram(g), 0.0);
    EXPECT_EQ(g.values(), original.values());
  }
}

TEST(StabilizeGram, IllConditionedDiagonalGetsTheDocumentedRidge) {
  // diag(1, 1, 1e-16): condition number 1e16, nonsingular. The ridges tried are 1e-13, then 1e-11, ... times
  // the mean diagonal m = 2/3 (1e-16 is lost in the sum). With 1e-13 m the reciprocal condition number is
  // (1e-16 + 6.7e-14) / (1 + 6.7e-14) < 1e-13; with 1e-11 m it is 6.7e-12, enough.
  const DenseMatrix original = diagonal({1.0, 1.0, 1e-16});
  DenseMatrix g = original;
  const double ridge = nmf::stabilize_gram(g);
  EXPECT_DOUBLE_EQ(ridge, 1e-11 * (2.0 / 3.0));
  expect_ridge_added(original, g, ridge);
  // diag(1, 1e-14): 1e-13 m gives (1e-14 + 5e-14) / 1 < 1e-13, so 1e-11 m again.
  const DenseMatrix second = diagonal({1.0, 1e-14});
  DenseMatrix h = second;
  EXPECT_DOUBLE_EQ(nmf::stabilize_gram(h), 1e-11 * (1.0 + 1e-14) / 2.0);
}

TEST(StabilizeGram, NearlyCollinearPairGetsASmallRidge) {
  // [1 1; 1 1 + 8 eps]: exactly representable, determinant 8 eps > 0, condition number ~ 4 / (8 eps) ~ 2e15.
  const double eps = std::numeric_limits<double>::epsilon();
  DenseMatrix original(2, 2);
  original(0, 0) = original(0, 1) = original(1, 0) = 1.0;
  original(1, 1) = 1.0 + 8.0 * eps;
  DenseMatrix unused(2, 1, 1.0);
  EXPECT_GT(nmf::cholesky_solve(original, unused), 0.0);  // cholesky_solve takes the same decision
  DenseMatrix g = original;
  const double ridge = nmf::stabilize_gram(g);
  EXPECT_GT(ridge, 0.0);
  EXPECT_LE(ridge, 1e-6 * mean_diagonal(original));
  expect_ridge_added(original, g, ridge);
  DenseMatrix y(2, 1, 1.0);
  EXPECT_EQ(nmf::cholesky_solve(g, y), 0.0);  // numerically SPD now
  // The condition number is still ~1 / ridge, so y itself carries round-off of relative size ~eps / ridge;
  // the residual of the backward-stable solve is at round-off level: |G y - b| <= small * (|G| |y| + |b|).
  for (index_t i = 0; i < 2; ++i) {
    const double residual = g(i, 0) * y(0, 0) + g(i, 1) * y(1, 0) - 1.0;
    const double terms = std::abs(g(i, 0) * y(0, 0)) + std::abs(g(i, 1) * y(1, 0)) + 1.0;
    EXPECT_LE(std::abs(residual), 1e-14 * terms) << i;
  }
  EXPECT_NEAR(y(0, 0) + y(1, 0), 1.0, 1e-6);  // (1 + r) y_0 + y_1 = 1 with r ~ 1e-11
}

TEST(StabilizeGram, SingularGramsGetARidge) {
  std::mt19937_64 rng(21);
  DenseMatrix zero_row = nmf::test::random_gram(6, rng);
  for (index_t i = 0; i < 6; ++i) zero_row(i, 4) = zero_row(4, i) = 0.0;
  const DenseMatrix rank_one = nmf::test::gram_of(random_dense(5, 1, rng));
  for (const DenseMatrix& original : {zero_row, rank_one}) {
    DenseMatrix g = original;
    const double ridge = nmf::stabilize_gram(g);
    EXPECT_GT(ridge, 0.0);
    EXPECT_LE(ridge, 1e-6 * mean_diagonal(original));
    expect_ridge_added(original, g, ridge);
    DenseMatrix y = random_dense(original.rows(), 3, rng);
    EXPECT_EQ(nmf::cholesky_solve(g, y), 0.0);
    for (double v : y.values()) EXPECT_TRUE(std::isfinite(v));
  }
  // All zero (no mean diagonal to scale by): still some positive finite ridge that makes it SPD.
  DenseMatrix g(3, 3);
  const double ridge = nmf::stabilize_gram(g);
  EXPECT_GT(ridge, 0.0);
  EXPECT_TRUE(std::isfinite(ridge));
  expect_ridge_added(DenseMatrix(3, 3), g, ridge);
  DenseMatrix y(3, 1, 1.0);
  EXPECT_EQ(nmf::cholesky_solve(g, y), 0.0);
}

TEST(StabilizeGram, EmptyAndNonFinite) {
  DenseMatrix empty;
  EXPECT_EQ(nmf::stabilize_gram(empty), 0.0);
  DenseMatrix g = spd3();
  g(2, 1) = g(1, 2) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(nmf::stabilize_gram(g), nmf::Error);
  DenseMatrix h = spd3();
  h(0, 0) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(nmf::stabilize_gram(h), nmf::Error);
}

// ----- residual_squared ----------------------------------------------------------------------------------------

// sum over all (i, j) of ((At^T S)_ij - X_ij)^2 by naive loops in long double.
double naive_residual_squared(const DenseMatrix& at, const DenseMatrix& s, const DenseMatrix& x) {
  long double sum = 0.0L;
  for (index_t j = 0; j < x.cols(); ++j) {
    for (index_t i = 0; i < x.rows(); ++i) {
      long double product = 0.0L;
      for (index_t q = 0; q < at.rows(); ++q) product += static_cast<long double>(at(q, i)) * s(q, j);
      const long double r = product - x(i, j);
      sum += r * r;
    }
  }
  return static_cast<double>(sum);
}

TEST(ResidualSquared, MatchesNaiveSumForDenseAndSparseBlocks) {
  // The kernel forms At^T S a tile of about 2^20 doubles at a time: 2^20 / rows columns per tile. 3000 x 800
  // makes three tiles (349, 349, 102 columns); 2^19 + 1 rows makes tiles one column wide.
  const std::vector<ProductCase> cases = {
      {17, 13, 120, {}, {}},
      {17, 13, 60, {0, 5, 16}, {1, 12}},
      {9, 30, 0, {}, {}},
      {3000, 800, 30000, {0, 1500, 2999}, {0, 348, 349, 700, 799}},
      {(index_t{1} << 19) + 1, 3, 2000, {7}, {1}},
      {1, 40, 25, {}, {39}},
  };
  std::mt19937_64 rng(22);
  for (const ProductCase& pc : cases) {
    const TripletChunks chunks = pc.entries > 0
                                     ? random_triplets(pc.rows, pc.cols, pc.entries, rng, pc.empty_rows, pc.empty_cols)
                                     : TripletChunks{};
    const DenseMatrix xd = densify(pc.rows, pc.cols, chunks);
    for (int k : {0, 1, 4}) {
      const DenseMatrix at = random_dense(k, pc.rows, rng);
      const DenseMatrix s = random_dense(k, pc.cols, rng);
      const double expected = naive_residual_squared(at, s, xd);
      if (k > 0) {
        ASSERT_GT(expected, 0.0);
      }
      for (Storage storage : {Storage::dense, Storage::sparse}) {
        SCOPED_TRACE(::testing::Message()
                     << pc.rows << " x " << pc.cols << ", " << nmf::storage_name(storage) << ", k = " << k);
        const LocalBlock x = make_block(storage, pc.rows, pc.cols, chunks);
        // Every term is a square: the sum has no cancellation and is accurate to a few eps relative.
        EXPECT_NEAR(nmf::residual_squared(at, s, x), expected, 1e-12 * expected);
      }
    }
  }
}

TEST(ResidualSquared, ExactProductGivesExactlyZero) {
  // Small integers: every product and sum is exact, so X = At^T S exactly and the residual is exactly 0.
  // Zero columns of At and S give empty rows and columns of X; 3000 x 800 spans three tiles.
  const index_t rows = 3000, cols = 800, k = 3;
  std::mt19937_64 rng(23);
  std::uniform_int_distribution<int> small(0, 3);
  DenseMatrix at(k, rows), s(k, cols);
  for (double& v : at.values()) v = small(rng) == 0 ? small(rng) : 0.0;  // mostly zero
  for (double& v : s.values()) v = small(rng) == 0 ? small(rng) : 0.0;
  for (index_t i : {0, 1234, 2999})
    for (index_t q = 0; q < k; ++q) at(q, i) = 0.0;
  for (index_t j : {0, 349, 799})
    for (index_t q = 0; q < k; ++q) s(q, j) = 0.0;
  const DenseMatrix product = times(nmf::test::transposed(at), s);
  TripletChunks chunks(1);
  for (index_t j = 0; j < cols; ++j)
    for (index_t i = 0; i < rows; ++i)
      if (product(i, j) != 0.0) chunks[0].push_back(Triplet{i, j, product(i, j)});
  ASSERT_GT(chunks[0].size(), 1000u);
  ASSERT_LT(chunks[0].size(), static_cast<std::size_t>(rows * cols));
  for (Storage storage : {Storage::dense, Storage::sparse}) {
    SCOPED_TRACE(nmf::storage_name(storage));
    EXPECT_EQ(nmf::residual_squared(at, s, make_block(storage, rows, cols, chunks)), 0.0);
    // One entry off by 2 (in the last tile, where X is zero) and one off by 1 (in the first): 4 + 1.
    TripletChunks off = chunks;
    off[0].push_back(Triplet{2999, 799, 2.0});
    off[0].push_back(Triplet{10, 20, -1.0});
    EXPECT_EQ(nmf::residual_squared(at, s, make_block(storage, rows, cols, off)), 5.0);
  }
}

TEST(ResidualSquared, EmptyBlocksAndShapeChecks) {
  for (Storage storage : {Storage::dense, Storage::sparse}) {
    EXPECT_EQ(nmf::residual_squared(DenseMatrix(2, 0), DenseMatrix(2, 5), make_block(storage, 0, 5, {})), 0.0);
    EXPECT_EQ(nmf::residual_squared(DenseMatrix(2, 4), DenseMatrix(2, 0), make_block(storage, 4, 0, {})), 0.0);
    const LocalBlock x = make_block(storage, 4, 5, {});
    EXPECT_THROW(nmf::residual_squared(DenseMatrix(2, 3), DenseMatrix(2, 5), x), nmf::Error);
    EXPECT_THROW(nmf::residual_squared(DenseMatrix(2, 4), DenseMatrix(2, 6), x), nmf::Error);
    EXPECT_THROW(nmf::residual_squared(DenseMatrix(2, 4), DenseMatrix(3, 5), x), nmf::Error);
    // No stored entries: the residual is ||At^T S||^2; At^T S = 1 * 1 * 2 (k = 2) at each of 20 entries.
    EXPECT_EQ(nmf::residual_squared(DenseMatrix(2, 4, 1.0), DenseMatrix(2, 5, 1.0), x), 80.0);
  }
}

}  // namespace
