#include "nmf/kernels/scores.hpp"

#include <algorithm>

#include "clones.hpp"

namespace nmf {

namespace {

// One tile: `group` (1..4) rows of scores, `width` columns, accumulated over the k factors in order. Compiled
// once per instruction set (clones.hpp); the file is compiled with -ffp-contract=off (CMakeLists.txt), so no
// clone contracts a * s + o into an FMA and every clone rounds the same way.
NMF_KERNEL_CLONES_ATTRIBUTE
void score_tile(const double* a, index_t a_stride, index_t group, index_t k, const double* s, index_t s_stride,
                index_t width, double* out, index_t out_stride) {
  if (group == 4) {
    double* __restrict o0 = out;
    double* __restrict o1 = out + out_stride;
    double* __restrict o2 = out + 2 * out_stride;
    double* __restrict o3 = out + 3 * out_stride;
    for (index_t c = 0; c < k; ++c) {
      const double* __restrict sc = s + c * s_stride;
      const double a0 = a[c], a1 = a[a_stride + c], a2 = a[2 * a_stride + c], a3 = a[3 * a_stride + c];
      for (index_t t = 0; t < width; ++t) {
        o0[t] += a0 * sc[t];
        o1[t] += a1 * sc[t];
        o2[t] += a2 * sc[t];
        o3[t] += a3 * sc[t];
      }
    }
    return;
  }
  for (index_t q = 0; q < group; ++q) {
    double* __restrict o = out + q * out_stride;
    for (index_t c = 0; c < k; ++c) {
      const double* __restrict sc = s + c * s_stride;
      const double aq = a[q * a_stride + c];
      for (index_t t = 0; t < width; ++t) o[t] += aq * sc[t];
    }
  }
}

}  // namespace

void score_block_rows(const DenseMatrix& a_t, index_t first, index_t rows, const std::vector<double>& s_rows,
                      index_t cols, std::vector<double>& scores) {
  constexpr index_t kTile = 256;
  constexpr index_t kRowsAtOnce = 4;
  const index_t k = a_t.rows();
  scores.assign(static_cast<std::size_t>(rows * cols), 0.0);
  for (index_t r0 = 0; r0 < rows; r0 += kRowsAtOnce) {
    const index_t group = std::min(kRowsAtOnce, rows - r0);
    for (index_t j0 = 0; j0 < cols; j0 += kTile)
      score_tile(a_t.col(first + r0), k, group, k, s_rows.data() + j0, cols, std::min(kTile, cols - j0),
                 scores.data() + r0 * cols + j0, cols);
  }
}

}  // namespace nmf
