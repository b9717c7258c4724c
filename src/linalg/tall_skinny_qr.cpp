#include "nmf/linalg/tall_skinny_qr.hpp"

#include <algorithm>
#include <utility>

#include "nmf/distribution/collectives.hpp"
#include "scalapack.hpp"

namespace nmf {

RowSlices a_row_slices(const Layout& layout) {
  RowSlices slices{layout.a_slices, {}};
  for (int rank = 0; rank < layout.shape.size(); ++rank) slices.part_of_rank.push_back(rank);  // slice i*pc+j
  return slices;
}

RowSlices s_row_slices(const Layout& layout) {
  RowSlices slices{layout.s_slices, {}};
  for (int rank = 0; rank < layout.shape.size(); ++rank)
    slices.part_of_rank.push_back(layout.s_slice_of(rank / layout.shape.cols, rank % layout.shape.cols));
  return slices;
}

namespace {

constexpr index_t kPanel = 8;

struct Range {
  index_t begin = 0, end = 0;
};

Range intersect(Range a, Range b) {
  const index_t begin = std::max(a.begin, b.begin), end = std::min(a.end, b.end);
  return end > begin ? Range{begin, end} : Range{begin, begin};
}

// One nmf::alltoallv (MPI_Alltoallv, split past MPI's int counts): every rank holds the rows have[rank] (l doubles
// each, consecutive in `send`) and wants the rows want[rank] (into `recv`, in the same format); each row goes from the
// rank that has it to the rank that wants it. Written by hand because neither side is a ScaLAPACK descriptor's layout
// (see the header).
void move_rows(MPI_Comm comm, index_t l, const std::vector<Range>& have, const std::vector<Range>& want,
               const double* send, double* recv) {
  const int ranks = size_of(comm), me = rank_in(comm);
  const Range mine_have = have[static_cast<std::size_t>(me)], mine_want = want[static_cast<std::size_t>(me)];
  std::vector<index_t> send_counts(ranks), send_displs(ranks), recv_counts(ranks), recv_displs(ranks);
  for (int r = 0; r < ranks; ++r) {
    const auto u = static_cast<std::size_t>(r);
    const Range out = intersect(mine_have, want[u]), in = intersect(have[u], mine_want);
    send_counts[u] = (out.end - out.begin) * l;
    send_displs[u] = (out.begin - mine_have.begin) * l;
    recv_counts[u] = (in.end - in.begin) * l;
    recv_displs[u] = (in.begin - mine_want.begin) * l;
  }
  alltoallv(comm, send, send_counts, send_displs, recv, recv_counts, recv_displs, MPI_DOUBLE);
}

void require_success(MPI_Comm comm, int info, const char* routine) {
  int worst = info != 0 ? 1 : 0, any = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&worst, &any, 1, MPI_INT, MPI_MAX, comm));
  if (any)
    NMF_THROW_REPLICATED(ExitCode::failure,
                         std::string(routine) + " failed (info " + std::to_string(info) + " on some rank)");
}

}  // namespace

