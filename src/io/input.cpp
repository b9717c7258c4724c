#include "nmf/io/input.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "nmf/io/ratings.hpp"
#include "sources.hpp"

namespace nmf {

InputFormat parse_input_format(const std::string& text) {
  if (text == "auto") return InputFormat::automatic;
  if (text == "mtx") return InputFormat::mtx;
  if (text == "npy") return InputFormat::npy;
  if (text == "ratings") return InputFormat::ratings;
  NMF_THROW(UsageError, "bad --format '" + text + "': expected auto, mtx, npy or ratings");
}

StorageChoice parse_storage_choice(const std::string& text) {
  if (text == "auto") return StorageChoice::automatic;
  if (text == "dense") return StorageChoice::dense;
  if (text == "sparse") return StorageChoice::sparse;
  NMF_THROW(UsageError, "bad --storage '" + text + "': expected auto, dense or sparse");
}

MissingEntries parse_missing_entries(const std::string& text) {
  if (text == "auto") return MissingEntries::automatic;
  if (text == "unobserved") return MissingEntries::unobserved;
  if (text == "zero") return MissingEntries::zero;
  NMF_THROW(UsageError, "bad --missing '" + text + "': expected auto, unobserved or zero");
}

std::vector<Triplet> InputSource::read_test_ratings(const ProcessGrid&, const Layout&, const std::string& path) {
  NMF_THROW(UsageError, "--test " + path +
                            ": a test file goes with a ratings input (--format ratings), whose ids it shares; for "
                            "other input use --test-fraction");
}

Storage choose_storage(const InputShape& shape, const ReadOptions& options) {
  if (options.storage == StorageChoice::dense) return Storage::dense;
  if (options.storage == StorageChoice::sparse) return Storage::sparse;
  if (shape.dense_source) return Storage::dense;
  const double density = static_cast<double>(shape.entries) / (static_cast<double>(shape.rows) * shape.cols);
  return density >= options.dense_threshold ? Storage::dense : Storage::sparse;
}

namespace detail {

namespace {

const char* kind_of_file(std::filesystem::file_type type) {
  switch (type) {
    case std::filesystem::file_type::directory:
      return "a directory";
    case std::filesystem::file_type::fifo:
      return "a FIFO (named pipe)";
    case std::filesystem::file_type::socket:
      return "a socket";
    case std::filesystem::file_type::character:
      return "a character device";
    case std::filesystem::file_type::block:
      return "a block device";
    default:
      return "not a regular file";
  }
}

}  // namespace

index_t check_readable_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) NMF_THROW(InputError, "cannot open input '" + path + "': no such file");
  // Only regular files, checked before anything opens the path: opening a FIFO blocks until a writer
  // comes (forever, for a FIFO nobody writes), and devices and sockets have no size or offsets to split
  // among ranks.
  if (std::filesystem::is_directory(status))
    NMF_THROW(InputError, "cannot open input '" + path + "': it is a directory");
  if (!std::filesystem::is_regular_file(status))
    NMF_THROW(InputError,
              "cannot open input '" + path + "': it is " + kind_of_file(status.type()) + ", not a regular file");
  std::ifstream probe(path, std::ios::binary);
  if (!probe) NMF_THROW(InputError, "cannot open input '" + path + "': " + std::strerror(errno));
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) NMF_THROW(InputError, "cannot read the size of input '" + path + "': " + ec.message());
  return static_cast<index_t>(size);
}

void broadcast_string(MPI_Comm comm, std::string& text, int root) {
  index_t length = static_cast<index_t>(text.size());
  NMF_MPI_CHECK(MPI_Bcast(&length, 1, MPI_INT64_T, root, comm));
  text.resize(static_cast<std::size_t>(length));
  if (length > 0) NMF_MPI_CHECK(MPI_Bcast(text.data(), mpi_count(length, "string length"), MPI_CHAR, root, comm));
}

BlockPartition block_partition(Storage storage, index_t total, const std::vector<index_t>& histogram, int parts) {
  // Fewer rows (columns) than blocks (a tiny matrix read on many ranks): some blocks are empty either way.
  if (storage == Storage::dense || histogram.empty() || static_cast<index_t>(histogram.size()) < parts)
    return BlockPartition::even(total, parts);
  return BlockPartition::balanced(total, histogram, parts);
}

index_t exclusive_prefix_sum(MPI_Comm comm, index_t value) {
  index_t before = 0;
  NMF_MPI_CHECK(MPI_Exscan(&value, &before, 1, MPI_INT64_T, MPI_SUM, comm));
  int rank = 0;
  NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  return rank == 0 ? 0 : before;  // MPI leaves rank 0's result undefined
}

DistMatrix finish_matrix(const ProcessGrid& grid, Layout layout, LocalBlock block, index_t local_duplicates,
                         std::string source) {
  DistMatrix x;
  x.stats = reduce_matrix_stats(grid.comm(), block, local_duplicates);
  // Each value's square was checked as it was read; their sum (all-reduced, so the same on every rank)
  // can still overflow, and every solver and error needs it.
  if (!std::isfinite(x.stats.frobenius_sq))
    NMF_THROW_REPLICATED(ExitCode::bad_input, source +
                                                  ": the sum of the squares of X's entries (||X||_F^2) "
                                                  "overflows a double; scale the data down");
  x.layout = std::move(layout);
  x.block = std::move(block);
  x.source = std::move(source);
  return x;
}

}  // namespace detail

