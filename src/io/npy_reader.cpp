// Parallel .npy reader: one rank reads the header; then every rank reads its own block of the array with
// collective MPI-IO through a subarray file view, in rounds of at most ReadOptions::chunk_bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "memory_budget.hpp"
#include "nmf/huge_pages.hpp"
#include "nmf/io/matrix_market.hpp"
#include "nmf/io/mpi_file.hpp"
#include "nmf/io/npy.hpp"
#include "read_phases.hpp"
#include "sources.hpp"

namespace nmf::detail {

namespace {

std::string describe_shape(const std::vector<index_t>& shape) {
  std::string text = "(";
  for (std::size_t d = 0; d < shape.size(); ++d) text += (d ? ", " : "") + std::to_string(shape[d]);
  return text + ")";
}

// Reads and checks the header on one rank; returns its raw bytes, which the other ranks parse too.
std::string read_npy_header(const std::string& path, npy::Header& header) {
  const index_t file_size = check_readable_file(path);
  std::ifstream in(path, std::ios::binary);
  std::string bytes;
  index_t wanted = std::min<index_t>(file_size, 4096);
  while (true) {
    bytes.resize(static_cast<std::size_t>(wanted));
    in.seekg(0);
    in.read(bytes.data(), wanted);
    const index_t needed = npy::parse_header(bytes, path, header);
    if (needed == 0) break;
    if (needed > file_size) NMF_THROW(InputError, path + ": truncated .npy header");
    wanted = needed;
  }
  if (header.shape.size() != 2)
    NMF_THROW(InputError, path + ": expected a 2-D array, the header gives shape " + describe_shape(header.shape));
  const index_t rows = header.shape[0], cols = header.shape[1];
  if (rows == 0 || cols == 0)
    NMF_THROW(InputError,
              path + ": the matrix is empty (shape " + describe_shape(header.shape) + "); there is nothing to factor");
  if (rows > std::numeric_limits<index_t>::max() / cols / header.item_size)
    NMF_THROW(InputError, path + ": shape " + describe_shape(header.shape) + " overflows 64-bit sizes");
  const index_t data_bytes = rows * cols * header.item_size;
  if (file_size - header.data_offset < data_bytes)
    NMF_THROW(InputError, path + ": truncated data: shape " + describe_shape(header.shape) + " of '" + header.descr +
                              "' needs " + std::to_string(data_bytes) + " bytes after the header, the file has " +
                              std::to_string(file_size - header.data_offset));
  bytes.resize(static_cast<std::size_t>(header.data_offset));
  return bytes;
}

class NpySource final : public InputSource {
 public:
  NpySource(MPI_Comm comm, const ReadOptions& options) : options_(options) {
    int rank = 0;
    NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    std::string header_bytes;
    collectively(comm, [&] {
      if (rank == 0) header_bytes = read_npy_header(options_.path, header_);
    });
    broadcast_string(comm, header_bytes, 0);
    if (rank != 0) npy::parse_header(header_bytes, options_.path, header_);
    shape_.rows = options_.transpose ? header_.shape[1] : header_.shape[0];
    shape_.cols = options_.transpose ? header_.shape[0] : header_.shape[1];
    shape_.entries = shape_.rows * shape_.cols;
    shape_.dense_source = true;
  }

  const InputShape& shape() const override { return shape_; }
  std::string description() const override {
    return options_.path + " (NumPy " + header_.descr + ", " + (header_.fortran_order ? "Fortran" : "C") +
           " order, shape " + describe_shape(header_.shape) + ")";
  }

  DistMatrix distribute(const ProcessGrid& grid) override {
    ReadPhases phases(grid.comm());
    Layout layout(shape_.rows, shape_.cols, grid.shape(), BlockPartition::even(shape_.rows, grid.shape().rows),
                  BlockPartition::even(shape_.cols, grid.shape().cols));
    check_block_fits(grid, block_needs(grid, layout, Storage::dense, shape_.entries, options_.factor_rank),
                     rank_memory_budget(grid.comm()), options_.path, shape_.rows, shape_.cols);
    LocalBlock block;
    block.storage = Storage::dense;
    block.rows = layout.row_blocks.size(grid.row());
    block.cols = layout.col_blocks.size(grid.col());
    // Every entry is written by read_block; huge pages spare the faults of touching it (nmf/huge_pages.hpp).
    reserve_huge(block.dense.values(), static_cast<std::size_t>(block.rows * block.cols));
    block.dense.reshape(block.rows, block.cols);
    phases.mark("allocate");
    read_block(grid, layout, block, phases);
    DistMatrix x = finish_matrix(grid, std::move(layout), std::move(block), 0, description());
    NMF_MPI_CHECK(MPI_Allreduce(&bytes_read_, &x.stats.bytes_read, 1, MPI_INT64_T, MPI_SUM, grid.comm()));
    phases.mark("finish");
    return x;
  }

