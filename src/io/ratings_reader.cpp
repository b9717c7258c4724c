// Parallel reader of rating files (include/nmf/io/ratings.hpp). Like the Matrix Market reader, every rank
// reads the lines that start in its own byte range, in blocks of at most ReadOptions::chunk_bytes:
//  - open (collective): rank 0 reads the first lines and decides the separator and whether there is a
//    header; then every rank scans its range, validating every line and reporting its user and item ids to
//    their owner ranks (IdNumbering), one block per round. Ranks agree on the first bad line; the ids are
//    numbered by first occurrence, which fixes the shape before the grid is chosen.
//  - distribute (collective): parse again; per block, ask the owners for the indices of the ids, and route
//    each rating, with its line number, to the rank owning its block of X (MPI_Alltoallv). A (user, item)
//    pair rated on several lines keeps the rating of the last line (Matrix Market sums duplicates instead).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "id_numbering.hpp"
#include "line_blocks.hpp"
#include "memory_budget.hpp"
#include "nmf/distribution/exchange.hpp"
#include "nmf/io/ratings.hpp"
#include "read_phases.hpp"
#include "sources.hpp"

namespace nmf::detail {

namespace {

constexpr index_t kMaxHistogramBuckets = index_t{1} << 20;

// What rank 0 learns from the head of the file and shares.
struct FileHead {
  index_t file_size = 0;
  index_t data_offset = 0;  // the first byte after the header line, if any
  int header_lines = 0;     // 0 or 1
  ratings::Separator separator = ratings::Separator::whitespace;
};

// Reads the first two lines (without '\n' or a trailing '\r').
std::pair<std::string, std::string> first_two_lines(const std::string& path, index_t& first_line_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string first, second;
  std::getline(in, first);
  first_line_bytes = static_cast<index_t>(first.size()) + (in.eof() ? 0 : 1);
  std::getline(in, second);
  for (std::string* line : {&first, &second})
    if (!line->empty() && line->back() == '\r') line->pop_back();
  return {first, second};
}

// A rating of the file as routed to its block owner: global indices, and its line to keep the last duplicate.
struct Entry {
  index_t row, col, line;
  double value;
};

// Entries travel as their bytes (the ranks run the same build).
const Datatype& entry_datatype() {
  static const Datatype type([] {
    MPI_Datatype bytes = MPI_DATATYPE_NULL;
    NMF_MPI_CHECK(MPI_Type_contiguous(static_cast<int>(sizeof(Entry)), MPI_BYTE, &bytes));
    NMF_MPI_CHECK(MPI_Type_commit(&bytes));
    return bytes;
  }());
  return type;
}

class RatingsSource final : public InputSource {
 public:
  RatingsSource(MPI_Comm comm, const ReadOptions& options) : options_(options) {
    ReadPhases phases(comm);
    read_head(comm);
    phases.mark("head");
    // Kept open for distribute (or the test file's routing): one collective open instead of two.
    file_ = std::make_unique<MpiFile>(comm, options_.path, MPI_MODE_RDONLY);
    phases.mark("open");
    scan(comm, *file_);
    phases.mark("scan");
    const index_t users = users_.number(comm), items = items_.number(comm);
    phases.mark("number");
    shape_.rows = options_.transpose ? items : users;
    shape_.cols = options_.transpose ? users : items;
    shape_.entries = entries_;
    ids_.rows = (options_.transpose ? items_ : users_).introduced_text();
    ids_.cols = (options_.transpose ? users_ : items_).introduced_text();
  }

  const InputShape& shape() const override { return shape_; }
  const IdMaps* id_maps() const override { return &ids_; }

  std::vector<Triplet> read_test_ratings(const ProcessGrid& grid, const Layout& layout,
                                         const std::string& path) override {
    ReadOptions test_options = options_;
    test_options.path = path;
    // The test file is validated and scanned like any ratings file (its own numbering is only a by-product);
    // its ids are then looked up in this file's numbering.
    RatingsSource test(grid.comm(), test_options);
    std::vector<Entry> received = test.route_entries(grid, test.opened_file(grid.comm()), layout, users_, items_, true);
    test.close_file();
    index_t replaced = 0;
    std::vector<Triplet> kept = keep_last_ratings(received, replaced);
    test.warn_about_duplicates(grid.comm(), replaced);
    return kept;
  }

  std::string description() const override {
    return options_.path + " (ratings separated by " + ratings::separator_name(head_.separator) +
           (head_.header_lines ? ", with a header" : "") + "; ids numbered by first occurrence)";
  }

