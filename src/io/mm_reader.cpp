// Parallel Matrix Market reader. Every rank reads the lines that start in its own byte range of the
// file, in blocks of at most ReadOptions::chunk_bytes, in two passes:
//  1. scan: validate every line, count lines and entries, and build fixed-size histograms of nonzeros
//     per row and per column. Ranks agree on the first bad line (its global number comes from an
//     exclusive scan of line counts), check the entry count against the header, and cut the row and
//     column blocks so that nonzeros are balanced.
//  2. route: parse again and send every entry to the rank owning its block with MPI_Alltoallv, one
//     block of the file per round, so no rank ever holds more than its block plus one round's buffers.
#include <fstream>
#include <optional>

#include "line_blocks.hpp"
#include "memory_budget.hpp"
#include "nmf/distribution/exchange.hpp"
#include "nmf/io/matrix_market.hpp"
#include "sources.hpp"

namespace nmf::detail {

namespace {

// Histograms have at most this many buckets, so their size does not grow with the matrix.
constexpr index_t kMaxHistogramBuckets = index_t{1} << 20;

struct ScanResult {
  index_t lines = 0;    // lines starting in this rank's range (all of them, or up to the first bad one)
  index_t entries = 0;  // data lines
  std::optional<std::pair<index_t, std::string>> bad_line;  // (index among this rank's lines, problem)
  std::optional<LocalFailure> failure;                      // any other failure (I/O)
  std::vector<index_t> row_histogram, col_histogram;
};

class MatrixMarketSource final : public InputSource {
 public:
  MatrixMarketSource(MPI_Comm comm, const ReadOptions& options) : options_(options) {
    int rank = 0;
    NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    collectively(comm, [&] {
      if (rank != 0) return;
      file_size_ = check_readable_file(options_.path);
      std::ifstream in(options_.path, std::ios::binary);
      header_ = mm::parse_header(in, options_.path);
    });
    NMF_MPI_CHECK(MPI_Bcast(&header_, sizeof(header_), MPI_BYTE, 0, comm));
    NMF_MPI_CHECK(MPI_Bcast(&file_size_, 1, MPI_INT64_T, 0, comm));
    shape_.rows = options_.transpose ? header_.cols : header_.rows;
    shape_.cols = options_.transpose ? header_.rows : header_.cols;
    shape_.entries = header_.entries;
    shape_.dense_source = header_.format == mm::Format::array;
  }

  const InputShape& shape() const override { return shape_; }

  std::string description() const override { return options_.path + " (Matrix Market " + header_.banner_text() + ")"; }

  DistMatrix distribute(const ProcessGrid& grid) override {
    const MPI_Comm comm = grid.comm();
    const Storage storage = choose_storage(shape_, options_);
    MpiFile file(comm, options_.path, MPI_MODE_RDONLY);
    const ByteRange range = rank_byte_range(header_.data_offset, file_size_, grid.size(), grid.rank());
    const BucketMap row_buckets(shape_.rows, kMaxHistogramBuckets);
    const BucketMap col_buckets(shape_.cols, kMaxHistogramBuckets);

    ScanResult scan = scan_range(file, range, row_buckets, col_buckets);
    const index_t values_before = report_scan_failures(comm, scan);

    Layout layout = make_layout(grid, storage, scan);
    // Nothing sized by the matrix has been allocated yet (the histograms have a fixed size).
    const index_t stored = header_.entries * (header_.symmetry == mm::Symmetry::symmetric ? 2 : 1);
    check_block_fits(grid, block_needs(grid, layout, storage, stored, options_.factor_rank), rank_memory_budget(comm),
                     options_.path, shape_.rows, shape_.cols);
    index_t duplicates = 0;
    LocalBlock block = assemble_block(storage, layout.row_blocks.size(grid.row()), layout.col_blocks.size(grid.col()),
                                      route_entries(grid, file, range, layout, values_before), duplicates);
    file.close();
    return finish_matrix(grid, std::move(layout), std::move(block), duplicates, description());
  }

 private:
  bool coordinate() const { return header_.format == mm::Format::coordinate; }

  // The entry (in the factored orientation) of a coordinate line, or the `value_index`-th value of an
  // array file (column-major), passed to emit; symmetric files emit the mirrored entry too.
  template <class Emit>
  void emit_entries(std::string_view line, index_t value_index, Emit&& emit) const {
    Triplet t;
    if (coordinate()) {
      t = mm::parse_coordinate_line(line, header_);
    } else {
      t.value = mm::parse_array_line(line, header_);
      t.row = value_index % header_.rows;
      t.col = value_index / header_.rows;
    }
    mm::check_square_is_finite(t.value);
    const auto oriented = [&](Triplet e) {
      if (options_.transpose) std::swap(e.row, e.col);
      return e;
    };
    emit(oriented(t));
    if (header_.symmetry == mm::Symmetry::symmetric && t.row != t.col) emit(oriented({t.col, t.row, t.value}));
  }

