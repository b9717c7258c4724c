#include "nmf/driver/fold_in.hpp"

#include <climits>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "fold_in_parts.hpp"
#include "input_setup.hpp"
#include "nmf/distribution/collectives.hpp"
#include "nmf/io/id_map.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output_set.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nmf/kernels/products.hpp"
#include "nmf/version.hpp"
#include "report.hpp"

namespace nmf::detail {

FixedS read_fixed_s(MPI_Comm comm, const std::string& path) {
  FixedS fixed;
  fixed.path = path;
  ReadOptions read;
  read.path = path;
  read.transpose = true;  // S^T: the columns of S become rows, split among the ranks
  read.storage = StorageChoice::dense;
  std::unique_ptr<InputSource> source = open_input(comm, read);
  const InputShape shape = source->shape();
  const int ranks = size_of(comm);
  if (source->id_maps() || shape.cols > 100000 || shape.cols < 1)
    NMF_THROW_REPLICATED(ExitCode::bad_input, "--fixed-S " + path + ": expected the k x m factor S of a fit (a " +
                                                  "Matrix Market or .npy file written by nmf_mpi), found " +
                                                  source->description());
  if (shape.rows < ranks)
    NMF_THROW_REPLICATED(ExitCode::usage, "--fixed-S " + path + " has " + std::to_string(shape.rows) +
                                              " columns, fewer than the " + std::to_string(ranks) +
                                              " ranks; run on fewer ranks");
  fixed.m = shape.rows;
  fixed.k = static_cast<int>(shape.cols);
  ProcessGrid grid(comm, GridShape{ranks, 1});
  const DistMatrix st = source->distribute(grid);
  fixed.runs = st.layout.row_blocks;
  fixed.columns.resize(fixed.k, st.block.rows);
  for_each_stored_entry(st.block, [&](index_t j, index_t c, double value) { fixed.columns(c, j) = value; });
  return fixed;
}

DenseMatrix fetch_columns(MPI_Comm comm, const FixedS& fixed, const std::vector<index_t>& wanted) {
  const int ranks = size_of(comm);
  const index_t k = fixed.k;
  std::vector<std::vector<index_t>> asked(static_cast<std::size_t>(ranks)), position(asked.size());
  for (std::size_t p = 0; p < wanted.size(); ++p) {
    if (wanted[p] < 0) continue;
    const int holder = fixed.runs.owner(wanted[p]);
    asked[static_cast<std::size_t>(holder)].push_back(wanted[p]);
    position[static_cast<std::size_t>(holder)].push_back(static_cast<index_t>(p));
  }
  std::vector<index_t> send_counts(static_cast<std::size_t>(ranks)), questions;
  for (int r = 0; r < ranks; ++r) {
    send_counts[r] = static_cast<index_t>(asked[r].size());
    questions.insert(questions.end(), asked[r].begin(), asked[r].end());
  }
  const std::vector<index_t> recv_counts = exchange_counts(comm, send_counts);
  const std::vector<index_t> send_displs = packed_displacements(send_counts);
  const std::vector<index_t> recv_displs = packed_displacements(recv_counts);
  const index_t incoming = recv_displs.back() + recv_counts.back();
  std::vector<index_t> to_answer(static_cast<std::size_t>(incoming));
  alltoallv(comm, questions.data(), send_counts, send_displs, to_answer.data(), recv_counts, recv_displs, MPI_INT64_T);
  const index_t first = fixed.runs.begin(rank_in(comm));
  std::vector<double> answers(static_cast<std::size_t>(incoming * k));
  for (index_t q = 0; q < incoming; ++q)
    std::copy(fixed.columns.col(to_answer[q] - first), fixed.columns.col(to_answer[q] - first) + k,
              answers.begin() + q * k);
  // Back the other way: k doubles per column.
  const auto times_k = [k](std::vector<index_t> v) {
    for (index_t& x : v) x *= k;
    return v;
  };
  std::vector<double> values(questions.size() * static_cast<std::size_t>(k));
  alltoallv(comm, answers.data(), times_k(recv_counts), times_k(recv_displs), values.data(), times_k(send_counts),
            times_k(send_displs), MPI_DOUBLE);
  DenseMatrix out(k, static_cast<index_t>(wanted.size()));
  std::size_t q = 0;
  for (int r = 0; r < ranks; ++r)
    for (const index_t p : position[r]) {
      std::copy(values.begin() + static_cast<std::ptrdiff_t>(q * k),
                values.begin() + static_cast<std::ptrdiff_t>((q + 1) * k), out.col(p));
      ++q;
    }
  return out;
}

std::string fitted_prefix(const Options& o) {
  for (const char* suffix : {"_S.mtx", "_S.npy"}) {
    const std::string tail(suffix);
    if (o.fixed_s.size() > tail.size() && o.fixed_s.compare(o.fixed_s.size() - tail.size(), tail.size(), tail) == 0)
      return o.fixed_s.substr(0, o.fixed_s.size() - tail.size());
  }
  return "";
}

namespace {

// The fit's column id map: --fixed-S-cols, or PREFIX_cols.txt beside a PREFIX_S.mtx / PREFIX_S.npy.
std::string fitted_column_map_path(const Options& o) {
  if (!o.fixed_s_cols.empty()) return o.fixed_s_cols;
  const std::string prefix = fitted_prefix(o);
  return prefix.empty() ? "" : prefix + "_cols.txt";
}

}  // namespace

ColumnMatch match_columns(const Options& o, MPI_Comm comm, const ProcessGrid& grid, const Layout& layout,
                          const IdMaps* ids, const FixedS& fixed) {
  ColumnMatch match;
  const int slice = layout.s_slice_of(grid.row(), grid.col());
  const index_t begin = layout.s_slices.begin(slice), end = layout.s_slices.end(slice);
  if (!ids) {
    if (!o.fixed_s_cols.empty())
      NMF_THROW_REPLICATED(ExitCode::usage, "--fixed-S-cols matches the ids of ratings input; " + o.input +
                                                " has no ids (its columns must be the fit's, in order)");
    if (layout.m != fixed.m)
      NMF_THROW_REPLICATED(ExitCode::bad_input, o.input + " has " + std::to_string(layout.m) + " columns, but S in " +
                                                    fixed.path + " has " + std::to_string(fixed.m) +
                                                    "; the input's columns must be the fit's");
    for (index_t j = begin; j < end; ++j) match.fitted.push_back(j);
    return match;
  }
  match.map_path = fitted_column_map_path(o);
  if (match.map_path.empty() || (o.fixed_s_cols.empty() && !std::filesystem::exists(match.map_path)))
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--fixed-S with ratings input needs the fit's column id map to match "
                         "items by id: give --fixed-S-cols PREFIX_cols.txt" +
                             (match.map_path.empty() ? std::string() : " (" + match.map_path + " does not exist)"));
  DistributedIdMap fitted_map(comm, read_id_map_piece(comm, match.map_path));
  if (fitted_map.size() != fixed.m)
    NMF_THROW_REPLICATED(ExitCode::bad_input, match.map_path + " holds " + std::to_string(fitted_map.size()) +
                                                  " ids, but S in " + fixed.path + " has " + std::to_string(fixed.m) +
                                                  " columns: they are not from the same fit");
  const DistributedIdMap input_map(comm, ids->cols);
  std::vector<index_t> mine;
  for (index_t j = begin; j < end; ++j) mine.push_back(j);
  match.fitted = fitted_map.indices_of(input_map.ids_of(mine));
  return match;
}