  DistMatrix distribute(const ProcessGrid& grid) override {
    const MPI_Comm comm = grid.comm();
    NMF_REQUIRE(grid.size() == ranks_ && grid.rank() == rank_, UsageError,
                "a ratings file must be distributed on the ranks that opened it, in the same order");
    // The recommender mode's loss covers the stored entries only: they must stay listed (sparse).
    ReadOptions storage_options = options_;
    if (options_.missing != MissingEntries::zero && storage_options.storage == StorageChoice::automatic)
      storage_options.storage = StorageChoice::sparse;
    const Storage storage = choose_storage(shape_, storage_options);
    ReadPhases phases(comm);
    Layout layout = make_layout(grid, storage);
    phases.mark("layout");
    check_block_fits(grid, block_needs(grid, layout, storage, entries_, options_.factor_rank), rank_memory_budget(comm),
                     options_.path, shape_.rows, shape_.cols);
    phases.mark("budget");
    std::vector<Entry> received = route_entries(grid, opened_file(comm), layout, users_, items_, false);
    close_file();
    phases.mark("route");
    index_t replaced = 0;
    TripletChunks chunks;
    chunks.push_back(keep_last_ratings(received, replaced));
    index_t merged = 0;  // none are left to merge
    LocalBlock block = assemble_block(storage, layout.row_blocks.size(grid.row()), layout.col_blocks.size(grid.col()),
                                      std::move(chunks), merged);
    warn_about_duplicates(comm, replaced);
    phases.mark("assemble");
    DistMatrix x = finish_matrix(grid, std::move(layout), std::move(block), 0, description());
    phases.mark("finish");
    return x;
  }

 private:
  ratings::Separator separator() const { return head_.separator; }

  // Collective: the file the constructor opened, or opened again (if it was closed after a first distribute).
  const MpiFile& opened_file(MPI_Comm comm) {
    if (!file_) file_ = std::make_unique<MpiFile>(comm, options_.path, MPI_MODE_RDONLY);
    return *file_;
  }
  // Collective over the ranks that opened the file.
  void close_file() {
    if (file_) file_->close();
    file_.reset();
  }
  bool allow_negative() const { return options_.missing != MissingEntries::zero; }
  index_t line_number(index_t global_line_index) const { return head_.header_lines + 1 + global_line_index; }

  // Collective: rank 0 checks the file and reads its first lines; every rank learns the result.
  void read_head(MPI_Comm comm) {
    rank_ = rank_in(comm);
    ranks_ = size_of(comm);
    collectively(comm, [&] {
      if (rank_ != 0) return;
      head_.file_size = check_readable_file(options_.path);
      if (head_.file_size == 0) NMF_THROW(InputError, options_.path + ":1: the file is empty (no ratings)");
      index_t first_line_bytes = 0;
      auto [first, second] = first_two_lines(options_.path, first_line_bytes);
      ratings::Dialect dialect;
      try {
        dialect = ratings::detect_dialect(first, second);
      } catch (const mm::LineProblem& problem) {
        NMF_THROW(InputError, options_.path + ":1: " + problem.what());
      }
      head_.separator = dialect.separator;
      head_.header_lines = dialect.has_header ? 1 : 0;
      head_.data_offset = dialect.has_header ? first_line_bytes : 0;
      if (dialect.has_header) header_ = first;
    });
    NMF_MPI_CHECK(MPI_Bcast(&head_, sizeof(head_), MPI_BYTE, 0, comm));
    broadcast_string(comm, header_, 0);
  }

  index_t rounds_for_all_ranks() const {
    index_t rounds = 0;
    for (int r = 0; r < ranks_; ++r)
      rounds = std::max(
          rounds, rank_byte_range(head_.data_offset, head_.file_size, ranks_, r).block_count(options_.chunk_bytes));
    return rounds;
  }