  // Pass 1, local only: never throws; failures are recorded for the agreement that follows.
  ScanResult scan_range(const MpiFile& file, ByteRange range, const BucketMap& row_buckets,
                        const BucketMap& col_buckets) const {
    ScanResult scan;
    if (coordinate()) {
      scan.row_histogram.assign(static_cast<std::size_t>(row_buckets.buckets), 0);
      scan.col_histogram.assign(static_cast<std::size_t>(col_buckets.buckets), 0);
    }
    try {
      LineBlock lines;
      for (index_t b = 0; b < range.block_count(options_.chunk_bytes) && !scan.bad_line; ++b) {
        lines.load(file, range.block(b, options_.chunk_bytes), header_.data_offset, file_size_);
        lines.for_each_line([&](std::string_view line) {
          const index_t line_index = scan.lines++;
          if (!mm::is_data_line(line)) return true;
          try {
            emit_entries(line, scan.entries, [&](const Triplet& t) {
              if (!coordinate()) return;
              ++scan.row_histogram[static_cast<std::size_t>(row_buckets.bucket_of(t.row))];
              ++scan.col_histogram[static_cast<std::size_t>(col_buckets.bucket_of(t.col))];
            });
          } catch (const mm::LineProblem& problem) {
            scan.bad_line.emplace(line_index, problem.what());
            return false;
          }
          ++scan.entries;
          return true;
        });
      }
    } catch (...) {
      scan.failure = describe_current_exception();
    }
    return scan;
  }

  // Collective: agrees on the first bad line or failure, then checks the entry count against the
  // header. Returns the number of data values in the ranges of lower ranks.
  index_t report_scan_failures(MPI_Comm comm, const ScanResult& scan) const {
    const index_t lines_before = exclusive_prefix_sum(comm, scan.lines);
    const index_t values_before = exclusive_prefix_sum(comm, scan.entries);
    collectively(comm, [&] {
      if (scan.failure) throw Error(scan.failure->message, __FILE__, __LINE__, scan.failure->code);
      if (scan.bad_line) {
        const index_t line_number = header_.size_line + 1 + lines_before + scan.bad_line->first;
        NMF_THROW(InputError, options_.path + ":" + std::to_string(line_number) + ": " + scan.bad_line->second);
      }
    });
    index_t total = 0;
    NMF_MPI_CHECK(MPI_Allreduce(&scan.entries, &total, 1, MPI_INT64_T, MPI_SUM, comm));
    if (total != header_.entries) {
      const std::string what =
          coordinate() ? " entries"
                       : " values (" + std::to_string(header_.rows) + " x " + std::to_string(header_.cols) + ")";
      NMF_THROW_REPLICATED(ExitCode::bad_input, options_.path + ":" + std::to_string(header_.size_line) +
                                                    ": the size line declares " + std::to_string(header_.entries) +
                                                    what + " but the file has " + std::to_string(total));
    }
    return values_before;
  }

  Layout make_layout(const ProcessGrid& grid, Storage storage, ScanResult& scan) const {
    if (coordinate() && storage == Storage::sparse) {
      NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, scan.row_histogram.data(),
                                  mpi_count(scan.row_histogram.size(), "histogram"), MPI_INT64_T, MPI_SUM,
                                  grid.comm()));
      NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, scan.col_histogram.data(),
                                  mpi_count(scan.col_histogram.size(), "histogram"), MPI_INT64_T, MPI_SUM,
                                  grid.comm()));
    }
    return Layout(shape_.rows, shape_.cols, grid.shape(),
                  block_partition(storage, shape_.rows, scan.row_histogram, grid.shape().rows),
                  block_partition(storage, shape_.cols, scan.col_histogram, grid.shape().cols));
  }

  // Pass 2, collective: one round per block of the largest range; ranks whose range has fewer blocks
  // send nothing in the last rounds but still take part.
  TripletChunks route_entries(const ProcessGrid& grid, const MpiFile& file, ByteRange range, const Layout& layout,
                              index_t values_before) const {
    index_t rounds = 0;
    for (int r = 0; r < grid.size(); ++r)
      rounds = std::max(
          rounds, rank_byte_range(header_.data_offset, file_size_, grid.size(), r).block_count(options_.chunk_bytes));
    const index_t row_offset = layout.row_blocks.begin(grid.row());
    const index_t col_offset = layout.col_blocks.begin(grid.col());
    const auto owner = [&layout](const Triplet& t) { return layout.owner_of_entry(t.row, t.col); };

    TripletChunks received;
    index_t value_index = values_before;
    LineBlock lines;
    for (index_t round = 0; round < rounds; ++round) {
      std::vector<Triplet> outgoing;
      collectively(grid.comm(), [&] {
        if (round >= range.block_count(options_.chunk_bytes)) return;
        lines.load(file, range.block(round, options_.chunk_bytes), header_.data_offset, file_size_);
        lines.for_each_line([&](std::string_view line) {
          if (!mm::is_data_line(line)) return true;
          emit_entries(line, value_index++, [&](const Triplet& t) { outgoing.push_back(t); });
          return true;
        });
      });
      std::vector<Triplet> mine = route_to_owners(grid.comm(), outgoing, owner);
      for (Triplet& t : mine) {
        t.row -= row_offset;
        t.col -= col_offset;
      }
      received.push_back(std::move(mine));
    }
    return received;
  }

  ReadOptions options_;
  mm::Header header_;
  index_t file_size_ = 0;
  InputShape shape_;
};

}  // namespace

std::unique_ptr<InputSource> open_matrix_market(MPI_Comm comm, const ReadOptions& options) {
  return std::make_unique<MatrixMarketSource>(comm, options);
}

}  // namespace nmf::detail