 private:
  // Reads this rank's block in rounds along the file's outer (slow) dimension.
  void read_block(const ProcessGrid& grid, const Layout& layout, LocalBlock& block, ReadPhases& phases) {
    const MPI_Comm comm = grid.comm();
    // The block in the file's own coordinates.
    index_t file_row0 = layout.row_blocks.begin(grid.row()), file_rows = block.rows;
    index_t file_col0 = layout.col_blocks.begin(grid.col()), file_cols = block.cols;
    if (options_.transpose) {
      std::swap(file_row0, file_col0);
      std::swap(file_rows, file_cols);
    }
    const index_t n_file = header_.shape[0], m_file = header_.shape[1];
    // C order: rows are outer, each row's columns contiguous. Fortran order: the reverse.
    const bool c_order = !header_.fortran_order;
    const index_t outer_begin = c_order ? file_row0 : file_col0;
    const index_t outer_count = c_order ? file_rows : file_cols;
    const index_t inner_count = c_order ? file_cols : file_rows;
    const index_t per_round =
        std::max<index_t>(1, options_.chunk_bytes / std::max<index_t>(1, inner_count * header_.item_size));
    const index_t my_rounds = (outer_count + per_round - 1) / per_round;
    index_t rounds = 0;
    NMF_MPI_CHECK(MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, comm));

    MpiFile file(comm, options_.path, MPI_MODE_RDONLY);
    MPI_Datatype element = MPI_DATATYPE_NULL;
    NMF_MPI_CHECK(MPI_Type_contiguous(header_.item_size, MPI_BYTE, &element));
    NMF_MPI_CHECK(MPI_Type_commit(&element));
    const Datatype element_type(element);
    // Native doubles (the usual '<f8') are read straight into `converted`; other types through `raw`.
    const bool native_doubles = header_.type == npy::ElementType::float64 && !header_.big_endian;
    std::vector<char> raw;
    std::vector<double> converted;
    char native[] = "native";

    for (index_t round = 0; round < rounds; ++round) {
      const index_t outer0 = std::min(outer_count, round * per_round);
      const index_t outer_n = std::min(per_round, outer_count - outer0);
      index_t elements = 0;
      if (outer_n > 0) {
        const int sizes[2] = {mpi_count(n_file, "rows"), mpi_count(m_file, "columns")};
        const int subsizes[2] = {mpi_count(c_order ? outer_n : file_rows, "rows"),
                                 mpi_count(c_order ? file_cols : outer_n, "columns")};
        const int starts[2] = {mpi_count(c_order ? file_row0 + outer0 : file_row0, "row"),
                               mpi_count(c_order ? file_col0 : file_col0 + outer0, "column")};
        MPI_Datatype view = MPI_DATATYPE_NULL;
        NMF_MPI_CHECK(MPI_Type_create_subarray(2, sizes, subsizes, starts, c_order ? MPI_ORDER_C : MPI_ORDER_FORTRAN,
                                               element_type.get(), &view));
        NMF_MPI_CHECK(MPI_Type_commit(&view));
        const Datatype view_type(view);
        NMF_MPI_CHECK(MPI_File_set_view(file.get(), header_.data_offset, element_type.get(), view_type.get(), native,
                                        MPI_INFO_NULL));
        elements = outer_n * inner_count;
      } else {
        NMF_MPI_CHECK(MPI_File_set_view(file.get(), 0, MPI_BYTE, MPI_BYTE, native, MPI_INFO_NULL));
      }
      converted.resize(static_cast<std::size_t>(elements));
      if (!native_doubles) raw.resize(static_cast<std::size_t>(elements * header_.item_size));
      char* destination = native_doubles ? reinterpret_cast<char*>(converted.data()) : raw.data();
      MPI_Status status;
      NMF_MPI_CHECK(MPI_File_read_all(file.get(), destination, mpi_count(elements, "elements per read"),
                                      elements > 0 ? element_type.get() : MPI_BYTE, &status));
      phases.mark("read");
      bytes_read_ += elements * header_.item_size;
      collectively(comm, [&] {
        if (elements == 0) return;
        if (!native_doubles) npy::convert_to_double(raw.data(), elements, header_, converted.data());
        store_round(converted, outer0 + outer_begin, outer_n, inner_count, c_order ? file_col0 : file_row0, c_order,
                    layout.row_blocks.begin(grid.row()), layout.col_blocks.begin(grid.col()), block);
      });
      phases.mark("store");
    }
    file.close();
  }