std::vector<index_t> column_block_match(const ProcessGrid& grid, const Layout& layout,
                                        const std::vector<index_t>& fitted_slice) {
  std::vector<index_t> counts(static_cast<std::size_t>(grid.shape().rows));
  for (int i = 0; i < grid.shape().rows; ++i) counts[i] = layout.s_slices.size(layout.s_slice_of(i, grid.col()));
  const std::vector<index_t> displs = packed_displacements(counts);
  std::vector<index_t> fitted(static_cast<std::size_t>(displs.back() + counts.back()));
  allgatherv(grid.col_comm(), fitted_slice.data(), fitted.data(), counts, displs, MPI_INT64_T);
  return fitted;
}

double sum_over(MPI_Comm comm, double value) {
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_SUM, comm));
  return value;
}

index_t sum_over(MPI_Comm comm, index_t value) {
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_SUM, comm));
  return value;
}

FoldInInput read_fold_in_input(const Options& o, MPI_Comm world, int k, bool rows_only, MissingEntries missing,
                               double start) {
  FoldInInput in;
  in.source = open_input(world, input_read_options(o, k, missing));
  const InputShape shape = in.source->shape();
  const int ranks = size_of(world);
  const GridShape grid_shape = collectively(world, [&] {
    if (rows_only) {
      NMF_REQUIRE(o.grid == "auto" || parse_grid_shape(o.grid).cols == 1, UsageError,
                  "the recommender fold-in solves each row on one rank: give --grid " + std::to_string(ranks) +
                      "x1 or leave --grid out");
      const GridShape column{ranks, 1};
      validate_grid_shape(column, ranks, shape.rows, shape.cols);
      return column;
    }
    return requested_grid_shape(o.grid, ranks, shape);
  });
  in.grid = std::make_unique<ProcessGrid>(world, grid_shape);
  in.x = in.source->distribute(*in.grid);
  in.read_seconds = MPI_Wtime() - start;
  return in;
}

