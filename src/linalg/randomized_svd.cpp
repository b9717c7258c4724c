#include "nmf/linalg/randomized_svd.hpp"

#include <algorithm>

#include "nmf/kernels/random.hpp"
#include "nmf/linalg/slice_products.hpp"
#include "nmf/linalg/tall_skinny_qr.hpp"
#include "scalapack.hpp"

namespace nmf {

namespace {

using namespace linalg_detail;

// The SVD a = U diag(sigma) VT of a small replicated square matrix, replicated.
struct SmallSvd {
  std::vector<double> sigma;
  DenseMatrix u, vt;
};

void require_success(MPI_Comm comm, int info, const char* routine) {
  int failed = info != 0 ? 1 : 0, any = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm));
  if (any) NMF_THROW_REPLICATED(ExitCode::failure, std::string(routine) + " did not converge or failed");
}

// LAPACK's dgesvd on rank 0, broadcast: one copy of the work, the same bits on every rank. One broadcast carries
// dgesvd's status with the results, so every rank knows it without another collective.
SmallSvd svd_on_one_rank(const ProcessGrid& grid, DenseMatrix a) {
  const index_t l = a.rows();
  const int n = blas_int(l, "SVD size"), ld = a.ld();
  SmallSvd out{std::vector<double>(static_cast<std::size_t>(l)), DenseMatrix(l, l), DenseMatrix(l, l)};
  int info = 0;
  if (grid.rank() == 0) {
    const int query = -1;
    double work_size = 0;
    dgesvd_("A", "A", &n, &n, a.data(), &ld, out.sigma.data(), out.u.data(), &ld, out.vt.data(), &ld, &work_size,
            &query, &info);
    std::vector<double> work(static_cast<std::size_t>(work_size) + 1);
    const int lwork = static_cast<int>(work.size());
    dgesvd_("A", "A", &n, &n, a.data(), &ld, out.sigma.data(), out.u.data(), &ld, out.vt.data(), &ld, work.data(),
            &lwork, &info);
  }
  std::vector<double> packed{static_cast<double>(info)};
  packed.insert(packed.end(), out.sigma.begin(), out.sigma.end());
  packed.insert(packed.end(), out.u.values().begin(), out.u.values().end());
  packed.insert(packed.end(), out.vt.values().begin(), out.vt.values().end());
  NMF_MPI_CHECK(
      MPI_Bcast(packed.data(), mpi_count(static_cast<index_t>(packed.size()), "SVD"), MPI_DOUBLE, 0, grid.comm()));
  if (packed[0] != 0.0) NMF_THROW_REPLICATED(ExitCode::failure, "dgesvd did not converge or failed");
  auto next = packed.begin() + 1;
  std::copy(next, next + l, out.sigma.begin());
  std::copy(next + l, next + l + l * l, out.u.values().begin());
  std::copy(next + l + l * l, packed.end(), out.vt.values().begin());
  return out;
}

// Global index of local index `local` of a block-cyclic dimension (ScaLAPACK's INDXL2G, source process 0).
index_t global_index(index_t local, index_t block, int process, int processes) {
  return (local / block) * block * processes + process * block + local % block;
}

// ScaLAPACK's pdgesvd on the pr x pc grid. The input is replicated, so each process copies its block-cyclic part
// without communication; the results are assembled on every rank by one all-reduce of the zero-padded parts.
SmallSvd svd_distributed(const ProcessGrid& grid, const DenseMatrix& a) {
  const index_t l = a.rows();
  const BlacsGrid blacs(grid);
  const index_t block = std::max<index_t>(1, std::min<index_t>(64, (l + grid.size() - 1) / grid.size()));
  const Descriptor d = make_descriptor(blacs, l, l, block, block);
  auto local_part = [&](const DenseMatrix* from) {
    std::vector<double> part(static_cast<std::size_t>(d.lld * std::max<index_t>(1, d.local_cols)), 0.0);
    if (from)
      for (index_t jl = 0; jl < d.local_cols; ++jl)
        for (index_t il = 0; il < d.local_rows; ++il)
          part[static_cast<std::size_t>(il + jl * d.lld)] = (*from)(global_index(il, block, blacs.row(), blacs.rows()),
                                                                    global_index(jl, block, blacs.col(), blacs.cols()));
    return part;
  };
  std::vector<double> a_part = local_part(&a), u_part = local_part(nullptr), vt_part = local_part(nullptr);
  SmallSvd out{std::vector<double>(static_cast<std::size_t>(l)), DenseMatrix(l, l), DenseMatrix(l, l)};
  const int n = blas_int(l, "SVD size"), one = 1, query = -1;
  double work_size = 0;
  int info = 0;
  pdgesvd_("V", "V", &n, &n, a_part.data(), &one, &one, d.desc, out.sigma.data(), u_part.data(), &one, &one, d.desc,
           vt_part.data(), &one, &one, d.desc, &work_size, &query, &info);
  std::vector<double> work(static_cast<std::size_t>(work_size) + 1);
  const int lwork = static_cast<int>(work.size());
  pdgesvd_("V", "V", &n, &n, a_part.data(), &one, &one, d.desc, out.sigma.data(), u_part.data(), &one, &one, d.desc,
           vt_part.data(), &one, &one, d.desc, work.data(), &lwork, &info);
  require_success(grid.comm(), info, "pdgesvd");
  std::vector<double> both(static_cast<std::size_t>(2 * l * l), 0.0);
  for (index_t jl = 0; jl < d.local_cols; ++jl)
    for (index_t il = 0; il < d.local_rows; ++il) {
      const index_t i = global_index(il, block, blacs.row(), blacs.rows());
      const index_t j = global_index(jl, block, blacs.col(), blacs.cols());
      both[static_cast<std::size_t>(i + j * l)] = u_part[static_cast<std::size_t>(il + jl * d.lld)];
      both[static_cast<std::size_t>(l * l + i + j * l)] = vt_part[static_cast<std::size_t>(il + jl * d.lld)];
    }
  NMF_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, both.data(), mpi_count(2 * l * l, "SVD"), MPI_DOUBLE, MPI_SUM, grid.comm()));
  std::copy(both.begin(), both.begin() + l * l, out.u.values().begin());
  std::copy(both.begin() + l * l, both.end(), out.vt.values().begin());
  return out;
}

