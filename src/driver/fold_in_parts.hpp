// Internal to the driver: the pieces both fold-ins share (nmf/driver/fold_in.hpp): the fixed S read
// distributed, its columns fetched by index, the input read and its columns matched to the fit's.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/io/input.hpp"
#include "nmf/options.hpp"

namespace nmf {
class OutputSet;
}

namespace nmf::detail {

// A k x m matrix of the fit read by runs of its m columns on a P x 1 grid: each rank holds one run. S itself
// (read as S^T) or, with k = 1, the fit's column biases.
struct FixedS {
  std::string path;
  index_t m = 0;  // columns: the columns of the fit
  int k = 0;
  BlockPartition runs;  // which rank holds which columns (P parts of [0, m))
  DenseMatrix columns;  // k x (this rank's run), columns runs.begin(rank) ...
};

// Collective over `comm`: the --fixed-S file.
FixedS read_fixed_s(MPI_Comm comm, const std::string& path);

// Collective over `comm` (the ranks that read `fixed`, in the same order): the columns `wanted` of S (indices
// into the fit's columns; -1 gives a zero column), k x wanted.size(). Each is asked of the rank holding it.
DenseMatrix fetch_columns(MPI_Comm comm, const FixedS& fixed, const std::vector<index_t>& wanted);

// The fit's prefix: --fixed-S without its _S.mtx / _S.npy ending; empty when the file is named otherwise.
std::string fitted_prefix(const Options& o);

// Which column of the fit each column of this rank's S slice is (-1: not in the fit).
struct ColumnMatch {
  std::vector<index_t> fitted;
  std::string map_path;  // the fit's column id map, when matched by id
};

ColumnMatch match_columns(const Options& o, MPI_Comm comm, const ProcessGrid& grid, const Layout& layout,
                          const IdMaps* ids, const FixedS& fixed);

// Collective over the grid column: the match of every column of this rank's column block (the slices of its
// grid column, in order).
std::vector<index_t> column_block_match(const ProcessGrid& grid, const Layout& layout,
                                        const std::vector<index_t>& fitted_slice);

double sum_over(MPI_Comm comm, double value);
index_t sum_over(MPI_Comm comm, index_t value);

// The new input, read onto its grid.
struct FoldInInput {
  std::unique_ptr<InputSource> source;
  std::unique_ptr<ProcessGrid> grid;
  DistMatrix x;
  double read_seconds = 0;
};

// Collective over `world`. `rows_only`: a P x 1 grid (each rank holds whole rows; --grid must be auto or that).
FoldInInput read_fold_in_input(const Options& o, MPI_Comm world, int k, bool rows_only, MissingEntries missing,
                               double start);

// The summary keys every fold-in has (command, mode, input, the fit's files, shapes, k, ignored columns).
nlohmann::ordered_json fold_in_summary(const Options& o, MPI_Comm world, const FoldInInput& in, const FixedS& fixed,
                                       const ColumnMatch& match, index_t ignored_columns, index_t ignored_entries);

// Rank 0 prints the warning about the input's columns that are not in the fit (when there are any).
void warn_ignored_columns(const Options& o, bool talk, const ColumnMatch& match, index_t columns, index_t entries);

// The recommender fold-in (fold_in_recommender.cpp). Collective over `world`: the fit's column-bias file when
// the fold-in is against a recommender fit (--fixed-bias-cols; else PREFIX_bias_cols.mtx beside --fixed-S when it
// exists, unless --missing zero; with --missing unobserved it must exist), else "" (plain NMF's fold-in).
std::string recommender_fold_in_biases(const Options& o, MPI_Comm world);

// Collective over `world`: reads the biases and the input (on a P x 1 grid), solves every row, writes the outputs.
void run_recommender_fold_in(const Options& o, MPI_Comm world, const FixedS& s, const std::string& bias_cols,
                             OutputSet* outputs, double start);

}  // namespace nmf::detail