nlohmann::ordered_json fold_in_summary(const Options& o, MPI_Comm world, const FoldInInput& in, const FixedS& fixed,
                                       const ColumnMatch& match, index_t ignored_columns, index_t ignored_entries) {
  nlohmann::ordered_json summary;
  summary["command"] = o.command_line;
  summary["version"] = NMF_VERSION;
  summary["mode"] = "fold_in";
  summary["input"] = in.source->description();
  summary["transpose"] = o.transpose;
  summary["fixed_S"] = o.fixed_s;
  if (!match.map_path.empty()) summary["fixed_S_cols"] = match.map_path;
  summary["ranks"] = size_of(world);
  summary["grid"] = {in.grid->shape().rows, in.grid->shape().cols};
  summary["n"] = in.x.layout.n;
  summary["m"] = in.x.layout.m;
  summary["m_fit"] = fixed.m;
  summary["nnz"] = in.x.stats.nonzeros;
  summary["storage"] = storage_name(in.x.block.storage);
  summary["k"] = fixed.k;
  summary["columns_ignored"] = ignored_columns;
  summary["entries_ignored"] = ignored_entries;
  return summary;
}

void warn_ignored_columns(const Options& o, bool talk, const ColumnMatch& match, index_t columns, index_t entries) {
  if (talk && columns > 0)
    std::fprintf(stderr,
                 "nmf_mpi: warning: %s: %lld columns (items) with %lld stored entries (ratings) are not in the fit "
                 "(%s) and are ignored\n",
                 o.input.c_str(), static_cast<long long>(columns), static_cast<long long>(entries),
                 match.map_path.c_str());
}

}  // namespace nmf::detail