  // Collective: validates every line of this rank's range and reports the ids to their owners, block by
  // block. A bad line stops the parsing of this rank (it still takes part in every round); the ranks then
  // agree on the first bad line of the file.
  void scan(MPI_Comm comm, const MpiFile& file) {
    const ByteRange range = rank_byte_range(head_.data_offset, head_.file_size, ranks_, rank_);
    index_t lines = 0;
    std::optional<std::pair<index_t, std::string>> bad_line;
    std::optional<LocalFailure> failure;
    LineBlock block;
    for (index_t round = 0; round < rounds_for_all_ranks(); ++round) {
      if (round < range.block_count(options_.chunk_bytes) && !bad_line && !failure) {
        try {
          block.load(file, range.block(round, options_.chunk_bytes), head_.data_offset, head_.file_size);
          block.for_each_line([&](std::string_view line) {
            const index_t index = lines++;
            if (ratings::is_blank(line)) return true;
            try {
              const ratings::Rating rating = ratings::parse_line(line, separator(), header_, allow_negative());
              users_.note(rating.user, index);
              items_.note(rating.item, index);
              ++entries_;
            } catch (const mm::LineProblem& problem) {
              bad_line.emplace(index, problem.what());
              return false;
            }
            return true;
          });
        } catch (...) {
          failure = describe_current_exception();
        }
      }
      users_.send_to_owners(comm);
      items_.send_to_owners(comm);
    }
    lines_before_ = exclusive_prefix_sum(comm, lines);
    collectively(comm, [&] {
      if (failure) throw Error(failure->message, __FILE__, __LINE__, failure->code);
      if (bad_line)
        NMF_THROW(InputError, options_.path + ":" + std::to_string(line_number(lines_before_ + bad_line->first)) +
                                  ": " + bad_line->second);
    });
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &entries_, 1, MPI_INT64_T, MPI_SUM, comm));
    if (entries_ == 0)
      NMF_THROW_REPLICATED(ExitCode::bad_input, options_.path + ":" + std::to_string(head_.header_lines + 1) +
                                                    ": no ratings in the file" +
                                                    (head_.header_lines ? " after its header" : ""));
  }