namespace {

// What the first bytes of a file look like: the .npy magic string, a rating file (a first line that is not a
// Matrix Market banner and has 3 or more fields), or else Matrix Market (whose reader reports a bad banner if
// it is not that either).
InputFormat sniff_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string first(64 * 1024, '\0');  // a first line longer than this is no rating line
  in.read(first.data(), static_cast<std::streamsize>(first.size()));
  first.resize(static_cast<std::size_t>(in.gcount()));
  if (first.size() >= 6 && first.compare(0, 6, "\x93NUMPY") == 0) return InputFormat::npy;
  if (first.rfind("%%MatrixMarket", 0) == 0 || first.rfind("%", 0) == 0) return InputFormat::mtx;
  first = first.substr(0, first.find('\n'));
  if (!first.empty() && first.back() == '\r') first.pop_back();
  try {
    ratings::split_fields(first, ratings::detect_separator(first));
    return InputFormat::ratings;
  } catch (const mm::LineProblem&) {
    return InputFormat::mtx;
  }
}

}  // namespace

std::unique_ptr<InputSource> open_input(MPI_Comm comm, const ReadOptions& options) {
  InputFormat format = options.format;
  if (format == InputFormat::automatic) {
    // Sniff on one rank; the others learn the answer.
    const int rank = rank_in(comm);
    int sniffed = 0;
    collectively(comm, [&] {
      if (rank != 0) return;
      detail::check_readable_file(options.path);
      sniffed = static_cast<int>(sniff_format(options.path));
    });
    NMF_MPI_CHECK(MPI_Bcast(&sniffed, 1, MPI_INT, 0, comm));
    format = static_cast<InputFormat>(sniffed);
  }
  ReadOptions resolved = options;
  if (resolved.chunk_bytes <= 0) resolved.chunk_bytes = index_t{format == InputFormat::ratings ? 4 : 16} << 20;
  switch (format) {
    case InputFormat::npy:
      return detail::open_npy(comm, resolved);
    case InputFormat::ratings:
      return detail::open_ratings(comm, resolved);
    default:
      return detail::open_matrix_market(comm, resolved);
  }
}

namespace {

class DenseInMemorySource final : public InputSource {
 public:
  DenseInMemorySource(DenseMatrix full, std::string description, bool transpose)
      : full_(std::move(full)), description_(std::move(description)), transpose_(transpose) {
    shape_.rows = transpose ? full_.cols() : full_.rows();
    shape_.cols = transpose ? full_.rows() : full_.cols();
    shape_.entries = shape_.rows * shape_.cols;
    shape_.dense_source = true;
  }
  const InputShape& shape() const override { return shape_; }
  std::string description() const override { return description_; }

  DistMatrix distribute(const ProcessGrid& grid) override {
    Layout layout(shape_.rows, shape_.cols, grid.shape(), BlockPartition::even(shape_.rows, grid.shape().rows),
                  BlockPartition::even(shape_.cols, grid.shape().cols));
    LocalBlock block;
    collectively(grid.comm(), [&] {
      block.storage = Storage::dense;
      block.rows = layout.row_blocks.size(grid.row());
      block.cols = layout.col_blocks.size(grid.col());
      block.dense = DenseMatrix(block.rows, block.cols);
      const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
      for (index_t j = 0; j < block.cols; ++j) {
        for (index_t i = 0; i < block.rows; ++i) {
          const double v = transpose_ ? full_(col0 + j, row0 + i) : full_(row0 + i, col0 + j);
          NMF_REQUIRE(v >= 0.0 && std::isfinite(v), InputError,
                      description_ + ": entry (" + std::to_string(row0 + i) + ", " + std::to_string(col0 + j) +
                          ") is negative or not finite (NMF needs X >= 0)");
          block.dense(i, j) = v;
          if (v != 0.0) ++block.nonzeros;
        }
      }
    });
    return detail::finish_matrix(grid, std::move(layout), std::move(block), 0, description_);
  }

 private:
  DenseMatrix full_;
  std::string description_;
  bool transpose_;
  InputShape shape_;
};

}  // namespace

std::unique_ptr<InputSource> dense_in_memory(DenseMatrix full, std::string description, bool transpose) {
  return std::make_unique<DenseInMemorySource>(std::move(full), std::move(description), transpose);
}

DenseMatrix builtin_example_matrix() {
  // The origin notebook builds X = factors * weights with three non-negative factor columns and 0/1
  // weights (numpy seed 1); this is the matrix it prints.
  static const double rows[12][10] = {
      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0},       {0, 5, 0, 0, 5, 0, 0, 0, 5, 0}, {9, 14, 0, 0, 14, 9, 9, 9, 14, 0},
      {5, 11, 0, 0, 11, 5, 5, 5, 11, 0},    {3, 9, 0, 0, 9, 3, 3, 3, 9, 0}, {2, 12, 0, 3, 12, 2, 2, 5, 9, 0},
      {1, 7, 0, 2, 7, 1, 1, 3, 5, 0},       {0, 3, 0, 1, 3, 0, 0, 1, 2, 0}, {0, 2, 0, 1, 2, 0, 0, 1, 1, 0},
      {0, 0.5, 0, 0, 0.5, 0, 0, 0, 0.5, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
  DenseMatrix x(12, 10);
  for (index_t i = 0; i < 12; ++i)
    for (index_t j = 0; j < 10; ++j) x(i, j) = rows[i][j];
  return x;
}

}  // namespace nmf