namespace nmf {

namespace {

using namespace detail;

// Sets the stored entries of X in columns the fit does not have to zero, so that they leave the problem and
// its error. Returns the number of stored entries (ratings) ignored on this rank.
index_t drop_unmatched_columns(const ProcessGrid& grid, const Layout& layout, const std::vector<index_t>& fitted_slice,
                               LocalBlock& block) {
  const std::vector<index_t> fitted = column_block_match(grid, layout, fitted_slice);
  index_t dropped = 0;
  if (block.storage == Storage::dense) {
    for (index_t j = 0; j < block.cols; ++j)
      if (fitted[j] < 0) {
        for (index_t i = 0; i < block.rows; ++i) dropped += block.dense(i, j) != 0.0;
        std::fill(block.dense.col(j), block.dense.col(j) + block.rows, 0.0);
      }
  } else {
    for (std::size_t p = 0; p < block.csr.index.size(); ++p)
      if (fitted[block.csr.index[p]] < 0) {
        block.csr.values[p] = 0.0;
        ++dropped;
      }
    for (index_t j = 0; j < block.cols; ++j)
      if (fitted[j] < 0)
        std::fill(block.csc.values.begin() + block.csc.ptr[j], block.csc.values.begin() + block.csc.ptr[j + 1], 0.0);
  }
  return dropped;
}

double block_norm_sq(const LocalBlock& block) {
  double sum = 0;
  for_each_stored_entry(block, [&](index_t, index_t, double value) { sum += value * value; });
  return sum;
}

// The plain fold-in's result: A for this rank's slice, and what the summary reports.
struct PlainFoldIn {
  DenseMatrix a_t;
  double relative_error = 0, ridge = 0;
  index_t unconverged = 0;
  int pivot_rounds = 0;
};

// Collective: one exact NNLS per row (block principal pivoting), no alternation: a_i = argmin_{a >= 0}
// ||x_i - a S|| over every column of the fit (the fit's columns the input does not mention are zero columns of
// the new X), from S S^T and S X^T for this rank's rows of A: the normal equations of every row's problem.
PlainFoldIn solve_plain(MPI_Comm world, const ProcessGrid& grid, const Layout& layout, const LocalBlock& x,
                        const FixedS& fixed, const DenseMatrix& s_slice, double x_norm_sq) {
  PlainFoldIn out;
  DenseMatrix gram_s;
  gram(fixed.columns, gram_s);
  NMF_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, gram_s.data(), mpi_count(gram_s.size(), "k * k"), MPI_DOUBLE, MPI_SUM, world));
  FactorCollectives collectives;
  std::vector<index_t> a_counts, s_counts;
  for (int j = 0; j < grid.shape().cols; ++j)
    a_counts.push_back(layout.a_slices.size(layout.a_slice_of(grid.row(), j)));
  for (int i = 0; i < grid.shape().rows; ++i)
    s_counts.push_back(layout.s_slices.size(layout.s_slice_of(i, grid.col())));
  DenseMatrix s_colblock, cross_partial, cross;
  collectives.allgather(grid.col_comm(), s_slice, s_counts, s_colblock);
  multiply_s_xt(s_colblock, x, cross_partial);
  collectives.reduce_scatter(grid.row_comm(), cross_partial, a_counts, cross);

  DenseMatrix stabilized = gram_s;
  out.ridge = stabilize_gram(stabilized);
  out.a_t.resize(fixed.k, cross.cols());
  const NnlsStats nnls = nnls_block_principal_pivoting(stabilized, cross, out.a_t);

  // ||X - A S||^2 = ||X||^2 - 2 <A^T, S X^T> + <A^T A, S S^T>.
  DenseMatrix gram_a;
  gram(out.a_t, gram_a);
  NMF_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, gram_a.data(), mpi_count(gram_a.size(), "k * k"), MPI_DOUBLE, MPI_SUM, world));
  const double cross_dot = sum_over(world, frobenius_dot(out.a_t, cross));
  const double residual_sq = std::max(0.0, x_norm_sq - 2 * cross_dot + frobenius_dot(gram_a, gram_s));
  out.relative_error = std::sqrt(residual_sq / x_norm_sq);
  out.unconverged = sum_over(world, nnls.unconverged);
  out.pivot_rounds = nnls.pivot_rounds;
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &out.pivot_rounds, 1, MPI_INT, MPI_MAX, world));
  return out;
}

