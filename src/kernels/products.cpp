#include "nmf/kernels/products.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "clones.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/partition.hpp"

namespace nmf {

namespace {

// Row r's entries in panel p: [begin, end) into c.index / c.values.
struct PanelRows {
  const CompressedMatrix& c;
  const GatherPlan& plan;
  int p;
  index_t begin(index_t r) const {
    return c.ptr[r] + (p == 0 ? 0 : plan.splits[static_cast<std::size_t>((p - 1) * c.rows + r)]);
  }
  index_t end(index_t r) const {
    return p == plan.panels - 1 ? c.ptr[r + 1] : c.ptr[r] + plan.splits[static_cast<std::size_t>(p * c.rows + r)];
  }
};

// Eight doubles as one value (GCC/Clang vector extension): one AVX-512 register, or two AVX2 ones.
typedef double Vec8 __attribute__((vector_size(64)));

inline Vec8 load8(const double* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vector load
  return v;
}

inline void store8(double* p, const Vec8& v) {
  std::memcpy(p, &v, sizeof v);
}

// The gather kernels are cloned per instruction set in a portable build (clones.hpp): without it the 64-byte
// vectors are split into SSE halves.
#define NMF_GATHER_CLONES NMF_KERNEL_CLONES_ATTRIBUTE

// Adds panel p of C times the factor into out (zero before the first panel), for a factor with exactly
// K rows. With K known at compile time the K sums of an output column stay in registers over the whole
// row (whole vectors of eight, then a tail of K % 8), instead of a load and store per entry.
template <int K>
NMF_GATHER_CLONES void gather_panel_fixed(const double* factor, const PanelRows& panel, double* out) {
  constexpr int kVectors = K / 8, kTail = K % 8;
  for (index_t r = 0; r < panel.c.rows; ++r) {
    double* dest = out + r * K;
    Vec8 sums[kVectors > 0 ? kVectors : 1];
    double tail[kTail > 0 ? kTail : 1];
    for (int i = 0; i < kVectors; ++i) sums[i] = load8(dest + 8 * i);
    for (int i = 0; i < kTail; ++i) tail[i] = dest[8 * kVectors + i];
    const index_t end = panel.end(r);
    for (index_t p = panel.begin(r); p < end; ++p) {
      const double v = panel.c.values[p];
      const double* src = factor + panel.c.index[p] * K;
      for (int i = 0; i < kVectors; ++i) sums[i] += v * load8(src + 8 * i);
      for (int i = 0; i < kTail; ++i) tail[i] += v * src[8 * kVectors + i];
    }
    for (int i = 0; i < kVectors; ++i) store8(dest + 8 * i, sums[i]);
    for (int i = 0; i < kTail; ++i) dest[8 * kVectors + i] = tail[i];
  }
}

// The same for any k: the sums accumulate in the output column.
NMF_GATHER_CLONES void gather_panel_any(const double* factor, index_t k, const PanelRows& panel, double* out) {
  for (index_t r = 0; r < panel.c.rows; ++r) {
    double* dest = out + r * k;
    const index_t end = panel.end(r);
    for (index_t p = panel.begin(r); p < end; ++p) {
      const double v = panel.c.values[p];
      const double* src = factor + panel.c.index[p] * k;
      for (index_t q = 0; q < k; ++q) dest[q] += v * src[q];
    }
  }
}

using GatherKernel = void (*)(const double*, const PanelRows&, double*);

template <int... Ks>
constexpr std::array<GatherKernel, sizeof...(Ks)> gather_kernels(std::integer_sequence<int, Ks...>) {
  return {&gather_panel_fixed<Ks + 1>...};
}

// Specialized kernels for k = 1 .. 64, the ranks NMF is almost always run with.
constexpr auto kGatherKernels = gather_kernels(std::make_integer_sequence<int, 64>{});

}  // namespace

GatherPlan plan_gather(const CompressedMatrix& c, index_t k, index_t cache_bytes) {
  GatherPlan plan;
  const index_t factor_bytes = c.cols * k * static_cast<index_t>(sizeof(double));
  const index_t by_cache = (factor_bytes + cache_bytes - 1) / std::max<index_t>(1, cache_bytes);
  const index_t by_density = c.rows > 0 ? c.nnz() / (2 * c.rows) : 1;
  index_t longest_row = 0;
  for (index_t r = 0; r < c.rows; ++r) longest_row = std::max(longest_row, c.ptr[r + 1] - c.ptr[r]);
  plan.panels = static_cast<int>(std::clamp<index_t>(std::min(by_cache, by_density), 1, 1024));
  if (longest_row > static_cast<index_t>(UINT32_MAX)) plan.panels = 1;  // offsets would not fit
  if (plan.panels == 1) return plan;

  const BlockPartition columns = BlockPartition::even(c.cols, plan.panels);
  plan.splits.resize(static_cast<std::size_t>((plan.panels - 1) * c.rows));
  for (index_t r = 0; r < c.rows; ++r) {
    const auto first = c.index.begin() + c.ptr[r], last = c.index.begin() + c.ptr[r + 1];
    for (int p = 1; p < plan.panels; ++p)
      plan.splits[static_cast<std::size_t>((p - 1) * c.rows + r)] =
          static_cast<std::uint32_t>(std::lower_bound(first, last, columns.begin(p)) - first);
  }
  return plan;
}

void multiply_compressed(const DenseMatrix& factor, const CompressedMatrix& c, const GatherPlan& plan,
                         DenseMatrix& out) {
  NMF_REQUIRE(factor.cols() == c.cols, Error, "multiply_compressed: factor length differs from the block");
  const index_t k = factor.rows();
  out.resize(k, c.rows);
  for (int p = 0; p < plan.panels; ++p) {
    const PanelRows panel{c, plan, p};
    if (k >= 1 && k <= static_cast<index_t>(kGatherKernels.size()))
      kGatherKernels[static_cast<std::size_t>(k - 1)](factor.data(), panel, out.data());
    else
      gather_panel_any(factor.data(), k, panel, out.data());
  }
}

void multiply_compressed(const DenseMatrix& factor, const CompressedMatrix& c, DenseMatrix& out) {
  multiply_compressed(factor, c, plan_gather(c, factor.rows()), out);
}

LocalProducts::LocalProducts(const LocalBlock& x, index_t k) : x_(x) {
  if (x.storage == Storage::sparse) {
    csr_plan_ = plan_gather(x.csr, k);
    csc_plan_ = plan_gather(x.csc, k);
  }
}

void LocalProducts::at_x(const DenseMatrix& at_rowblock, DenseMatrix& out) const {
  if (x_.storage == Storage::dense)
    multiply(at_rowblock, x_.dense, out, &scratch_);
  else
    multiply_compressed(at_rowblock, x_.csc, csc_plan_, out);
}

void LocalProducts::s_xt(const DenseMatrix& s_colblock, DenseMatrix& out) const {
  if (x_.storage == Storage::dense)
    multiply_transposed(s_colblock, x_.dense, out, &scratch_);
  else
    multiply_compressed(s_colblock, x_.csr, csr_plan_, out);
}

void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out) {
  LocalProducts(x, at_rowblock.rows()).at_x(at_rowblock, out);
}

