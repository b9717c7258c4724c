#include "nmf/driver/top_n.hpp"

#include <algorithm>
#include <cstring>

#include "nmf/distribution/collectives.hpp"
#include "nmf/io/id_map.hpp"
#include "nmf/io/matrix_market.hpp"
#include "nmf/io/output_set.hpp"
#include "nmf/kernels/scores.hpp"

namespace nmf {

namespace {

// The sizes of the factor slices that make up this rank's row block of A (over the grid row) and column block
// of S (over the grid column), in the order the row and column communicators hold them.
std::vector<index_t> a_slice_counts(const ProcessGrid& grid, const Layout& layout) {
  std::vector<index_t> counts;
  for (int j = 0; j < grid.shape().cols; ++j) counts.push_back(layout.a_slices.size(layout.a_slice_of(grid.row(), j)));
  return counts;
}

std::vector<index_t> s_slice_counts(const ProcessGrid& grid, const Layout& layout) {
  std::vector<index_t> counts;
  for (int i = 0; i < grid.shape().rows; ++i) counts.push_back(layout.s_slices.size(layout.s_slice_of(i, grid.col())));
  return counts;
}

// A vector of doubles (a bias slice) gathered like a factor slice with k = 1.
std::vector<double> gather_vector(FactorCollectives& collectives, MPI_Comm comm, const std::vector<double>& slice,
                                  const std::vector<index_t>& counts) {
  DenseMatrix mine(1, static_cast<index_t>(slice.size())), all;
  std::copy(slice.begin(), slice.end(), mine.data());
  collectives.allgather(comm, mine, counts, all);
  return all.values();
}

// Keeps the best `n` of a stream of candidates: a heap whose top is the worst kept.
class BestOf {
 public:
  explicit BestOf(int n) : n_(static_cast<std::size_t>(n)) {}
  void clear() { kept_.clear(); }
  void offer(double score, index_t col) {
    const Recommendation candidate{score, col};
    if (kept_.size() < n_) {
      kept_.push_back(candidate);
      std::push_heap(kept_.begin(), kept_.end(), ranks_before);
    } else if (ranks_before(candidate, kept_.front())) {
      std::pop_heap(kept_.begin(), kept_.end(), ranks_before);
      kept_.back() = candidate;
      std::push_heap(kept_.begin(), kept_.end(), ranks_before);
    }
  }
  // The kept candidates best first, padded to n with col = -1.
  void append_sorted(std::vector<Recommendation>& out) {
    std::sort_heap(kept_.begin(), kept_.end(), ranks_before);
    out.insert(out.end(), kept_.begin(), kept_.end());
    out.resize(out.size() + (n_ - kept_.size()));
  }

