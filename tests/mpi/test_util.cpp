#include "test_util.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "nmf/io/matrix_market.hpp"

namespace nmf::test {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

SharedTempDir::SharedTempDir() {
  char buffer[4096] = {};
  if (world_rank() == 0) {
    std::string pattern = (std::filesystem::temp_directory_path() / "nmf_mpi_test_XXXXXX").string();
    std::strncpy(buffer, pattern.c_str(), sizeof(buffer) - 1);
    if (mkdtemp(buffer) == nullptr) std::perror("mkdtemp");
  }
  MPI_Bcast(buffer, sizeof(buffer), MPI_CHAR, 0, MPI_COMM_WORLD);
  path_ = buffer;
}

SharedTempDir::~SharedTempDir() {
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

DenseMatrix random_matrix(index_t n, index_t m, double density, std::uint64_t seed, bool integers) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::uniform_int_distribution<int> eighths(1, 160);
  DenseMatrix x(n, m);
  for (index_t j = 0; j < m; ++j)
    for (index_t i = 0; i < n; ++i)
      if (coin(rng) < density) x(i, j) = integers ? eighths(rng) : eighths(rng) / 8.0;
  return x;
}

namespace {
void write_on_root(const std::string& path, const std::string& bytes) {
  if (world_rank() == 0) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

std::string value_text(double v, MtxField field) {
  if (field == MtxField::integer) return std::to_string(static_cast<long long>(v));
  return mm::format_value(v);
}
}  // namespace

void write_text(const std::string& path, const std::string& text) {
  write_on_root(path, text);
}

void write_mtx_coordinate(const std::string& path, const DenseMatrix& x, MtxField field, bool symmetric_lower) {
  std::ostringstream body;
  index_t entries = 0;
  for (index_t j = 0; j < x.cols(); ++j) {
    for (index_t i = symmetric_lower ? j : 0; i < x.rows(); ++i) {
      if (x(i, j) == 0.0) continue;
      body << i + 1 << ' ' << j + 1;
      if (field != MtxField::pattern) body << ' ' << value_text(x(i, j), field);
      body << '\n';
      ++entries;
    }
  }
  const char* field_name = field == MtxField::real ? "real" : field == MtxField::integer ? "integer" : "pattern";
  std::ostringstream file;
  file << "%%MatrixMarket matrix coordinate " << field_name << (symmetric_lower ? " symmetric" : " general") << "\n"
       << "% written by the nmf_mpi tests\n"
       << x.rows() << ' ' << x.cols() << ' ' << entries << '\n'
       << body.str();
  write_on_root(path, file.str());
}

void write_mtx_array(const std::string& path, const DenseMatrix& x) {
  std::ostringstream file;
  file << "%%MatrixMarket matrix array real general\n" << x.rows() << ' ' << x.cols() << '\n';
  for (index_t j = 0; j < x.cols(); ++j)
    for (index_t i = 0; i < x.rows(); ++i) file << mm::format_value(x(i, j)) << '\n';
  write_on_root(path, file.str());
}

namespace {
template <class T>
void append_value(std::string& out, double v, bool big_endian) {
  const T typed = static_cast<T>(v);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &typed, sizeof(T));
  if (big_endian) std::reverse(bytes, bytes + sizeof(T));
  out.append(bytes, sizeof(T));
}
}  // namespace

void write_npy(const std::string& path, const DenseMatrix& x, const std::string& dtype, bool fortran_order) {
  std::string dict = "{'descr': '" + dtype + "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                     ", 'shape': (" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) + "), }";
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(dict.size() & 0xff));
  bytes.push_back(static_cast<char>(dict.size() >> 8));
  bytes += dict;
  const bool big = dtype[0] == '>';
  const std::string kind = dtype.substr(1);
  const index_t outer = fortran_order ? x.cols() : x.rows(), inner = fortran_order ? x.rows() : x.cols();
  for (index_t o = 0; o < outer; ++o) {
    for (index_t q = 0; q < inner; ++q) {
      const double v = fortran_order ? x(q, o) : x(o, q);
      if (kind == "u1")
        append_value<std::uint8_t>(bytes, v, false);
      else if (kind == "i4")
        append_value<std::int32_t>(bytes, v, big);
      else if (kind == "i8")
        append_value<std::int64_t>(bytes, v, big);
      else if (kind == "f4")
        append_value<float>(bytes, v, big);
      else
        append_value<double>(bytes, v, big);
    }
  }
  write_on_root(path, bytes);
}

