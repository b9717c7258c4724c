// The ScaLAPACK layer: the tall-skinny QR of a matrix in factor slices, the randomized SVD against LAPACK's SVD
// of the whole matrix (full oversampling: exact up to rounding), the same on any grid, dense and sparse, with
// the LAPACK and the pdgesvd routes of the small SVD; and NNDSVD's factors the same on any grid, without NaN
// for a rank-deficient or an all-zero matrix.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "nmf/driver/initialization.hpp"
#include "nmf/io/input.hpp"
#include "nmf/linalg/randomized_svd.hpp"
#include "nmf/linalg/slice_products.hpp"
#include "nmf/linalg/tall_skinny_qr.hpp"
#include "test_util.hpp"

extern "C" void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda,
                        double* s, double* u, const int* ldu, double* vt, const int* ldvt, double* work,
                        const int* lwork, int* info);

namespace nmf::test {
namespace {

struct FullSvd {
  std::vector<double> sigma;
  DenseMatrix u, vt;  // n x r, r x m with r = min(n, m)
};

// LAPACK's SVD of the whole matrix, the reference.
FullSvd lapack_svd(DenseMatrix a) {
  const int n = static_cast<int>(a.rows()), m = static_cast<int>(a.cols()), r = std::min(n, m);
  FullSvd out{std::vector<double>(static_cast<std::size_t>(r)), DenseMatrix(n, r), DenseMatrix(r, m)};
  int lwork = 5 * (n + m) * (n + m), info = 0;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  const int ldu = n, ldvt = r;
  dgesvd_("S", "S", &n, &m, a.data(), &n, out.sigma.data(), out.u.data(), &ldu, out.vt.data(), &ldvt, work.data(),
          &lwork, &info);
  EXPECT_EQ(info, 0);
  return out;
}

// A dense matrix with well separated singular values (sigma_i = 2^-i times its scale), non-negative.
DenseMatrix separated_matrix(index_t n, index_t m) {
  DenseMatrix x = random_matrix(n, m, 1.0, 77);
  for (index_t j = 0; j < m; ++j)
    for (index_t i = 0; i < n; ++i) x(i, j) += 3.0 * std::sin(0.3 * i + 0.11 * j) + 4.0;
  return x;
}

struct GatheredSvd {
  std::vector<double> sigma;
  DenseMatrix u, vt;  // n x k, k x m
};

GatheredSvd gathered_svd(const ProcessGrid& grid, const DistMatrix& x, int k, const RandomizedSvdOptions& options) {
  const TruncatedSvd svd = randomized_svd(grid, x, k, options);
  GatheredSvd out{svd.sigma, {}, {}};
  gather_factors(grid, x.layout, Factors{svd.u_t_local, svd.v_t_local}, out.u, out.vt);
  return out;
}

// The singular values to 1e-10 of the largest, and every singular vector to 1e-10 up to its sign.
void expect_matches(const GatheredSvd& svd, const FullSvd& ref, int k) {
  const double tol = 1e-10 * ref.sigma[0];
  for (int c = 0; c < k; ++c) {
    EXPECT_NEAR(svd.sigma[static_cast<std::size_t>(c)], ref.sigma[static_cast<std::size_t>(c)], tol) << "sigma " << c;
    double u_dot = 0, v_dot = 0;
    for (index_t i = 0; i < svd.u.rows(); ++i) u_dot += svd.u(i, c) * ref.u(i, c);
    for (index_t j = 0; j < svd.vt.cols(); ++j) v_dot += svd.vt(c, j) * ref.vt(c, j);
    const double sign = u_dot < 0 ? -1.0 : 1.0;
    EXPECT_NEAR(v_dot * sign, 1.0, 1e-10) << "v " << c;  // u and v flip together
    for (index_t i = 0; i < svd.u.rows(); ++i) ASSERT_NEAR(svd.u(i, c), sign * ref.u(i, c), 1e-10) << "u " << c;
    for (index_t j = 0; j < svd.vt.cols(); ++j) ASSERT_NEAR(svd.vt(c, j), sign * ref.vt(c, j), 1e-10) << "v " << c;
  }
}

// Q R = T on this rank's rows (t_local, l x count), Q^T Q = I summed over the ranks, R upper triangular.
void expect_thin_qr(const DenseMatrix& t_local, const ThinQr& qr, index_t n) {
  const index_t l = t_local.rows();
  std::vector<double> qtq(static_cast<std::size_t>(l * l), 0.0);
  for (index_t j = 0; j < t_local.cols(); ++j) {
    for (index_t c = 0; c < l; ++c) {
      double qr_value = 0;
      for (index_t p = 0; p <= c; ++p) qr_value += qr.q_t_local(p, j) * qr.r_replicated(p, c);
      EXPECT_NEAR(qr_value, t_local(c, j), 1e-12 * 160 * n);
      for (index_t p = 0; p < l; ++p)
        qtq[static_cast<std::size_t>(c + p * l)] += qr.q_t_local(c, j) * qr.q_t_local(p, j);
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, qtq.data(), static_cast<int>(qtq.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  for (index_t c = 0; c < l; ++c)
    for (index_t p = 0; p < l; ++p) EXPECT_NEAR(qtq[static_cast<std::size_t>(c + p * l)], c == p ? 1.0 : 0.0, 1e-13);
  for (index_t c = 0; c < l; ++c)
    for (index_t p = c + 1; p < l; ++p) EXPECT_EQ(qr.r_replicated(p, c), 0.0);
}

// This rank's A slice rows of T (given as T^T, l x n) on `grid`, for a matrix of n rows.
DenseMatrix a_slice_rows(const ProcessGrid& grid, const DenseMatrix& t_full, RowSlices* slices_out = nullptr) {
  const index_t n = t_full.cols(), l = t_full.rows();
  auto source = dense_in_memory(DenseMatrix(n, 7, 1.0), "ones", false);
  const DistMatrix x = source->distribute(grid);
  const RowSlices slices = a_row_slices(x.layout);
  const int part = slices.part_of(grid.rank());
  DenseMatrix t_local(l, slices.parts.size(part));
  for (index_t j = 0; j < t_local.cols(); ++j)
    for (index_t c = 0; c < l; ++c) t_local(c, j) = t_full(c, slices.parts.begin(part) + j);
  if (slices_out) *slices_out = slices;
  return t_local;
}

TEST(TallSkinnyQr, FactorsASlicedMatrixIntoOrthonormalQAndTriangularR) {
  const index_t n = 41, l = 6;
  const DenseMatrix t_full = random_matrix(l, n, 1.0, 5);  // T^T: l x n
  for (const GridShape shape : all_grid_shapes(world_size())) {
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    RowSlices slices;
    const DenseMatrix t_local = a_slice_rows(grid, t_full, &slices);
    expect_thin_qr(t_local, tall_skinny_qr(grid, slices, t_local), n);
  }
}

// TSQR and CholeskyQR(2): the same contract as ScaLAPACK's route, also where a rank holds fewer rows than l (or
// none), and for a rank-deficient T (a zero column and two equal ones), where CholeskyQR falls back to TSQR.
TEST(TallSkinnyQr, CommunicationAvoidingRoutesGiveAThinQrOfAnySplit) {
  const index_t l = 6;
  for (const index_t n : {index_t{41}, index_t{9}, index_t{6}}) {
    DenseMatrix well = random_matrix(l, n, 1.0, 5), deficient = well;
    for (index_t i = 0; i < n; ++i) {
      deficient(2, i) = 0.0;
      deficient(4, i) = deficient(1, i);
    }
    for (const DenseMatrix* t_full : {&well, &deficient}) {
      for (const GridShape shape : all_grid_shapes(world_size())) {
        SCOPED_TRACE("n " + std::to_string(n) + (t_full == &well ? "" : ", rank-deficient") + ", grid " + shape.str());
        const ProcessGrid grid(MPI_COMM_WORLD, shape);
        const DenseMatrix t_local = a_slice_rows(grid, *t_full);
        expect_thin_qr(t_local, local_tsqr(grid, t_local), n);
        expect_thin_qr(t_local, cholesky_qr(grid, t_local, 2), n);
        // One pass is orthonormal to eps cond(T)^2 only: checked on the tall random T (cond(T) about 3).
        if (t_full == &well && n == 41) expect_thin_qr(t_local, cholesky_qr(grid, t_local, 1), n);
      }
    }
  }
}

TEST(RandomizedSvd, WithFullOversamplingMatchesLapacksSvdOnEveryGrid) {
  const index_t n = 37, m = 23;
  const int k = 6;
  const DenseMatrix full = separated_matrix(n, m);
  const FullSvd ref = lapack_svd(full);
  auto source = dense_in_memory(full, "test", false);
  for (const GridShape shape : all_grid_shapes(world_size())) {
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const DistMatrix x = source->distribute(grid);
    for (index_t lapack_limit : {index_t{1000}, index_t{0}}) {  // LAPACK on one rank, then pdgesvd
      SCOPED_TRACE("grid " + shape.str() + ", lapack_limit " + std::to_string(lapack_limit));
      RandomizedSvdOptions options{static_cast<int>(m), 1, 3, lapack_limit};  // l = min(n, m): exact
      const TruncatedSvd svd = randomized_svd(grid, x, k, options);
      EXPECT_EQ(svd.scalapack_svd, lapack_limit == 0);
      GatheredSvd gathered{svd.sigma, {}, {}};
      gather_factors(grid, x.layout, Factors{svd.u_t_local, svd.v_t_local}, gathered.u, gathered.vt);
      expect_matches(gathered, ref, k);
    }
  }
}

// The QR of the final sketch with ScaLAPACK's pdgeqrf + pdorgqr instead of CholeskyQR2: the same triplets, here
// for a wide X (the QR of B^T is the taller one).
TEST(RandomizedSvd, TheScalapackRangeQrGivesTheSameTriplets) {
  const DenseMatrix wide = separated_matrix(23, 37);
  auto source = dense_in_memory(wide, "wide", false);
  RandomizedSvdOptions options{23, 1, 3};  // l = min(n, m): exact
  options.scalapack_range_qr = true;
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    expect_matches(gathered_svd(grid, source->distribute(grid), 6, options), lapack_svd(wide), 6);
  }
}

TEST(RandomizedSvd, SparseStorageGivesTheSameTriplets) {
  const index_t n = 30, m = 19;
  const int k = 4;
  const DenseMatrix full = random_matrix(n, m, 0.3, 12);
  const FullSvd ref = lapack_svd(full);
  const SharedTempDir dir;
  write_mtx_coordinate(dir.file("x.mtx"), full);
  ReadOptions read;
  read.path = dir.file("x.mtx");
  read.storage = StorageChoice::sparse;
  auto source = open_input(MPI_COMM_WORLD, read);
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const DistMatrix x = source->distribute(grid);
    ASSERT_EQ(x.block.storage, Storage::sparse);
    expect_matches(gathered_svd(grid, x, k, RandomizedSvdOptions{static_cast<int>(m), 0, 9}), ref, k);
  }
}

// With a small sketch the result is approximate, but the same on any grid (Omega is drawn by global column).
TEST(RandomizedSvd, APartialSketchIsTheSameOnEveryGrid) {
  const DenseMatrix full = random_matrix(60, 45, 0.5, 3);
  auto source = dense_in_memory(full, "test", false);
  const ProcessGrid self(MPI_COMM_SELF, GridShape{1, 1});
  const DistMatrix x_self = source->distribute(self);
  const RandomizedSvdOptions options{3, 1, 4};
  const GatheredSvd ref = gathered_svd(self, x_self, 5, options);
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const DistMatrix x = source->distribute(grid);
    const GatheredSvd svd = gathered_svd(grid, x, 5, options);
    FullSvd as_full{ref.sigma, ref.u, ref.vt};
    expect_matches(svd, as_full, 5);
  }
}

// The randomized SVD keeps two sketch matrices for all its steps (no new memory to touch): a product into a kept
// matrix gives what a new one gets and writes into the same storage, and CholeskyQR of a moved matrix forms Q
// there.
TEST(SliceProducts, ProductsIntoKeptMatricesReuseTheirStorage) {
  const DenseMatrix full = random_matrix(40, 23, 0.7, 5);
  auto source = dense_in_memory(full, "test", false);
  const index_t l = 6;
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const DistMatrix x = source->distribute(grid);
    const Layout& layout = x.layout;
    SliceProducts products(grid, x, l);
    const DenseMatrix w_t = random_matrix(l, layout.s_slices.size(layout.s_slice_of(grid.row(), grid.col())), 1.0, 6);
    DenseMatrix y_t = products.x_times(w_t);
    const double* storage = y_t.data();
    for (int round = 0; round < 2; ++round) {
      products.x_times(w_t, y_t);
      EXPECT_EQ(y_t.data(), storage);
      const DenseMatrix fresh = products.x_times(w_t);
      EXPECT_EQ(y_t.rows(), fresh.rows());
      EXPECT_EQ(y_t.values(), fresh.values());
      ThinQr range = cholesky_qr(grid, std::move(y_t), 1);
      EXPECT_EQ(range.q_t_local.data(), storage);
      y_t = std::move(range.q_t_local);
    }
    DenseMatrix z_t = products.transposed_times_x(y_t);
    const double* z_storage = z_t.data();
    products.transposed_times_x(y_t, z_t);
    EXPECT_EQ(z_t.data(), z_storage);
    const DenseMatrix fresh = products.transposed_times_x(y_t);
    EXPECT_EQ(z_t.rows(), fresh.rows());
    EXPECT_EQ(z_t.values(), fresh.values());
  }
}

Factors nndsvd_on(const ProcessGrid& grid, const DistMatrix& x, int k, InitMethod method) {
  return nndsvd_factors(x, grid, randomized_svd(grid, x, k, RandomizedSvdOptions{10, 2, 1}), method, 8);
}

TEST(Nndsvd, FactorsAreTheSameOnEveryGrid) {
  const DenseMatrix full = random_matrix(50, 14, 0.6, 21);
  auto source = dense_in_memory(full, "test", false);
  const ProcessGrid self(MPI_COMM_SELF, GridShape{1, 1});
  const DistMatrix x_self = source->distribute(self);
  for (InitMethod method : {InitMethod::nndsvd, InitMethod::nndsvda, InitMethod::nndsvdar}) {
    DenseMatrix a_ref, s_ref;
    gather_factors(self, x_self.layout, nndsvd_on(self, x_self, 4, method), a_ref, s_ref);
    for (const GridShape shape : all_grid_shapes(world_size())) {
      SCOPED_TRACE(std::string(init_method_name(method)) + " on grid " + shape.str());
      const ProcessGrid grid(MPI_COMM_WORLD, shape);
      const DistMatrix x = source->distribute(grid);
      DenseMatrix a, s;
      gather_factors(grid, x.layout, nndsvd_on(grid, x, 4, method), a, s);
      for (std::size_t i = 0; i < a.values().size(); ++i) ASSERT_NEAR(a.values()[i], a_ref.values()[i], 1e-10);
      for (std::size_t i = 0; i < s.values().size(); ++i) ASSERT_NEAR(s.values()[i], s_ref.values()[i], 1e-10);
      const double mean = x.stats.sum / (50.0 * 14.0);
      for (double v : a.values()) {
        ASSERT_GE(v, 0.0);
        if (method != InitMethod::nndsvd) ASSERT_GT(v, 0.0);  // the zeros are filled
        if (method == InitMethod::nndsvdar && v < kNndsvdZero * 10) ASSERT_LT(v, mean);
      }
    }
  }
}

// k above the rank of X (zero singular values), an all-zero matrix, zero rows and columns: finite factors,
// zero columns where NNDSVD has nothing to put (filled by nndsvda).
TEST(Nndsvd, DegenerateMatricesGiveFiniteFactors) {
  DenseMatrix rank_two(20, 12);
  for (index_t j = 0; j < 12; ++j)
    for (index_t i = 0; i < 20; ++i) rank_two(i, j) = (i % 3) * (j % 2) + 2.0 * ((i + j) % 2 == 0 && i < 10 ? 1 : 0);
  for (index_t j = 0; j < 12; ++j) rank_two(4, j) = 0.0;  // a zero row
  for (index_t i = 0; i < 20; ++i) rank_two(i, 7) = 0.0;  // a zero column
  const DenseMatrix zero(15, 9);
  for (const DenseMatrix* full : std::vector<const DenseMatrix*>{&rank_two, &zero}) {
    auto source = dense_in_memory(*full, "test", false);
    for (const GridShape shape : all_grid_shapes(world_size())) {
      const ProcessGrid grid(MPI_COMM_WORLD, shape);
      const DistMatrix x = source->distribute(grid);
      for (InitMethod method : {InitMethod::nndsvd, InitMethod::nndsvda}) {
        SCOPED_TRACE(std::string(init_method_name(method)) + " on grid " + shape.str());
        const Factors f = nndsvd_on(grid, x, 6, method);
        for (const DenseMatrix* m : {&f.a_t, &f.s})
          for (double v : m->values()) ASSERT_TRUE(std::isfinite(v) && v >= 0.0);
        DenseMatrix a, s;
        gather_factors(grid, x.layout, f, a, s);
        double last_column = 0;
        for (index_t i = 0; i < a.rows(); ++i) last_column += a(i, 5);
        const double mean = x.stats.sum / (static_cast<double>(a.rows()) * static_cast<double>(s.cols()));
        if (method == InitMethod::nndsvd) EXPECT_EQ(last_column, 0.0);  // sigma_5 = 0
        if (method == InitMethod::nndsvda) EXPECT_NEAR(last_column, mean * a.rows(), 1e-12 * (1 + mean * a.rows()));
      }
    }
  }
}

}  // namespace
}  // namespace nmf::test