 private:
  std::size_t n_;
  std::vector<Recommendation> kept_;
};

// What a row has rated, left out of its list: the stored entries of a sparse block or of a rating block (CSR,
// columns sorted within a row), or the nonzero entries of a dense block.
struct RatedView {
  index_t rows = 0, cols = 0;
  const CompressedMatrix* csr = nullptr;  // null: dense
  const DenseMatrix* dense = nullptr;
};

// Offers every unrated column of block row r to `best`, scored by `score_of(j)`.
template <class ScoreOf>
void offer_unrated(const RatedView& rated, index_t r, index_t col_offset, BestOf& best, ScoreOf score_of) {
  if (rated.csr) {
    const index_t* next = rated.csr->index.data() + rated.csr->ptr[r];
    const index_t* end = rated.csr->index.data() + rated.csr->ptr[r + 1];
    for (index_t j = 0; j < rated.cols; ++j) {
      while (next != end && *next < j) ++next;
      if (next != end && *next == j) continue;
      best.offer(score_of(j), col_offset + j);
    }
  } else {
    for (index_t j = 0; j < rated.cols; ++j)
      if ((*rated.dense)(r, j) == 0.0) best.offer(score_of(j), col_offset + j);
  }
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

void keep_best(std::vector<Recommendation>& candidates, int n) {
  candidates.erase(
      std::remove_if(candidates.begin(), candidates.end(), [](const Recommendation& r) { return r.col < 0; }),
      candidates.end());
  const auto keep = std::min(candidates.size(), static_cast<std::size_t>(std::max(n, 0)));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(keep), candidates.end(),
                    ranks_before);
  candidates.resize(keep);
}

namespace {

// What rank (I, J) scores with: A's row block I, S's column block J transposed (factor c of every column
// contiguous, for score_block_rows) and, with biases, the biases of the block's rows and columns.
struct ScoringBlock {
  DenseMatrix a_rowblock;
  std::vector<double> s_rows;
  std::vector<double> row_bias, col_bias;
  std::vector<index_t> a_counts;  // the A slices of the grid row, in order
};

ScoringBlock gather_scoring_block(const ProcessGrid& grid, const Layout& layout, const Factors& factors,
                                  const Biases* biases, index_t cols) {
  ScoringBlock block;
  const index_t k = factors.a_t.rows();
  FactorCollectives collectives;
  block.a_counts = a_slice_counts(grid, layout);
  const std::vector<index_t> s_counts = s_slice_counts(grid, layout);
  DenseMatrix s_colblock;
  collectives.allgather(grid.row_comm(), factors.a_t, block.a_counts, block.a_rowblock);
  collectives.allgather(grid.col_comm(), factors.s, s_counts, s_colblock);
  if (biases) {
    block.row_bias = gather_vector(collectives, grid.row_comm(), biases->rows, block.a_counts);
    block.col_bias = gather_vector(collectives, grid.col_comm(), biases->cols, s_counts);
  }
  block.s_rows.resize(static_cast<std::size_t>(k * cols));
  for (index_t j = 0; j < cols; ++j)
    for (index_t c = 0; c < k; ++c) block.s_rows[static_cast<std::size_t>(c * cols + j)] = s_colblock(c, j);
  return block;
}

// Collective over the grid row: the candidate lists of block rows [r0, r1) (`local`, n per row, padded) go to the
// rank whose A slice holds the row (slice_begin: the slices' first block rows, pc + 1 values), which merges the pc
// lists of each of its rows into `lists`, clipping the kept scores when there are biases.
void merge_chunk(const ProcessGrid& grid, const std::vector<index_t>& slice_begin, index_t r0, index_t r1,
                 const std::vector<Recommendation>& local, int n, const Biases* biases, TopNLists& lists) {
  const int pc = grid.shape().cols;
  const auto nn = static_cast<index_t>(n);
  const index_t own_begin = slice_begin[static_cast<std::size_t>(grid.col())];
  const index_t own_end = slice_begin[static_cast<std::size_t>(grid.col()) + 1];
  std::vector<index_t> send_counts(pc), send_displs(pc), recv_counts(pc), recv_displs(pc);
  const index_t mine_from = std::max(r0, own_begin), mine_to = std::max(mine_from, std::min(r1, own_end));
  const index_t mine = mine_to - mine_from;
  constexpr auto kBytes = static_cast<index_t>(sizeof(Recommendation));
  for (int j = 0; j < pc; ++j) {
    const index_t from = std::max(r0, slice_begin[j]), to = std::max(from, std::min(r1, slice_begin[j + 1]));
    send_counts[j] = (to - from) * nn * kBytes;
    send_displs[j] = (from - r0) * nn * kBytes;
    recv_counts[j] = mine * nn * kBytes;
    recv_displs[j] = j * mine * nn * kBytes;
  }
  std::vector<Recommendation> received(static_cast<std::size_t>(pc * mine * nn)), merged;
  alltoallv(grid.row_comm(), local.data(), send_counts, send_displs, received.data(), recv_counts, recv_displs,
            MPI_BYTE);
  for (index_t r = 0; r < mine; ++r) {
    merged.clear();
    for (int j = 0; j < pc; ++j) {
      const Recommendation* from = received.data() + (j * mine + r) * nn;
      merged.insert(merged.end(), from, from + nn);
    }
    keep_best(merged, n);
    if (biases)  // ranked by the unclipped prediction; the score written is clipped as --clip says
      for (Recommendation& e : merged) e.score = biases->clip(e.score);
    lists.entries.insert(lists.entries.end(), merged.begin(), merged.end());
    lists.offsets.push_back(static_cast<index_t>(lists.entries.size()));
  }
}

TopNLists lists_of_block(const ProcessGrid& grid, const Layout& layout, const RatedView& x, const Factors& factors,
                         const Biases* biases, int n, index_t score_bytes) {
  collectively(grid.comm(), [&] {
    NMF_REQUIRE(n >= 1, UsageError, "--top-n must be at least 1");
    NMF_REQUIRE(!biases || (static_cast<index_t>(biases->rows.size()) == factors.a_t.cols() &&
                            static_cast<index_t>(biases->cols.size()) == factors.s.cols()),
                Error, "internal error: the bias slices are not aligned with the factor slices");
  });
  const int pc = grid.shape().cols;
  const index_t rows = x.rows, cols = x.cols;
  const ScoringBlock block = gather_scoring_block(grid, layout, factors, biases, cols);
  const index_t row_offset = layout.row_blocks.begin(grid.row()), col_offset = layout.col_blocks.begin(grid.col());

  // The chunk of rows: the same on every rank of a grid row (they exchange candidates chunk by chunk), bounded
  // by the widest block anywhere and by the candidate lists in flight (pc lists of n per row).
  index_t widest = cols;
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &widest, 1, MPI_INT64_T, MPI_MAX, grid.comm()));
  const index_t per_row = std::max<index_t>(8 * widest, static_cast<index_t>(sizeof(Recommendation)) * n * pc);
  const index_t chunk = std::max<index_t>(1, score_bytes / std::max<index_t>(1, per_row));

