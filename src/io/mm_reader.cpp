// Parallel Matrix Market reader. Every rank reads the lines that start in its own byte range of the
// file, in blocks of at most ReadOptions::chunk_bytes:
//  1. scan: parse and validate every line once, count lines and entries, build fixed-size histograms of
//     nonzeros per row and per column, and keep the parsed entries (24 bytes each) for step 2 while they
//     fit in a quarter of the rank's memory budget. Ranks agree on the first bad line (its global number
//     comes from an exclusive scan of line counts), check the entry count against the header, and cut the
//     row and column blocks so that nonzeros are balanced.
//  2. route: send every entry to the rank owning its block with MPI_Alltoallv, one block of the file per
//     round, each round's kept entries released as they are sent (a rank whose entries did not fit parses
//     that block of the text again instead). The kept entries shrink as the received ones grow, so no
//     rank holds much more than its block plus one round's buffers.
// Plain lines take a fast parser (mm::try_parse_coordinate_line); anything else goes to the careful one,
// which names the problem.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>

#include "line_blocks.hpp"
#include "memory_budget.hpp"
#include "nmf/distribution/exchange.hpp"
#include "nmf/huge_pages.hpp"
#include "nmf/io/matrix_market.hpp"
#include "read_phases.hpp"
#include "sources.hpp"

namespace nmf::detail {

namespace {

// Histograms have at most this many buckets, so their size does not grow with the matrix.
constexpr index_t kMaxHistogramBuckets = index_t{1} << 20;

// The share of a rank's memory budget the parsed entries of its byte range may take until they are routed.
constexpr double kKeptShareOfBudget = 0.25;

struct ScanResult {
  index_t lines = 0;    // lines starting in this rank's range (all of them, or up to the first bad one)
  index_t entries = 0;  // data lines
  std::optional<std::pair<index_t, std::string>> bad_line;  // (index among this rank's lines, problem)
  std::optional<LocalFailure> failure;                      // any other failure (I/O)
  std::vector<index_t> row_histogram, col_histogram;
  TripletChunks kept;      // the entries of each block of the range, in the factored orientation, or none
  bool keeping = true;     // false: they did not fit, and route_entries parses the text again
  index_t bytes_read = 0;  // bytes of the file this rank read
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
    ReadPhases phases(comm);
    const Storage storage = choose_storage(shape_, options_);
    MpiFile file(comm, options_.path, MPI_MODE_RDONLY);
    phases.mark("open");
    const ByteRange range = rank_byte_range(header_.data_offset, file_size_, grid.size(), grid.rank());
    const BucketMap row_buckets(shape_.rows, kMaxHistogramBuckets);
    const BucketMap col_buckets(shape_.cols, kMaxHistogramBuckets);

    const MemoryBudget budget = rank_memory_budget(comm);
    // Balancing needs the histograms only along a dimension the grid cuts, and only for sparse storage.
    const bool balance = coordinate() && storage == Storage::sparse;
    ScanResult scan =
        scan_range(file, range, balance && grid.shape().rows > 1 ? &row_buckets : nullptr,
                   balance && grid.shape().cols > 1 ? &col_buckets : nullptr,
                   options_.kept_entries_bytes >= 0 ? options_.kept_entries_bytes : budget.bytes * kKeptShareOfBudget);
    phases.mark("scan");
    const index_t values_before = report_scan_failures(comm, scan);
    phases.mark("agree");

    Layout layout = make_layout(grid, storage, scan);
    phases.mark("layout");
    // Nothing sized by the matrix has been allocated yet (the histograms have a fixed size; the kept entries
    // are bounded by this rank's bytes of the file and by the budget).
    const index_t stored = header_.entries * (header_.symmetry == mm::Symmetry::symmetric ? 2 : 1);
    check_block_fits(grid, block_needs(grid, layout, storage, stored, options_.factor_rank), budget, options_.path,
                     shape_.rows, shape_.cols);
    index_t duplicates = 0;
    TripletChunks mine = route_entries(grid, file, range, layout, values_before, scan);
    phases.mark("route");
    LocalBlock block = assemble_block(storage, layout.row_blocks.size(grid.row()), layout.col_blocks.size(grid.col()),
                                      std::move(mine), duplicates);
    phases.mark("assemble");
    file.close();
    DistMatrix x = finish_matrix(grid, std::move(layout), std::move(block), duplicates, description());
    NMF_MPI_CHECK(MPI_Allreduce(&scan.bytes_read, &x.stats.bytes_read, 1, MPI_INT64_T, MPI_SUM, comm));
    phases.mark("finish");
    return x;
  }

 private:
  bool coordinate() const { return header_.format == mm::Format::coordinate; }

