// Top-N recommendation lists: for every row i of X (a user), the N columns j (items) with the highest predicted
// score that the row has not rated, best first. The score is the model's prediction,
//   plain NMF:        (A S)_ij
//   with biases:      mean + b_i + c_j + a_i . s_j           (nmf/biases.hpp; the recommender mode)
// With biases the lists are ranked by that unclipped prediction, and the score kept (and written) is the
// prediction clipped to [low, high] as --clip says. Clipping is monotone, so the two orders agree wherever the
// clipped scores differ; ranking by the unclipped one keeps the model's order among the items whose predictions
// all clip to the top of the rating range, instead of falling back to their column order.
// "Rated" means stored in X: the stored entries of a sparse block are the observed ratings (an explicit 0
// included); a dense block cannot tell a stored zero from an unobserved entry, so there its nonzero entries
// count as rated. The recommender mode passes its training ratings instead (the overloads taking a
// CompressedMatrix): its held-out test ratings are not "rated", so that the lists can be scored against them.
//
// Computed by blocks, and no rank ever holds the score matrix: rank (I, J) gathers A's row block I and S's
// column block J (as an iteration does), scores its block's rows against its columns a chunk of rows at a time,
// and keeps a per-row top-N of its own columns. The pc lists of a row (one per rank of the grid row, N
// candidates each) then go, over the grid row, to the rank whose A slice holds the row, which merges them. The
// lists therefore end up in A's slice layout, in row order, and the CSV is written in pieces in that order.
//
// Reproducible: a score is a_i . s_j summed over the k factors in index order (not by BLAS, whose rounding may
// depend on where an entry falls in a block), so it is the same on any grid for the same factors, and ties go
// to the lower column index; the lists are therefore identical at any P.
#pragma once

#include <string>
#include <vector>

#include "nmf/biases.hpp"
#include "nmf/distribution/grid.hpp"
#include "nmf/distribution/layout.hpp"
#include "nmf/factors.hpp"
#include "nmf/io/input.hpp"
#include "nmf/local_block.hpp"

namespace nmf {

class OutputSet;

struct Recommendation {
  double score = 0;
  index_t col = -1;  // global column index (-1: no candidate)
};

// The ranking order: higher score first, then lower column index.
inline bool ranks_before(const Recommendation& a, const Recommendation& b) {
  return a.score > b.score || (a.score == b.score && a.col < b.col);
}

// Local: sorts `candidates` by ranks_before and keeps the first `n` (fewer if there are fewer). Entries with
// col < 0 (padding) are dropped first.
void keep_best(std::vector<Recommendation>& candidates, int n);

// This rank's lists: the rows of its A slice, in order.
struct TopNLists {
  index_t first_row = 0;         // global index of the slice's first row
  std::vector<index_t> offsets;  // rows + 1 offsets into entries
  std::vector<Recommendation> entries;
  index_t rows() const { return static_cast<index_t>(offsets.size()) - 1; }
};

// Score buffer per rank (bytes): a chunk of rows of the block is scored at a time, so that chunk times the
// block's columns times 8 bytes stays below it (at least one row per chunk).
constexpr index_t kTopNScoreBytes = index_t{16} << 20;

// Collective over grid.comm(). `x` is this rank's block of X (its stored entries are the rated ones), `factors`
// this rank's slices, `biases` null for plain NMF (else slices aligned with the factors'). n >= 1. Memory per
// rank beyond the gathered blocks of A and S (k (n_I + m_J) doubles, as an iteration holds): at most
// `score_bytes` of scores, about the same again of candidate lists in flight, and the result (N per row of the
// slice).
TopNLists top_n_lists(const ProcessGrid& grid, const Layout& layout, const LocalBlock& x, const Factors& factors,
                      const Biases* biases, int n, index_t score_bytes = kTopNScoreBytes);

// The same with the rated entries given as a CSR of this rank's block (block-local indices, columns sorted within
// each row): the recommender mode's training ratings (RatingsSplit::train.csr), whose values are not read.
TopNLists top_n_lists(const ProcessGrid& grid, const Layout& layout, const CompressedMatrix& rated,
                      const Factors& factors, const Biases* biases, int n, index_t score_bytes = kTopNScoreBytes);

// Collective over grid.comm(): this rank's piece of PREFIX_topn.csv (rank 0's starts with the header
// "user,rank,item,score"): one line "user,rank,item,score" per entry, rank 1..N. Users and items are their
// original ids when `ids` is given (the input's id maps, pieces held by the same ranks in the same order), else
// 1-based indices. Scores with 17 significant digits. Ids containing a comma or a quote are quoted as in CSV.
std::string top_n_csv_piece(const ProcessGrid& grid, const TopNLists& lists, const IdMaps* ids);

// Collective over grid.comm(): computes the lists and adds `path` to the output set as the file "topn".
void write_top_n(OutputSet& outputs, const std::string& path, const ProcessGrid& grid, const Layout& layout,
                 const LocalBlock& x, const Factors& factors, const Biases* biases, int n, const IdMaps* ids);
void write_top_n(OutputSet& outputs, const std::string& path, const ProcessGrid& grid, const Layout& layout,
                 const CompressedMatrix& rated, const Factors& factors, const Biases* biases, int n, const IdMaps* ids);

}  // namespace nmf