DenseMatrix transposed(const DenseMatrix& a) {
  DenseMatrix t(a.cols(), a.rows());
  for (index_t j = 0; j < a.cols(); ++j)
    for (index_t i = 0; i < a.rows(); ++i) t(j, i) = a(i, j);
  return t;
}

// The k x count matrix op(M) T for op(M) k x l (M l x l, the first k columns of M^T or rows of M) and T l x count
// (k <= l), formed in T's storage a block of columns at a time through a small buffer: column j of the result
// lands at offset j k, never past the columns of T not yet read (from offset j l on), so no second matrix of
// count columns is allocated and touched.
DenseMatrix times_in_place(char trans, const double* m, int k, DenseMatrix t) {
  constexpr index_t kBlock = 256;
  const index_t l = t.rows(), count = t.cols();
  const int ll = blas_int(l, "l");
  std::vector<double> block(static_cast<std::size_t>(k * std::min(kBlock, count)));
  for (index_t first = 0; first < count; first += kBlock) {
    const index_t columns = std::min(kBlock, count - first);
    gemm(trans, 'N', k, blas_int(columns, "columns"), ll, m, ll, t.col(first), ll, block.data(), k);
    std::copy_n(block.data(), k * columns, t.data() + first * k);
  }
  t.reshape(k, count);  // the first k x count values are the result
  return t;
}

}  // namespace

TruncatedSvd randomized_svd(const ProcessGrid& grid, const DistMatrix& x, int k, const RandomizedSvdOptions& options) {
  const Layout& layout = x.layout;
  NMF_REQUIRE(k >= 1 && k <= std::min(layout.n, layout.m), UsageError, "the SVD needs 1 <= k <= min(n, m)");
  const index_t l = std::min<index_t>({static_cast<index_t>(k) + options.oversample, layout.n, layout.m});
  const int s_slice = layout.s_slice_of(grid.row(), grid.col());
  SliceProducts products(grid, x, l);

  // Omega^T in the S slice layout: entry (c, j) keyed by the global column j, whatever rank draws it.
  DenseMatrix z_t(l, layout.s_slices.size(s_slice));
  for (index_t j = 0; j < z_t.cols(); ++j) {
    const auto column = static_cast<std::uint64_t>(layout.s_slices.begin(s_slice) + j);
    for (index_t c = 0; c < l; ++c)
      z_t(c, j) = standard_normal(options.seed, RandomStream::sketch,
                                  column * static_cast<std::uint64_t>(l) + static_cast<std::uint64_t>(c));
  }
  // Two matrices hold the whole iteration: y_t (l x the A slice) and z_t (l x the S slice, Omega^T first). Every
  // product writes into one of them and every QR overwrites its input, so that no other sketch-sized matrix is
  // allocated: the new memory of each would be touched (page faults) in this, the run's first computation.
  DenseMatrix y_t;
  products.x_times(z_t, y_t);  // (X Omega)^T, A layout
  // Between the products only the ranges matter: one CholeskyQR pass keeps them from collapsing onto the
  // leading singular vectors in floating point (Halko et al., Algorithm 4.4).
  for (int q = 0; q < options.power_iterations; ++q) {
    ThinQr range = cholesky_qr(grid, std::move(y_t), 1);
    products.transposed_times_x(range.q_t_local, z_t);
    y_t = std::move(range.q_t_local);
    ThinQr corange = cholesky_qr(grid, std::move(z_t), 1);
    products.x_times(corange.q_t_local, y_t);
    z_t = std::move(corange.q_t_local);
  }
  ThinQr range = options.scalapack_range_qr ? tall_skinny_qr(grid, a_row_slices(layout), y_t)
                                            : cholesky_qr(grid, std::move(y_t), 2);
  // B = Q^T X (l x m, S layout), and B^T = Q_B R, so B = R^T Q_B^T. This QR is needed: B has m columns (millions
  // for a wide X) in S's layout, and its R^T is the l x l matrix whose SVD gives the triplets; the Gram route
  // (the eigenvectors of B B^T) costs the same one all-reduce and squares the condition number.
  products.transposed_times_x(range.q_t_local, z_t);
  ThinQr b = cholesky_qr(grid, std::move(z_t), 2);
  const DenseMatrix r_t = transposed(b.r_replicated);
  TruncatedSvd out;
  out.scalapack_svd = l > options.lapack_limit;
  const SmallSvd small = out.scalapack_svd ? svd_distributed(grid, r_t) : svd_on_one_rank(grid, r_t);

  // R^T = U_R Sigma W^T: U = Q U_R, V = Q_B W; their slices' transposes are U_R(:, :k)^T Q^T and W^T(:k, :) Q_B^T,
  // formed in the storage of Q^T and Q_B^T.
  out.sigma.assign(small.sigma.begin(), small.sigma.begin() + k);
  out.u_t_local = times_in_place('T', small.u.data(), k, std::move(range.q_t_local));
  out.v_t_local = times_in_place('N', small.vt.data(), k, std::move(b.q_t_local));
  return out;
}

}  // namespace nmf