void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out) {
  LocalProducts(x, s_colblock.rows()).s_xt(s_colblock, out);
}

double residual_squared(const DenseMatrix& at_rowblock, const DenseMatrix& s_colblock, const LocalBlock& x) {
  const index_t rows = x.rows, k = at_rowblock.rows();
  NMF_REQUIRE(at_rowblock.cols() == rows && s_colblock.cols() == x.cols && s_colblock.rows() == k, Error,
              "residual_squared: factor blocks do not match X's block");
  if (rows == 0 || x.cols == 0) return 0.0;
  // Tiles of about 1 MiB stay in L2 between the product that writes them and the pass that reads them.
  const index_t tile_cols = std::max<index_t>(1, (index_t{1} << 17) / rows);
  DenseMatrix tile;
  double sum = 0.0;
  for (index_t first = 0; first < x.cols; first += tile_cols) {
    const index_t width = std::min(tile_cols, x.cols - first);
    // tile = -X(:, first .. first + width), then tile += A S: the residual in one product.
    tile.resize(rows, width);
    for (index_t jj = 0; jj < width; ++jj) {
      double* column = tile.col(jj);
      if (x.storage == Storage::dense) {
        const double* xj = x.dense.col(first + jj);
        for (index_t i = 0; i < rows; ++i) column[i] = -xj[i];
      } else {
        const index_t j = first + jj;
        for (index_t p = x.csc.ptr[j]; p < x.csc.ptr[j + 1]; ++p) column[x.csc.index[p]] = -x.csc.values[p];
      }
    }
    if (k > 0)
      cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blas_int(rows, "block rows"), blas_int(width, "tile width"),
                  blas_int(k, "k"), 1.0, at_rowblock.data(), at_rowblock.ld(), s_colblock.col(first), s_colblock.ld(),
                  1.0, tile.data(), tile.ld());
    for (double v : tile.values()) sum += v * v;
  }
  return sum;
}

namespace reference {

void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out) {
  out.resize(at_rowblock.rows(), x.cols);
  for_each_stored_entry(x, [&](index_t i, index_t j, double v) {
    for (index_t q = 0; q < at_rowblock.rows(); ++q) out(q, j) += at_rowblock(q, i) * v;
  });
}

void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out) {
  out.resize(s_colblock.rows(), x.rows);
  for_each_stored_entry(x, [&](index_t i, index_t j, double v) {
    for (index_t q = 0; q < s_colblock.rows(); ++q) out(q, i) += s_colblock(q, j) * v;
  });
}

}  // namespace reference
}  // namespace nmf