  // Where each rank of the grid row has its slice, in block-local rows.
  std::vector<index_t> slice_begin(static_cast<std::size_t>(pc) + 1, 0);
  for (int j = 0; j < pc; ++j) slice_begin[static_cast<std::size_t>(j) + 1] = slice_begin[j] + block.a_counts[j];

  TopNLists lists;
  lists.first_row = row_offset + slice_begin[static_cast<std::size_t>(grid.col())];
  lists.offsets.push_back(0);
  std::vector<double> scores;
  std::vector<Recommendation> local;
  BestOf best(n);
  for (index_t r0 = 0; r0 < rows; r0 += chunk) {
    const index_t r1 = std::min(rows, r0 + chunk);
    score_block_rows(block.a_rowblock, r0, r1 - r0, block.s_rows, cols, scores);
    local.clear();
    for (index_t r = r0; r < r1; ++r) {
      const double* row_scores = scores.data() + (r - r0) * cols;
      best.clear();
      // With biases, ranked by the unclipped prediction (see the header); clipped in merge_chunk.
      if (biases) {
        const double row_part = biases->mean + block.row_bias[r];
        offer_unrated(x, r, col_offset, best,
                      [&](index_t j) { return (row_part + block.col_bias[j]) + row_scores[j]; });
      } else {
        offer_unrated(x, r, col_offset, best, [&](index_t j) { return row_scores[j]; });
      }
      best.append_sorted(local);
    }
    merge_chunk(grid, slice_begin, r0, r1, local, n, biases, lists);
  }
  return lists;
}

}  // namespace

TopNLists top_n_lists(const ProcessGrid& grid, const Layout& layout, const LocalBlock& x, const Factors& factors,
                      const Biases* biases, int n, index_t score_bytes) {
  RatedView rated{x.rows, x.cols, nullptr, nullptr};
  if (x.storage == Storage::sparse)
    rated.csr = &x.csr;
  else
    rated.dense = &x.dense;
  return lists_of_block(grid, layout, rated, factors, biases, n, score_bytes);
}

TopNLists top_n_lists(const ProcessGrid& grid, const Layout& layout, const CompressedMatrix& rated,
                      const Factors& factors, const Biases* biases, int n, index_t score_bytes) {
  return lists_of_block(grid, layout, RatedView{rated.rows, rated.cols, &rated, nullptr}, factors, biases, n,
                        score_bytes);
}

std::string top_n_csv_piece(const ProcessGrid& grid, const TopNLists& lists, const IdMaps* ids) {
  std::vector<std::string> user_ids, item_ids;
  if (ids) {
    std::vector<index_t> users(static_cast<std::size_t>(lists.rows())), items;
    for (index_t r = 0; r < lists.rows(); ++r) users[static_cast<std::size_t>(r)] = lists.first_row + r;
    for (const Recommendation& e : lists.entries) items.push_back(e.col);
    user_ids = DistributedIdMap(grid.comm(), ids->rows).ids_of(users);
    item_ids = DistributedIdMap(grid.comm(), ids->cols).ids_of(items);
  }
  std::string piece = grid.rank() == 0 ? "user,rank,item,score\n" : "";
  char number[32];
  for (index_t r = 0; r < lists.rows(); ++r) {
    const std::string user =
        ids ? csv_field(user_ids[static_cast<std::size_t>(r)]) : std::to_string(lists.first_row + r + 1);
    for (index_t p = lists.offsets[r]; p < lists.offsets[r + 1]; ++p) {
      const Recommendation& e = lists.entries[static_cast<std::size_t>(p)];
      piece += user;
      piece += ',';
      piece += std::to_string(p - lists.offsets[r] + 1);
      piece += ',';
      piece += ids ? csv_field(item_ids[static_cast<std::size_t>(p)]) : std::to_string(e.col + 1);
      piece += ',';
      piece.append(number, static_cast<std::size_t>(mm::format_value(e.score, number)));
      piece += '\n';
    }
  }
  return piece;
}

void write_top_n(OutputSet& outputs, const std::string& path, const ProcessGrid& grid, const Layout& layout,
                 const LocalBlock& x, const Factors& factors, const Biases* biases, int n, const IdMaps* ids) {
  const TopNLists lists = top_n_lists(grid, layout, x, factors, biases, n);
  outputs.add_text_pieces(grid.comm(), "topn", path, top_n_csv_piece(grid, lists, ids));
}

void write_top_n(OutputSet& outputs, const std::string& path, const ProcessGrid& grid, const Layout& layout,
                 const CompressedMatrix& rated, const Factors& factors, const Biases* biases, int n,
                 const IdMaps* ids) {
  const TopNLists lists = top_n_lists(grid, layout, rated, factors, biases, n);
  outputs.add_text_pieces(grid.comm(), "topn", path, top_n_csv_piece(grid, lists, ids));
}

}  // namespace nmf