  // Sparse blocks are cut so that the ratings are balanced, from the lines per id counted in the scan.
  Layout make_layout(const ProcessGrid& grid, Storage storage) const {
    std::vector<index_t> row_histogram, col_histogram;
    if (storage == Storage::sparse) {
      const IdNumbering& rows = options_.transpose ? items_ : users_;
      const IdNumbering& cols = options_.transpose ? users_ : items_;
      row_histogram = rows.histogram(BucketMap(shape_.rows, kMaxHistogramBuckets));
      col_histogram = cols.histogram(BucketMap(shape_.cols, kMaxHistogramBuckets));
      for (auto* histogram : {&row_histogram, &col_histogram})
        NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, histogram->data(), mpi_count(histogram->size(), "histogram"),
                                    MPI_INT64_T, MPI_SUM, grid.comm()));
    }
    return Layout(shape_.rows, shape_.cols, grid.shape(),
                  block_partition(storage, shape_.rows, row_histogram, grid.shape().rows),
                  block_partition(storage, shape_.cols, col_histogram, grid.shape().cols));
  }

  // Collective: one round per block of the largest range. The lines were validated by the scan. The ids are
  // numbered by `users` and `items` (this file's own, or a training file's for a test file: then an id they do
  // not know, with `unknown_allowed`, becomes -1 and its rating goes to block 0 of that dimension).
  std::vector<Entry> route_entries(const ProcessGrid& grid, const MpiFile& file, const Layout& layout,
                                   const IdNumbering& users, const IdNumbering& items, bool unknown_allowed) const {
    const MPI_Comm comm = grid.comm();
    const ByteRange range = rank_byte_range(head_.data_offset, head_.file_size, ranks_, rank_);
    const index_t row_offset = layout.row_blocks.begin(grid.row());
    const index_t col_offset = layout.col_blocks.begin(grid.col());
    std::vector<Entry> received;
    index_t line_index = lines_before_;
    LineBlock block;
    for (index_t round = 0; round < rounds_for_all_ranks(); ++round) {
      std::vector<ratings::Rating> parsed;
      std::vector<index_t> lines;
      collectively(comm, [&] {
        if (round >= range.block_count(options_.chunk_bytes)) return;
        block.load(file, range.block(round, options_.chunk_bytes), head_.data_offset, head_.file_size);
        // Sized once: growing them line by line copied the block's ratings several times over.
        parsed.reserve(static_cast<std::size_t>(block.count_lines()));
        lines.reserve(parsed.capacity());
        block.for_each_line([&](std::string_view line) {
          const index_t index = line_index++;
          if (ratings::is_blank(line)) return true;
          parsed.push_back(ratings::parse_line(line, separator(), header_, allow_negative()));
          lines.push_back(index);
          return true;
        });
      });
      const auto [user_index, item_index] = indices_of(comm, users, items, parsed, unknown_allowed);
      std::vector<Entry> outgoing(parsed.size());
      for (std::size_t p = 0; p < parsed.size(); ++p) {
        outgoing[p] = Entry{user_index[p], item_index[p], lines[p], parsed[p].value};
        if (options_.transpose) std::swap(outgoing[p].row, outgoing[p].col);
      }
      const auto owner = [&layout](const Entry& e) {
        return layout.owner_of_entry(std::max<index_t>(e.row, 0), std::max<index_t>(e.col, 0));
      };
      std::vector<Entry> mine = route_records(comm, outgoing, owner, entry_datatype().get());
      for (Entry& e : mine) {
        if (e.row >= 0) e.row -= row_offset;
        if (e.col >= 0) e.col -= col_offset;
      }
      if (received.empty())
        received.swap(mine);
      else
        received.insert(received.end(), mine.begin(), mine.end());
    }
    return received;
  }

  // Collective: the indices of the user and the item ids of each rating, asking each distinct id once, both
  // numberings in one lookup.
  static std::pair<std::vector<index_t>, std::vector<index_t>> indices_of(MPI_Comm comm, const IdNumbering& users,
                                                                          const IdNumbering& items,
                                                                          const std::vector<ratings::Rating>& parsed,
                                                                          bool unknown_allowed) {
    constexpr std::string_view ratings::Rating::*kFields[2] = {&ratings::Rating::user, &ratings::Rating::item};
    std::unordered_map<std::string_view, std::size_t> slot[2];
    std::vector<std::vector<std::string_view>> distinct(2);
    for (int d = 0; d < 2; ++d)
      for (const ratings::Rating& r : parsed)
        if (slot[d].try_emplace(r.*kFields[d], distinct[d].size()).second) distinct[d].push_back(r.*kFields[d]);
    const std::vector<std::vector<index_t>> found = IdNumbering::lookup_all(comm, {&users, &items}, distinct);
    std::vector<index_t> indices[2];
    for (int d = 0; d < 2; ++d) {
      indices[d].resize(parsed.size());
      for (std::size_t p = 0; p < parsed.size(); ++p) {
        indices[d][p] = found[d][slot[d][parsed[p].*kFields[d]]];
        NMF_REQUIRE(indices[d][p] >= 0 || unknown_allowed, Error,
                    "internal error: an id of the ratings file was not numbered");
      }
    }
    return {std::move(indices[0]), std::move(indices[1])};
  }

  // Local: of the ratings of one (row, col), keeps the one from the last line. Returns block-local triplets
  // and counts the ratings replaced.
  static std::vector<Triplet> keep_last_ratings(std::vector<Entry>& entries, index_t& replaced) {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.row, a.col, a.line) < std::tie(b.row, b.col, b.line);
    });
    std::vector<Triplet> kept;
    kept.reserve(entries.size());
    for (std::size_t q = 0; q < entries.size(); ++q) {
      // An index of -1 (a test rating's id unknown to the training file) stands for many ids: never merged.
      const bool superseded = q + 1 < entries.size() && entries[q].row >= 0 && entries[q].col >= 0 &&
                              entries[q + 1].row == entries[q].row && entries[q + 1].col == entries[q].col;
      if (superseded)
        ++replaced;
      else
        kept.push_back({entries[q].row, entries[q].col, entries[q].value});
    }
    std::vector<Entry>().swap(entries);
    return kept;
  }

  // Collective: one warning (from rank 0) with the number of ratings replaced by a later one.
  void warn_about_duplicates(MPI_Comm comm, index_t replaced) const {
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &replaced, 1, MPI_INT64_T, MPI_SUM, comm));
    if (replaced > 0 && rank_ == 0)
      std::fprintf(stderr,
                   "nmf_mpi: warning: %s: %lld duplicate (user, item) ratings; the last one (by line) of each "
                   "pair is kept\n",
                   options_.path.c_str(), static_cast<long long>(replaced));
  }

  ReadOptions options_;
  FileHead head_;
  std::string header_;  // the header line, if the file has one
  int rank_ = 0, ranks_ = 1;
  index_t lines_before_ = 0;  // lines of the data region in the ranges of lower ranks
  index_t entries_ = 0;       // ratings in the file (all ranks, after the scan)
  IdNumbering users_, items_;
  std::unique_ptr<MpiFile> file_;  // open from the constructor to the end of the routing
  IdMaps ids_;
  InputShape shape_;
};

}  // namespace

std::unique_ptr<InputSource> open_ratings(MPI_Comm comm, const ReadOptions& options) {
  return std::make_unique<RatingsSource>(comm, options);
}

}  // namespace nmf::detail