  // Checks the values of one round, counts its nonzeros into the block's and stores them in the block
  // (transposing when asked). (block_row0, block_col0) is the block's first global index in the factored
  // orientation.
  void store_round(const std::vector<double>& values, index_t outer0, index_t outer_n, index_t inner_count,
                   index_t inner0, bool c_order, index_t block_row0, index_t block_col0, LocalBlock& block) const {
    // One branch-free pass over the round (it vectorizes) checks and counts, so no pass over the whole block
    // is needed for either; the first bad element is looked for only if there is any.
    index_t bad = 0, nonzeros = 0;
    for (const double v : values) {
      bad += !((v >= 0.0) & mm::square_is_finite(v));
      nonzeros += v != 0.0;
    }
    block.nonzeros += nonzeros;
    const bool all_good = bad == 0;
    if (!all_good) {
      for (index_t o = 0; o < outer_n; ++o)
        for (index_t q = 0; q < inner_count; ++q)
          check_value(values[static_cast<std::size_t>(o * inner_count + q)], c_order ? outer0 + o : inner0 + q,
                      c_order ? inner0 + q : outer0 + o);
    }
    // The file's inner (contiguous) dimension is the block's row dimension when the file is C order and
    // transposed, or Fortran order and not: then each outer index is a run of one block column. Otherwise
    // the outer index is the block row and the round is transposed in tiles that stay in L1.
    const double* source = values.data();
    if (c_order == options_.transpose) {
      for (index_t o = 0; o < outer_n; ++o)
        std::copy(source + o * inner_count, source + (o + 1) * inner_count,
                  &block.dense(inner0 - block_row0, outer0 + o - block_col0));
      return;
    }
    constexpr index_t kTile = 32;
    for (index_t q0 = 0; q0 < inner_count; q0 += kTile) {
      const index_t q1 = std::min(inner_count, q0 + kTile);
      for (index_t o0 = 0; o0 < outer_n; o0 += kTile) {
        const index_t o1 = std::min(outer_n, o0 + kTile);
        for (index_t q = q0; q < q1; ++q) {
          double* column = &block.dense(outer0 - block_row0, inner0 + q - block_col0);
          for (index_t o = o0; o < o1; ++o) column[o] = source[o * inner_count + q];
        }
      }
    }
  }

  // Throws InputError naming the element (0-based, in the file's own coordinates) if X cannot hold v.
  void check_value(double v, index_t file_row, index_t file_col) const {
    if (v >= 0.0 && mm::square_is_finite(v)) return;
    const std::string what = std::isnan(v)   ? "is NaN"
                             : std::isinf(v) ? "is infinite"
                             : v < 0.0       ? "is negative: " + std::to_string(v)
                                             : "is too large: " + mm::format_shortest(v);
    const std::string why =
        std::isfinite(v) && v > 0.0 ? std::string(mm::kTooLargeReason) : "NMF needs a non-negative matrix, X >= 0";
    NMF_THROW(InputError, options_.path + ": element [" + std::to_string(file_row) + ", " + std::to_string(file_col) +
                              "] (0-based row, column) " + what + " (" + why + ")");
  }

  ReadOptions options_;
  npy::Header header_;
  InputShape shape_;
  index_t bytes_read_ = 0;  // of the array data, by this rank
};

}  // namespace

std::unique_ptr<InputSource> open_npy(MPI_Comm comm, const ReadOptions& options) {
  return std::make_unique<NpySource>(comm, options);
}

}  // namespace nmf::detail