ThinQr tall_skinny_qr(const ProcessGrid& grid, const RowSlices& slices, const DenseMatrix& t_local) {
  using namespace linalg_detail;
  const index_t l = t_local.rows(), total = slices.parts.total();
  const int ranks = grid.size();
  NMF_REQUIRE(total >= l, Error, "a thin QR needs at least as many rows as columns");
  // Block distribution on a P x 1 grid: blocks of at least l rows, so R (the first l rows) is on process 0.
  const index_t block = std::max((total + ranks - 1) / ranks, l);
  const BlacsGrid blacs(grid, GridShape{ranks, 1});
  // Column blocks of kPanel: every column is on the one process column anyway, but pdgeqrf and pdorgqr factor one
  // column block at a time with the unblocked Level-2 code and update the rest with Level-3 BLAS, so one block of
  // all l columns would leave the whole factorization in Level-2.
  const Descriptor d = make_descriptor(blacs, total, l, block, std::min<index_t>(l, kPanel));

  std::vector<Range> slice_rows, block_rows;
  for (int r = 0; r < ranks; ++r) {
    const int part = slices.part_of(r);
    slice_rows.push_back({slices.parts.begin(part), slices.parts.end(part)});
    block_rows.push_back({std::min(total, r * block), std::min(total, (r + 1) * block)});
  }

  // Slices -> blocks; the rows arrive as l-vectors and are transposed into the column-major local block.
  std::vector<double> rows_buffer(static_cast<std::size_t>(std::max<index_t>(1, d.local_rows * l)));
  move_rows(grid.comm(), l, slice_rows, block_rows, t_local.data(), rows_buffer.data());
  std::vector<double> a(static_cast<std::size_t>(d.lld * l));
  for (index_t i = 0; i < d.local_rows; ++i)
    for (index_t c = 0; c < l; ++c) a[static_cast<std::size_t>(i + c * d.lld)] = rows_buffer[i * l + c];

  const int m = blas_int(total, "rows"), n = blas_int(l, "columns"), one = 1, query = -1;
  std::vector<double> tau(static_cast<std::size_t>(l) + 1);
  double work_size = 0;
  int info = 0;
  pdgeqrf_(&m, &n, a.data(), &one, &one, d.desc, tau.data(), &work_size, &query, &info);
  std::vector<double> work(static_cast<std::size_t>(work_size) + 1);
  int lwork = static_cast<int>(work.size());
  pdgeqrf_(&m, &n, a.data(), &one, &one, d.desc, tau.data(), work.data(), &lwork, &info);
  require_success(grid.comm(), info, "pdgeqrf");

  // R: the upper triangle of the first l rows, on process 0; broadcast.
  ThinQr result;
  result.r_replicated = DenseMatrix(l, l);
  if (grid.rank() == 0)
    for (index_t j = 0; j < l; ++j)
      for (index_t i = 0; i <= j; ++i) result.r_replicated(i, j) = a[static_cast<std::size_t>(i + j * d.lld)];
  NMF_MPI_CHECK(MPI_Bcast(result.r_replicated.data(), mpi_count(l * l, "R"), MPI_DOUBLE, 0, grid.comm()));

  pdorgqr_(&m, &n, &n, a.data(), &one, &one, d.desc, tau.data(), &work_size, &query, &info);
  work.assign(static_cast<std::size_t>(work_size) + 1, 0.0);
  lwork = static_cast<int>(work.size());
  pdorgqr_(&m, &n, &n, a.data(), &one, &one, d.desc, tau.data(), work.data(), &lwork, &info);
  require_success(grid.comm(), info, "pdorgqr");

  // Blocks -> slices.
  for (index_t i = 0; i < d.local_rows; ++i)
    for (index_t c = 0; c < l; ++c) rows_buffer[i * l + c] = a[static_cast<std::size_t>(i + c * d.lld)];
  result.q_t_local = DenseMatrix(l, t_local.cols());
  move_rows(grid.comm(), l, block_rows, slice_rows, rows_buffer.data(), result.q_t_local.data());
  return result;
}

namespace {

// LAPACK's thin Householder QR of a column-major rows x l matrix (rows may be below l): `a` becomes Q's first
// h = min(rows, l) columns (rows x h) and R's h x l upper trapezoid is returned, padded with zero rows to l x l.
// Returns LAPACK's info (non-zero only for an illegal argument, i.e. a bug).
int householder_qr(index_t rows, index_t l, std::vector<double>& a, DenseMatrix& r) {
  r = DenseMatrix(l, l);
  const index_t h = std::min(rows, l);
  if (h == 0) return 0;
  const int m = blas_int(rows, "rows"), n = blas_int(l, "columns"), hh = blas_int(h, "reflectors"), query = -1;
  std::vector<double> tau(static_cast<std::size_t>(h));
  double geqrf_size = 0, orgqr_size = 0;
  int info = 0;
  dgeqrf_(&m, &n, a.data(), &m, tau.data(), &geqrf_size, &query, &info);
  dorgqr_(&m, &hh, &hh, a.data(), &m, tau.data(), &orgqr_size, &query, &info);
  std::vector<double> work(static_cast<std::size_t>(std::max(geqrf_size, orgqr_size)) + 1);
  const int lwork = static_cast<int>(work.size());
  dgeqrf_(&m, &n, a.data(), &m, tau.data(), work.data(), &lwork, &info);
  if (info != 0) return info;
  for (index_t j = 0; j < l; ++j)
    for (index_t i = 0; i <= std::min(j, h - 1); ++i) r(i, j) = a[static_cast<std::size_t>(i + j * rows)];
  dorgqr_(&m, &hh, &hh, a.data(), &m, tau.data(), work.data(), &lwork, &info);
  return info;
}

}  // namespace

