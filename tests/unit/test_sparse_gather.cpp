// The cache-blocked sparse gather: any number of panels, and the k-specialized and generic kernels, give
// the reference product.
#include <gtest/gtest.h>

#include <random>

#include "dense_helpers.hpp"
#include "nmf/kernels/products.hpp"
#include "nmf/partition.hpp"

namespace {

using nmf::CompressedMatrix;
using nmf::DenseMatrix;
using nmf::index_t;

// A random CSR with empty rows, uneven row lengths and, if asked, one full row.
CompressedMatrix random_csr(index_t rows, index_t cols, index_t entries, std::mt19937_64& rng, bool full_row = true) {
  nmf::TripletChunks chunks(1);
  std::uniform_real_distribution<double> value(0.5, 2.0);
  for (index_t e = 0; e < entries; ++e) {
    const index_t r = static_cast<index_t>(rng() % static_cast<std::uint64_t>(rows));
    if (r % 7 == 3) continue;  // empty rows
    chunks[0].push_back({r, static_cast<index_t>(rng() % static_cast<std::uint64_t>(cols)), value(rng)});
  }
  if (full_row)
    for (index_t c = 0; c < cols; ++c) chunks[0].push_back({1, c, value(rng)});
  index_t duplicates = 0;
  return nmf::compress_rows(rows, cols, std::move(chunks), duplicates);
}

// out(:, r) = sum_c v(r, c) factor(:, c), by the definition.
DenseMatrix reference_gather(const DenseMatrix& factor, const CompressedMatrix& c) {
  DenseMatrix out(factor.rows(), c.rows);
  for (index_t r = 0; r < c.rows; ++r)
    for (index_t p = c.ptr[r]; p < c.ptr[r + 1]; ++p)
      for (index_t q = 0; q < factor.rows(); ++q) out(q, r) += c.values[p] * factor(q, c.index[p]);
  return out;
}

TEST(SparseGather, PanelsSplitEveryRowAtTheSameColumns) {
  std::mt19937_64 rng(1);
  const CompressedMatrix c = random_csr(50, 400, 3000, rng);
  const nmf::GatherPlan plan = nmf::plan_gather(c, 8, 8 * 8 * 100);  // a factor panel of about 100 columns
  ASSERT_GT(plan.panels, 1);
  const nmf::BlockPartition columns = nmf::BlockPartition::even(c.cols, plan.panels);
  for (index_t r = 0; r < c.rows; ++r) {
    for (int p = 1; p < plan.panels; ++p) {
      const index_t start = c.ptr[r] + plan.splits[static_cast<std::size_t>((p - 1) * c.rows + r)];
      if (start > c.ptr[r]) EXPECT_LT(c.index[start - 1], columns.begin(p));
      if (start < c.ptr[r + 1]) EXPECT_GE(c.index[start], columns.begin(p));
    }
  }
}

TEST(SparseGather, EveryPanelCountAndEveryKernelMatchesTheReference) {
  std::mt19937_64 rng(2);
  const CompressedMatrix c = random_csr(60, 500, 4000, rng);
  for (const index_t k : {1, 3, 8, 20, 64, 65, 80}) {  // specialized up to 64, generic above
    const DenseMatrix factor = nmf::test::random_dense(k, c.cols, rng);
    const DenseMatrix expected = reference_gather(factor, c);
    for (const index_t cache_bytes : {index_t{1} << 30, 8 * k * 200, 8 * k * 37}) {
      const nmf::GatherPlan plan = nmf::plan_gather(c, k, cache_bytes);
      DenseMatrix out;
      nmf::multiply_compressed(factor, c, plan, out);
      ASSERT_EQ(out.rows(), k);
      ASSERT_EQ(out.cols(), c.rows);
      for (index_t i = 0; i < out.size(); ++i)
        ASSERT_NEAR(out.data()[i], expected.data()[i], 1e-12 * std::abs(expected.data()[i]))
            << "k " << k << ", " << plan.panels << " panels, entry " << i;
    }
  }
}

TEST(SparseGather, NeverMorePanelsThanTheDensityJustifies) {
  // Two entries per row on average: a pass per panel would stream the whole output for almost nothing.
  std::mt19937_64 rng(3);
  const CompressedMatrix c = random_csr(1000, 100000, 2000, rng, /*full_row=*/false);
  EXPECT_EQ(nmf::plan_gather(c, 20, 1 << 10).panels, 1);
}

}  // namespace