std::vector<GridShape> all_grid_shapes(int ranks) {
  std::vector<GridShape> shapes;
  for (int pr = 1; pr <= ranks; ++pr)
    if (ranks % pr == 0) shapes.push_back({pr, ranks / pr});
  return shapes;
}

namespace {
DenseMatrix block_as_dense(const LocalBlock& block) {
  if (block.storage == Storage::dense) return block.dense;
  DenseMatrix d(block.rows, block.cols);
  for (index_t i = 0; i < block.rows; ++i)
    for (index_t p = block.csr.ptr[i]; p < block.csr.ptr[i + 1]; ++p) d(i, block.csr.index[p]) += block.csr.values[p];
  return d;
}
}  // namespace

void expect_block_matches(const DistMatrix& x, const ProcessGrid& grid, const DenseMatrix& reference, bool transpose) {
  const Layout& layout = x.layout;
  ASSERT_EQ(layout.n, transpose ? reference.cols() : reference.rows());
  ASSERT_EQ(layout.m, transpose ? reference.rows() : reference.cols());
  const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
  ASSERT_EQ(x.block.rows, layout.row_blocks.size(grid.row()));
  ASSERT_EQ(x.block.cols, layout.col_blocks.size(grid.col()));
  const DenseMatrix mine = block_as_dense(x.block);
  index_t mismatches = 0;
  for (index_t j = 0; j < mine.cols(); ++j) {
    for (index_t i = 0; i < mine.rows(); ++i) {
      const double expected = transpose ? reference(col0 + j, row0 + i) : reference(row0 + i, col0 + j);
      if (mine(i, j) != expected && mismatches++ < 5)
        ADD_FAILURE() << "X(" << row0 + i << ", " << col0 + j << ") is " << mine(i, j) << ", expected " << expected;
    }
  }
  EXPECT_EQ(mismatches, 0);
  if (x.block.storage == Storage::sparse) {
    // The CSC copy must hold the same entries as the CSR.
    const CompressedMatrix back = transpose_compressed(x.block.csc);
    EXPECT_EQ(back.ptr, x.block.csr.ptr);
    EXPECT_EQ(back.index, x.block.csr.index);
    EXPECT_EQ(back.values, x.block.csr.values);
  }
}

void gather_factors(const ProcessGrid& grid, const Layout& layout, const Factors& factors, DenseMatrix& a,
                    DenseMatrix& s) {
  const index_t k = factors.a_t.rows();
  DenseMatrix a_partial(layout.n, k), s_partial(k, layout.m);
  const int a_slice = layout.a_slice_of(grid.row(), grid.col()), s_slice = layout.s_slice_of(grid.row(), grid.col());
  for (index_t r = 0; r < factors.a_t.cols(); ++r)
    for (index_t c = 0; c < k; ++c) a_partial(layout.a_slices.begin(a_slice) + r, c) = factors.a_t(c, r);
  for (index_t j = 0; j < factors.s.cols(); ++j)
    for (index_t c = 0; c < k; ++c) s_partial(c, layout.s_slices.begin(s_slice) + j) = factors.s(c, j);
  a = DenseMatrix(layout.n, k);
  s = DenseMatrix(k, layout.m);
  MPI_Allreduce(a_partial.data(), a.data(), static_cast<int>(a.size()), MPI_DOUBLE, MPI_SUM, grid.comm());
  MPI_Allreduce(s_partial.data(), s.data(), static_cast<int>(s.size()), MPI_DOUBLE, MPI_SUM, grid.comm());
}

DenseMatrix gather_everywhere(const DistMatrix& x, const ProcessGrid& grid) {
  const Layout& layout = x.layout;
  DenseMatrix partial(layout.n, layout.m), full(layout.n, layout.m);
  const DenseMatrix mine = block_as_dense(x.block);
  const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
  for (index_t j = 0; j < mine.cols(); ++j)
    for (index_t i = 0; i < mine.rows(); ++i) partial(row0 + i, col0 + j) = mine(i, j);
  MPI_Allreduce(partial.data(), full.data(), static_cast<int>(full.size()), MPI_DOUBLE, MPI_SUM, grid.comm());
  return full;
}

}  // namespace nmf::test