ThinQr local_tsqr(const ProcessGrid& grid, const DenseMatrix& t_local) {
  const index_t l = t_local.rows(), count = t_local.cols(), h = std::min(count, l);
  const int ranks = grid.size();
  // This rank's rows, column-major (count x l), factored: Q_i (count x h) and R_i (l x l).
  std::vector<double> q_local(static_cast<std::size_t>(std::max<index_t>(1, count * l)));
  for (index_t i = 0; i < count; ++i)
    for (index_t c = 0; c < l; ++c) q_local[static_cast<std::size_t>(i + c * count)] = t_local(c, i);
  DenseMatrix r_local;
  const int local_info = householder_qr(count, l, q_local, r_local);

  // The one collective: every rank's R_i, its row count h_i and its LAPACK status, so that a failure is known
  // everywhere.
  const index_t block = l * l + 2;
  std::vector<double> mine(r_local.values().begin(), r_local.values().end());
  mine.push_back(static_cast<double>(h));
  mine.push_back(local_info != 0 ? 1.0 : 0.0);
  std::vector<double> gathered(static_cast<std::size_t>(block * ranks));
  NMF_MPI_CHECK(MPI_Allgather(mine.data(), mpi_count(block, "R factor"), MPI_DOUBLE, gathered.data(),
                              mpi_count(block, "R factor"), MPI_DOUBLE, grid.comm()));
  // The stack of the R_i's h_i rows (H = sum of h_i >= l when T has at least l rows). Only those rows: with the
  // zero rows of a short R_i in the stack, a rank-deficient T would get columns of Q_s with weight there, which
  // Q_i (count_i x h_i) cannot carry, and Q would not be orthonormal.
  std::vector<index_t> offset(static_cast<std::size_t>(ranks) + 1, 0);
  bool failed = false;
  for (int p = 0; p < ranks; ++p) {
    const double* r_p = gathered.data() + p * block;
    offset[static_cast<std::size_t>(p) + 1] = offset[static_cast<std::size_t>(p)] + static_cast<index_t>(r_p[l * l]);
    failed |= r_p[l * l + 1] != 0.0;
  }
  if (failed) NMF_THROW_REPLICATED(ExitCode::failure, "dgeqrf or dorgqr failed on some rank (TSQR)");
  const index_t stacked_rows = offset.back();
  if (stacked_rows < l) NMF_THROW_REPLICATED(ExitCode::failure, "a thin QR needs at least as many rows as columns");
  std::vector<double> stacked(static_cast<std::size_t>(stacked_rows * l));
  for (int p = 0; p < ranks; ++p) {
    const double* r_p = gathered.data() + p * block;
    const index_t first = offset[static_cast<std::size_t>(p)], rows = offset[static_cast<std::size_t>(p) + 1] - first;
    for (index_t c = 0; c < l; ++c)
      for (index_t i = 0; i < rows; ++i)
        stacked[static_cast<std::size_t>(first + i + c * stacked_rows)] = r_p[i + c * l];
  }

  // [R_1; ...; R_P] = Q_s R: the same input bits on every rank, so the same R and Q_s everywhere.
  ThinQr result;
  if (householder_qr(stacked_rows, l, stacked, result.r_replicated) != 0)
    NMF_THROW_REPLICATED(ExitCode::failure, "dgeqrf or dorgqr failed on the stacked R factors (TSQR)");
  // T_i = Q_i R_i = Q_i Q_s,i R with Q_s,i the rows of Q_s that multiply R_i; Q^T's columns are (Q_i Q_s,i)^T.
  result.q_t_local = DenseMatrix(l, count);
  if (h > 0)
    linalg_detail::gemm('T', 'T', blas_int(l, "l"), blas_int(count, "rows"), blas_int(h, "h"),
                        stacked.data() + offset[static_cast<std::size_t>(grid.rank())],
                        blas_int(stacked_rows, "stacked rows"), q_local.data(), blas_int(count, "rows"),
                        result.q_t_local.data(), blas_int(l, "l"));
  return result;
}

