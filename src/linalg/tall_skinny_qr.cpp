#include "nmf/linalg/tall_skinny_qr.hpp"

#include <algorithm>

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

// One MPI_Alltoallv: every rank holds the rows have[rank] (l doubles each, consecutive in `send`) and wants the
// rows want[rank] (into `recv`, in the same format); each row goes from the rank that has it to the rank that
// wants it. Written by hand because neither side is a ScaLAPACK descriptor's layout (see the header).
void move_rows(MPI_Comm comm, index_t l, const std::vector<Range>& have, const std::vector<Range>& want,
               const double* send, double* recv) {
  const int ranks = size_of(comm), me = rank_in(comm);
  const Range mine_have = have[static_cast<std::size_t>(me)], mine_want = want[static_cast<std::size_t>(me)];
  std::vector<int> send_counts(ranks), send_displs(ranks), recv_counts(ranks), recv_displs(ranks);
  for (int r = 0; r < ranks; ++r) {
    const auto u = static_cast<std::size_t>(r);
    const Range out = intersect(mine_have, want[u]), in = intersect(have[u], mine_want);
    send_counts[u] = mpi_count((out.end - out.begin) * l, "rows sent");
    send_displs[u] = mpi_count((out.begin - mine_have.begin) * l, "send displacement");
    recv_counts[u] = mpi_count((in.end - in.begin) * l, "rows received");
    recv_displs[u] = mpi_count((in.begin - mine_want.begin) * l, "receive displacement");
  }
  NMF_MPI_CHECK(MPI_Alltoallv(send, send_counts.data(), send_displs.data(), MPI_DOUBLE, recv, recv_counts.data(),
                              recv_displs.data(), MPI_DOUBLE, comm));
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

}  // namespace nmf
