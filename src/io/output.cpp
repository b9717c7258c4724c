#include "nmf/io/output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "factor_files.hpp"
#include "nmf/io/matrix_market.hpp"
#include "nmf/io/mpi_file.hpp"
#include "nmf/io/npy.hpp"
#include "nmf/version.hpp"

namespace nmf {

OutputFormat parse_output_format(const std::string& text) {
  if (text == "mtx") return OutputFormat::mtx;
  if (text == "npy") return OutputFormat::npy;
  NMF_THROW(UsageError, "bad --output-format '" + text + "': expected mtx or npy");
}

OutputPaths output_paths(const std::string& prefix, OutputFormat format) {
  const std::string extension = format == OutputFormat::mtx ? ".mtx" : ".npy";
  return {prefix + "_A" + extension, prefix + "_S" + extension, prefix + "_summary.json"};
}

namespace {

std::string directory_of(const std::string& prefix) {
  const std::filesystem::path parent = std::filesystem::path(prefix).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

namespace detail {

std::string temporary_name(MPI_Comm comm, const std::string& path) {
  long long pid = static_cast<long long>(getpid());
  NMF_MPI_CHECK(MPI_Bcast(&pid, 1, MPI_LONG_LONG, 0, comm));
  return path + ".tmp-" + std::to_string(pid);
}

}  // namespace detail

namespace {

// Length of the text of `count` values value_at(0..count-1), one per line.
template <class ValueAt>
index_t text_length(index_t count, ValueAt&& value_at) {
  char buf[32];
  index_t length = 0;
  for (index_t i = 0; i < count; ++i) length += mm::format_value(value_at(i), buf) + 1;
  return length;
}

// Writes the same text at `offset`, formatting at most 64 Ki values at a time so the buffer stays small.
template <class ValueAt>
void write_text(detail::RecordingWriter& file, index_t offset, index_t count, ValueAt&& value_at) {
  constexpr index_t kValuesPerPiece = index_t{1} << 16;
  std::string text;
  for (index_t first = 0; first < count; first += kValuesPerPiece) {
    text.clear();
    char buf[32];
    for (index_t i = first; i < std::min(count, first + kValuesPerPiece); ++i) {
      text.append(buf, static_cast<std::size_t>(mm::format_value(value_at(i), buf)));
      text.push_back('\n');
    }
    file.write_at(offset, text.data(), static_cast<index_t>(text.size()));
    offset += static_cast<index_t>(text.size());
  }
}

std::string matrix_market_header(const char* name, index_t rows, index_t cols) {
  return "%%MatrixMarket matrix array real general\n% " + std::string(name) + " factor written by nmf_mpi " +
         NMF_VERSION + "\n" + std::to_string(rows) + " " + std::to_string(cols) + "\n";
}

// A (n x k) is stored column by column in the file; column c holds every rank's rows in rank order
// (the A slice order). An exclusive scan of each rank's per-column text lengths gives its offsets.
detail::FileChecksum write_a_matrix_market(const ProcessGrid& grid, const Layout& layout, const DenseMatrix& a_t,
                                           const std::string& path) {
  const index_t k = a_t.rows();
  const std::string header = matrix_market_header("A", layout.n, k);
  std::vector<index_t> lengths(static_cast<std::size_t>(k)), before(lengths.size(), 0), totals(lengths.size());
  for (index_t c = 0; c < k; ++c) lengths[c] = text_length(a_t.cols(), [&](index_t r) { return a_t(c, r); });
  const int count = mpi_count(k, "k");
  NMF_MPI_CHECK(MPI_Exscan(lengths.data(), before.data(), count, MPI_INT64_T, MPI_SUM, grid.comm()));
  if (grid.rank() == 0) std::fill(before.begin(), before.end(), 0);
  NMF_MPI_CHECK(MPI_Allreduce(lengths.data(), totals.data(), count, MPI_INT64_T, MPI_SUM, grid.comm()));
  return detail::write_verified_file(grid.comm(), path, [&](detail::RecordingWriter& file) {
    if (grid.rank() == 0) file.write_at(0, header.data(), static_cast<index_t>(header.size()));
    index_t column_start = static_cast<index_t>(header.size());
    for (index_t c = 0; c < k; ++c) {
      write_text(file, column_start + before[c], a_t.cols(), [&](index_t r) { return a_t(c, r); });
      column_start += totals[c];
    }
  });
}

// S (k x m) stored column by column is the k values of column 0, then column 1...: each rank's columns
// are one contiguous run, placed in S slice order.
detail::FileChecksum write_s_matrix_market(const ProcessGrid& grid, const Layout& layout, const DenseMatrix& s,
                                           const std::string& path) {
  const std::string header = matrix_market_header("S", s.rows(), layout.m);
  const double* values = s.data();
  const auto value_at = [values](index_t i) { return values[i]; };
  const index_t length = text_length(s.size(), value_at);
  index_t before = 0;
  NMF_MPI_CHECK(MPI_Exscan(&length, &before, 1, MPI_INT64_T, MPI_SUM, grid.s_order_comm()));
  int s_order_rank = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(grid.s_order_comm(), &s_order_rank));
  if (s_order_rank == 0) before = 0;
  return detail::write_verified_file(grid.comm(), path, [&](detail::RecordingWriter& file) {
    if (grid.rank() == 0) file.write_at(0, header.data(), static_cast<index_t>(header.size()));
    write_text(file, static_cast<index_t>(header.size()) + before, s.size(), value_at);
  });
}

// A as C order (n, k): rows are contiguous, and a_t (k x rows, column-major) is exactly those bytes.
// S as Fortran order (k, m): columns are contiguous, and s is exactly those bytes.
detail::FileChecksum write_npy(const ProcessGrid& grid, const DenseMatrix& slice, index_t first,
                               const std::vector<index_t>& shape, bool fortran_order, const std::string& path) {
  const std::string header = npy::format_float64_header(shape, fortran_order);
  const index_t k = slice.rows();
  return detail::write_verified_file(grid.comm(), path, [&](detail::RecordingWriter& file) {
    if (grid.rank() == 0) file.write_at(0, header.data(), static_cast<index_t>(header.size()));
    file.write_at(static_cast<index_t>(header.size()) + first * k * 8, reinterpret_cast<const char*>(slice.data()),
                  slice.size() * 8);
  });
}

}  // namespace

void check_output_prefix(MPI_Comm comm, const std::string& prefix) {
  collectively(comm, [&] {
    if (rank_in(comm) != 0) return;
    const std::string directory = directory_of(prefix);
    std::error_code ec;
    const auto status = std::filesystem::status(directory, ec);
    if (!std::filesystem::exists(status))
      NMF_THROW(OutputError, "output directory '" + directory + "' does not exist (from -o " + prefix + ")");
    if (!std::filesystem::is_directory(status))
      NMF_THROW(OutputError, "'" + directory + "' is not a directory (from -o " + prefix + ")");
    const std::string probe = prefix + ".probe-" + std::to_string(getpid());
    const int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) NMF_THROW(OutputError, "cannot write to output directory '" + directory + "': " + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
  });
}

namespace detail {

FactorChecksums write_factor_files(const ProcessGrid& grid, const Layout& layout, const Factors& factors,
                                   OutputFormat format, const std::string& a_path, const std::string& s_path) {
  const index_t k = factors.a_t.rows();
  FactorChecksums checksums;
  if (format == OutputFormat::mtx) {
    checksums.a = write_a_matrix_market(grid, layout, factors.a_t, a_path);
    checksums.s = write_s_matrix_market(grid, layout, factors.s, s_path);
  } else {
    checksums.a = write_npy(grid, factors.a_t, layout.a_slices.begin(layout.a_slice_of(grid.row(), grid.col())),
                            {layout.n, k}, false, a_path);
    checksums.s = write_npy(grid, factors.s, layout.s_slices.begin(layout.s_slice_of(grid.row(), grid.col())),
                            {k, layout.m}, true, s_path);
  }
  return checksums;
}

FileChecksum write_a_file(const ProcessGrid& grid, const Layout& layout, const DenseMatrix& a_t, OutputFormat format,
                          const std::string& a_path) {
  if (format == OutputFormat::mtx) return write_a_matrix_market(grid, layout, a_t, a_path);
  return write_npy(grid, a_t, layout.a_slices.begin(layout.a_slice_of(grid.row(), grid.col())), {layout.n, a_t.rows()},
                   false, a_path);
}

}  // namespace detail

}  // namespace nmf