namespace {

// CholeskyQR's reach: one pass leaves Q^T Q - I of order eps cond(T)^2, and a second pass makes it eps while
// cond(T) stays well below eps^-1/2 (about 1e8; the bound of Yamamoto, Nakatsukasa, Yanagisawa and Fukaya 2015
// shrinks it by sqrt(N l)). Above a condition estimate of 1e5 local_tsqr is used instead.
constexpr double kCholeskyQrMinRcond = 1e-5;

// The columns of T^T per dtrsm call (see cholesky_qr_pass).
constexpr index_t kSolveColumns = 256;

// One CholeskyQR pass in place: G = T^T T (one all-reduce), G = R^T R, Q^T = R^-T T^T. False when G is not
// numerically positive definite or R too ill-conditioned; G is the all-reduced result, the same bits on every
// rank (as the driver's replicated Gram matrices), so every rank decides the same.
bool cholesky_qr_pass(MPI_Comm comm, DenseMatrix& q_t, DenseMatrix& r) {
  const index_t l = q_t.rows(), count = q_t.cols();
  const int n = blas_int(l, "columns"), rows = blas_int(count, "rows");
  const double one = 1.0, zero = 0.0;
  r = DenseMatrix(l, l);  // the strict lower triangle stays 0: dsyrk and dpotrf touch the upper one only
  if (count > 0) dsyrk_("U", "N", &n, &rows, &one, q_t.data(), &n, &zero, r.data(), &n);
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, r.data(), mpi_count(l * l, "Gram"), MPI_DOUBLE, MPI_SUM, comm));
  int info = 0;
  dpotrf_("U", &n, r.data(), &n, &info);
  if (info != 0) return false;
  double rcond = 0;
  std::vector<double> work(static_cast<std::size_t>(3 * l));
  std::vector<int> iwork(static_cast<std::size_t>(l));
  dtrcon_("1", "U", "N", &n, r.data(), &n, &rcond, work.data(), iwork.data(), &info);
  if (info != 0 || !(rcond >= kCholeskyQrMinRcond)) return false;
  // Q^T = R^-T T^T a few columns at a time: OpenBLAS's dtrsm packs its whole right-hand side into its own work
  // buffer, and the first call touches as much new memory as T itself (page faults, several ms for an SVD
  // sketch); in blocks of kSolveColumns only a small part of that buffer. Each column is solved independently,
  // so the result is the same (bit for bit with OpenBLAS).
  for (index_t first = 0; first < count; first += kSolveColumns) {
    const int columns = blas_int(std::min(kSolveColumns, count - first), "rows");
    dtrsm_("L", "U", "T", "N", &n, &columns, &one, r.data(), &n, q_t.col(first), &n);
  }
  return true;
}

}  // namespace

ThinQr cholesky_qr(const ProcessGrid& grid, DenseMatrix t_local, int passes) {
  ThinQr result{std::move(t_local), {}};  // Q overwrites T in its storage
  const int l = blas_int(result.q_t_local.rows(), "columns");
  for (int pass = 0; pass < passes; ++pass) {
    DenseMatrix r;
    // A pass that fails leaves q_t_local as it found it (T, or the Q of the passes before): TSQR takes over there.
    const bool done = cholesky_qr_pass(grid.comm(), result.q_t_local, r);
    if (!done) {
      ThinQr tsqr = local_tsqr(grid, result.q_t_local);
      result.q_t_local = std::move(tsqr.q_t_local);
      r = std::move(tsqr.r_replicated);
    }
    if (pass == 0) {
      result.r_replicated = std::move(r);
    } else {  // T = Q_1 R_1 = Q_2 R_2 R_1 = ...: the passes' factors multiply.
      DenseMatrix product(l, l);
      linalg_detail::gemm('N', 'N', l, l, l, r.data(), l, result.r_replicated.data(), l, product.data(), l);
      result.r_replicated = std::move(product);
    }
    if (!done) break;  // TSQR's Q is orthonormal: no further pass
  }
  return result;
}

}  // namespace nmf