// The plain fold-in (plain NMF data, or ratings fitted with --missing zero): the new X in the fit's columns, every
// entry the fit does not have an observation of being a zero.
void run_plain_fold_in(const Options& o, MPI_Comm world, const FixedS& fixed, OutputSet* outputs, double start) {
  const bool talk = rank_in(world) == 0 && !o.quiet;
  FoldInInput in = read_fold_in_input(o, world, fixed.k, false, MissingEntries::automatic, start);
  const ProcessGrid& grid = *in.grid;
  const Layout& layout = in.x.layout;
  const IdMaps* ids = in.source->id_maps();

  // The new X in the fit's columns: S's columns for this rank's slice, and the input's other columns dropped.
  const ColumnMatch match = match_columns(o, world, grid, layout, ids, fixed);
  index_t ignored_columns = 0;
  for (const index_t f : match.fitted) ignored_columns += f < 0;
  ignored_columns = sum_over(world, ignored_columns);
  const index_t ignored_entries = sum_over(world, drop_unmatched_columns(grid, layout, match.fitted, in.x.block));
  const double x_norm_sq = sum_over(world, block_norm_sq(in.x.block));
  warn_ignored_columns(o, talk, match, ignored_columns, ignored_entries);
  if (!(x_norm_sq > 0))
    NMF_THROW_REPLICATED(ExitCode::bad_input,
                         o.input + ": every entry on a column of the fit is zero; there is " + "nothing to fold in");
  const PlainFoldIn result =
      solve_plain(world, grid, layout, in.x.block, fixed, fetch_columns(world, fixed, match.fitted), x_norm_sq);
  const double seconds = MPI_Wtime() - start;
  if (talk) {
    std::printf(
        "nmf_mpi %s: fold-in on %d rank%s as a %s grid: A for the %lld rows of %s against the fixed S "
        "(k = %d, %lld columns) of %s\n",
        NMF_VERSION, grid.size(), grid.size() == 1 ? "" : "s", grid.shape().str().c_str(),
        static_cast<long long>(layout.n), in.source->description().c_str(), fixed.k, static_cast<long long>(fixed.m),
        o.fixed_s.c_str());
    std::printf("relative error %.6g over the input's entries on the fit's columns; %.3f s (read %.3f s)\n",
                result.relative_error, seconds, in.read_seconds);
    std::fflush(stdout);
  }
  if (!outputs) return;

  std::optional<LocalFailure> failure;
  try {
    outputs->write_a(grid, layout, result.a_t);
    if (ids) outputs->add_text_pieces(grid.comm(), "row_ids", o.output + "_rows.txt", ids->rows);
    nlohmann::ordered_json summary = fold_in_summary(o, world, in, fixed, match, ignored_columns, ignored_entries);
    summary["relative_error"] = result.relative_error;
    summary["gram_ridge"] = result.ridge;
    summary["nnls"] = {{"pivot_rounds", result.pivot_rounds}, {"unconverged", result.unconverged}};
    summary["seconds"] = seconds;
    summary["read_seconds"] = in.read_seconds;
    summary["peak_rss_mib_per_rank"] = spread_over_ranks(world, peak_rss_mib());
    summary["outputs"] = {{"A", outputs->paths().a}};
    summary["files"] = nlohmann::ordered_json::parse(outputs->files_json());
    outputs->commit(grid.comm(), summary.dump(1) + "\n");
  } catch (const CollectiveError&) {
    failure = describe_current_exception();
  }
  agree_on_failure(world, failure);
  if (talk) std::printf("wrote %s and %s\n", outputs->paths().a.c_str(), outputs->paths().summary.c_str());
}

}  // namespace

void run_fold_in(const Options& o, MPI_Comm world) {
  const double start = MPI_Wtime();
  std::optional<OutputSet> outputs;  // holds the prefix's lock until the run ends
  if (!o.output.empty()) outputs.emplace(world, o.output, parse_output_format(o.output_format));
  const FixedS fixed = read_fixed_s(world, o.fixed_s);
  if (o.k > 0 && o.k != fixed.k)
    NMF_THROW_REPLICATED(ExitCode::usage, "-k " + std::to_string(o.k) +
                                              " does not match the k = " + std::to_string(fixed.k) + " of --fixed-S " +
                                              o.fixed_s + " (leave -k out)");
  const std::string bias_cols = detail::recommender_fold_in_biases(o, world);
  if (!bias_cols.empty())
    return detail::run_recommender_fold_in(o, world, fixed, bias_cols, outputs ? &*outputs : nullptr, start);
  run_plain_fold_in(o, world, fixed, outputs ? &*outputs : nullptr, start);
}

}  // namespace nmf