  // The entry (in the factored orientation) of a coordinate line, or the `value_index`-th value of an
  // array file (column-major), passed to emit; symmetric files emit the mirrored entry too. Plain lines
  // take the fast parser; the others the careful one, which throws mm::LineProblem for bad input.
  template <class Emit>
  void emit_entries(std::string_view line, index_t value_index, Emit&& emit) const {
    Triplet t;
    if (coordinate()) {
      if (!mm::try_parse_coordinate_line(line, header_, t)) {
        t = mm::parse_coordinate_line(line, header_);
        mm::check_square_is_finite(t.value);
      }
    } else {
      if (!mm::try_parse_array_line(line, header_, t.value)) {
        t.value = mm::parse_array_line(line, header_);
        mm::check_square_is_finite(t.value);
      }
      t = place_array_value(value_index, t.value);
      emit(t);
      return;
    }
    emit_coordinate(t, emit);
  }

  // A coordinate entry in the factored orientation, and its mirror in a symmetric file.
  template <class Emit>
  void emit_coordinate(Triplet t, Emit&& emit) const {
    if (options_.transpose) std::swap(t.row, t.col);
    emit(t);
    if (header_.symmetry == mm::Symmetry::symmetric && t.row != t.col) emit(Triplet{t.col, t.row, t.value});
  }

  // The entry of the `value_index`-th value of an array file (column-major), in the factored orientation.
  Triplet place_array_value(index_t value_index, double value) const {
    Triplet t{value_index % header_.rows, value_index / header_.rows, value};
    if (options_.transpose) std::swap(t.row, t.col);
    return t;
  }

  // Whether a line carries an entry. Lines that start with a digit do (or are bad); the rest are asked.
  static bool is_data_line(std::string_view line) {
    return (!line.empty() && static_cast<unsigned>(line.front() - '0') < 10u) || mm::is_data_line(line);
  }

  // The entries of one loaded block, passed to emit; `value_index` counts data lines. Stops at the first bad
  // line and returns (its index among this rank's lines, problem); `line_count` counts the lines seen.
  template <class Emit>
  std::optional<std::pair<index_t, std::string>> parse_block(const LineBlock& lines, index_t& line_count,
                                                             index_t& value_index, Emit&& emit) const {
    if (coordinate()) return parse_coordinate_block(lines.text(), line_count, value_index, emit);
    std::optional<std::pair<index_t, std::string>> bad;
    lines.for_each_line([&](std::string_view line) {
      bad = parse_line(line, line_count, value_index, emit);
      return !bad;
    });
    return bad;
  }

  // Coordinate lines straight from the text: the fast parser reads each plain line through its '\n', so the
  // text is not split into lines first; any other line is cut out and taken to parse_line.
  template <class Emit>
  std::optional<std::pair<index_t, std::string>> parse_coordinate_block(std::string_view text, index_t& line_count,
                                                                        index_t& value_index, Emit&& emit) const {
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p < end) {
      Triplet t;
      if (const char* next = mm::try_parse_coordinate_at(p, end, header_, t)) {
        ++line_count;
        ++value_index;
        emit_coordinate(t, emit);
        p = next;
        continue;
      }
      const auto* newline = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      std::string_view line(p, static_cast<std::size_t>((newline ? newline : end) - p));
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (auto bad = parse_line(line, line_count, value_index, emit)) return bad;
      p = newline ? newline + 1 : end;
    }
    return std::nullopt;
  }

  // One line of any kind: its entries (if it has any) passed to emit, or (its index, problem) if it is bad.
  template <class Emit>
  std::optional<std::pair<index_t, std::string>> parse_line(std::string_view line, index_t& line_count,
                                                            index_t& value_index, Emit&& emit) const {
    const index_t line_index = line_count++;
    if (!is_data_line(line)) return std::nullopt;
    try {
      emit_entries(line, value_index, emit);
    } catch (const mm::LineProblem& problem) {
      return std::make_pair(line_index, std::string(problem.what()));
    }
    ++value_index;
    return std::nullopt;
  }

  // Adds the entries to a histogram of nonzeros per bucket of rows (`rows`) or columns. The buckets are
  // hit in random order and the histogram outgrows the caches, so the bucket a few entries ahead is
  // prefetched: the misses overlap instead of following one another.
  static void add_to_histogram(const std::vector<Triplet>& entries, bool rows, const BucketMap& buckets,
                               std::vector<index_t>& histogram) {
    constexpr std::size_t kAhead = 16;
    const auto bucket = [&](std::size_t e) {
      return static_cast<std::size_t>(buckets.bucket_of(rows ? entries[e].row : entries[e].col));
    };
    for (std::size_t e = 0; e < entries.size(); ++e) {
      if (e + kAhead < entries.size()) __builtin_prefetch(&histogram[bucket(e + kAhead)], 1);
      ++histogram[bucket(e)];
    }
  }

  // At least the number of entries `text_bytes` of the file can hold: the shortest data line is "1 1\n" (a
  // coordinate file's, the last one perhaps without its '\n') or "1\n" (an array file's), and a symmetric
  // file adds a mirrored entry per line. Reserving this much costs address space only: pages are not
  // touched until entries fill them. It spares counting the lines first, a pass over the text.
  std::size_t max_entries(std::size_t text_bytes) const {
    const std::size_t lines = text_bytes / (coordinate() ? 4 : 2) + 1;
    return lines * (header_.symmetry == mm::Symmetry::symmetric ? 2 : 1);
  }

  // Pass 1, local only: never throws; failures are recorded for the agreement that follows. Fills the
  // histograms whose bucket maps are given, and keeps the parsed entries while they take at most
  // `keep_bytes`.
  ScanResult scan_range(const MpiFile& file, ByteRange range, const BucketMap* row_buckets,
                        const BucketMap* col_buckets, double keep_bytes) const {
    ScanResult scan;
    if (row_buckets) scan.row_histogram.assign(static_cast<std::size_t>(row_buckets->buckets), 0);
    if (col_buckets) scan.col_histogram.assign(static_cast<std::size_t>(col_buckets->buckets), 0);
    double kept_bytes = 0;
    try {
      LineBlock lines;
      std::vector<Triplet> entries;
      for (index_t b = 0; b < range.block_count(options_.chunk_bytes); ++b) {
        scan.bytes_read += lines.load(file, range.block(b, options_.chunk_bytes), header_.data_offset, file_size_);
        entries.clear();
        if (entries.capacity() == 0) reserve_huge(entries, max_entries(lines.text().size()));
        // Array files: the entries' positions come from the global value index, known only after the scan;
        // route_entries places them.
        auto bad = parse_block(lines, scan.lines, scan.entries, [&](const Triplet& t) { entries.push_back(t); });
        if (bad) {
          scan.bad_line = std::move(bad);
          break;
        }
        if (row_buckets) add_to_histogram(entries, true, *row_buckets, scan.row_histogram);
        if (col_buckets) add_to_histogram(entries, false, *col_buckets, scan.col_histogram);
        if (scan.keeping && kept_bytes + static_cast<double>(entries.size()) * sizeof(Triplet) > keep_bytes) {
          scan.keeping = false;
          TripletChunks().swap(scan.kept);
        }
        if (scan.keeping) {
          kept_bytes += static_cast<double>(entries.size()) * sizeof(Triplet);
          scan.kept.push_back(std::move(entries));
          entries = {};
        }
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
    // An empty histogram (a dimension the grid does not cut) leaves even blocks, the same as balanced ones.
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
  // send nothing in the last rounds but still take part. Each round sends the block's kept entries, or
  // parses the block again if they were not kept.
  TripletChunks route_entries(const ProcessGrid& grid, const MpiFile& file, ByteRange range, const Layout& layout,
                              index_t values_before, ScanResult& scan) const {
    index_t rounds = 0;
    for (int r = 0; r < grid.size(); ++r)
      rounds = std::max(
          rounds, rank_byte_range(header_.data_offset, file_size_, grid.size(), r).block_count(options_.chunk_bytes));
    const index_t row_offset = layout.row_blocks.begin(grid.row());
    const index_t col_offset = layout.col_blocks.begin(grid.col());
    const auto owner = [&layout](const Triplet& t) { return layout.owner_of_entry(t.row, t.col); };

    TripletChunks received;
    RouteBuffers<Triplet> buffers;
    index_t value_index = values_before;
    index_t line_count = 0;
    LineBlock lines;
    for (index_t round = 0; round < rounds; ++round) {
      std::vector<Triplet> outgoing;
      collectively(grid.comm(), [&] {
        if (round >= range.block_count(options_.chunk_bytes)) return;
        if (scan.keeping) {
          outgoing.swap(scan.kept[static_cast<std::size_t>(round)]);
          if (!coordinate())  // one entry per value, in order (array files are never symmetric)
            for (Triplet& t : outgoing) t = place_array_value(value_index++, t.value);
          return;
        }
        scan.bytes_read += lines.load(file, range.block(round, options_.chunk_bytes), header_.data_offset, file_size_);
        const auto bad = parse_block(lines, line_count, value_index, [&](const Triplet& t) { outgoing.push_back(t); });
        NMF_REQUIRE(!bad, Error, "a line that passed the first pass failed the second: " + bad->second);
      });
      std::vector<Triplet> mine = route_records(grid.comm(), outgoing, owner, triplet_datatype().get(), buffers);
      if (row_offset != 0 || col_offset != 0) {
        for (Triplet& t : mine) {
          t.row -= row_offset;
          t.col -= col_offset;
        }
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
