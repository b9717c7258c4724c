// The recommender fold-in (nmf/driver/fold_in.hpp): new rows against a fixed recommender model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "fold_in_parts.hpp"
#include "nmf/driver/fold_in.hpp"
#include "nmf/io/id_map.hpp"
#include "nmf/io/output_set.hpp"
#include "nmf/kernels/fold_in_rows.hpp"
#include "nmf/version.hpp"
#include "recommend_run.hpp"
#include "report.hpp"

namespace nmf::detail {

std::string recommender_fold_in_biases(const Options& o, MPI_Comm world) {
  const MissingEntries missing = parse_missing_entries(o.missing);
  if (missing == MissingEntries::zero) return "";  // plain NMF's fold-in, asked for
  if (!o.fixed_bias_cols.empty()) return o.fixed_bias_cols;
  const std::string prefix = fitted_prefix(o);
  const std::string path = prefix.empty() ? "" : prefix + "_bias_cols.mtx";
  int exists = 0;
  if (rank_in(world) == 0 && !path.empty()) {  // one rank looks, so that every rank takes the same branch
    std::error_code error;
    exists = std::filesystem::is_regular_file(path, error) ? 1 : 0;
  }
  NMF_MPI_CHECK(MPI_Bcast(&exists, 1, MPI_INT, 0, world));
  if (exists) return path;
  if (missing == MissingEntries::unobserved)
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--missing unobserved folds in against a recommender fit, whose column biases " +
                             (path.empty() ? std::string("(PREFIX_bias_cols.mtx)") : path) +
                             " are not there: give --fixed-bias-cols FILE");
  return "";
}

namespace {

// The fit's column biases (as a 1 x m FixedS, fetched like S's columns) and global mean.
struct FixedBiases {
  FixedS cols;
  double mean = 0;
};

// One rank's share of a bias file's lines: its values, and what its header lines said.
struct BiasLines {
  std::vector<double> values;
  double mean_sum = 0, means = 0;                  // the "global mean" comments seen (one in a file written by nmf_mpi)
  index_t declared_rows = -1, declared_cols = -1;  // the size line, on the rank holding it
};

// Parses this rank's piece: '%' lines are the banner and comments, the first other line of the whole file
// (`lines_before` non-comment lines come before this piece) the size line, each further one a value.
BiasLines parse_bias_piece(const std::string& piece, index_t lines_before, index_t first_line,
                           const std::string& path) {
  BiasLines out;
  std::istringstream in(piece);
  std::string line;
  index_t number = first_line, data = lines_before;
  for (; std::getline(in, line); ++number) {
    const auto blank = line.find_first_not_of(" \t\r");
    if (blank == std::string::npos) continue;
    if (line[blank] == '%') {
      const auto at = line.find("global mean ");
      if (at != std::string::npos) {
        out.mean_sum += std::strtod(line.c_str() + at + 12, nullptr);
        ++out.means;
      }
      continue;
    }
    std::istringstream fields(line);
    if (data++ == 0) {
      NMF_REQUIRE(fields >> out.declared_rows >> out.declared_cols, InputError,
                  path + ":" + std::to_string(number) + ": expected the size line 'm 1'");
      continue;
    }
    char* end = nullptr;
    const double value = std::strtod(line.c_str() + blank, &end);
    NMF_REQUIRE(end != line.c_str() + blank &&
                    line.find_first_not_of(" \t\r", end - line.c_str()) == std::string::npos && std::isfinite(value),
                InputError, path + ":" + std::to_string(number) + ": '" + line + "' is not a finite number");
    out.values.push_back(value);
  }
  return out;
}

// Collective over `world`. The bias file is read as text in pieces (read_id_map_piece: each rank the lines that
// start in its byte range) rather than by the Matrix Market readers, which refuse the negative values biases have.
FixedBiases read_fixed_biases(MPI_Comm world, const std::string& path, const FixedS& s) {
  const std::string piece = read_id_map_piece(world, path);
  index_t counts[2] = {0, 0};  // lines and non-comment lines of this piece, for the line numbers and the size line
  {
    std::istringstream in(piece);
    std::string line;
    while (std::getline(in, line)) {
      ++counts[0];
      const auto blank = line.find_first_not_of(" \t\r");
      counts[1] += blank != std::string::npos && line[blank] != '%';
    }
  }
  index_t before[2] = {0, 0};
  NMF_MPI_CHECK(MPI_Exscan(counts, before, 2, MPI_INT64_T, MPI_SUM, world));
  if (rank_in(world) == 0) before[0] = before[1] = 0;  // MPI_Exscan leaves rank 0's result undefined
  const BiasLines lines = collectively(world, [&] { return parse_bias_piece(piece, before[1], before[0] + 1, path); });
  double header[4] = {lines.mean_sum, lines.means, static_cast<double>(std::max<index_t>(lines.declared_rows, 0)),
                      static_cast<double>(std::max<index_t>(lines.declared_cols, 0))};
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, header, 4, MPI_DOUBLE, MPI_SUM, world));
  const index_t values = sum_over(world, static_cast<index_t>(lines.values.size()));
  const std::string what = "--fixed-bias-cols " + path + ": expected the column biases of the fit of --fixed-S " +
                           s.path + " (PREFIX_bias_cols.mtx: " + std::to_string(s.m) + " x 1, written by nmf_mpi)";
  if (header[1] != 1 || !std::isfinite(header[0]))
    NMF_THROW_REPLICATED(ExitCode::bad_input, what + ", but its header has no 'global mean' comment");
  if (header[2] != static_cast<double>(s.m) || header[3] != 1 || values != s.m)
    NMF_THROW_REPLICATED(ExitCode::bad_input, what + ", but it declares " + std::to_string(std::llround(header[2])) +
                                                  " x " + std::to_string(std::llround(header[3])) + " and holds " +
                                                  std::to_string(values) + " values");
  FixedBiases out;
  out.mean = header[0];
  out.cols.path = path;
  out.cols.m = s.m;
  out.cols.k = 1;
  std::vector<index_t> offsets(static_cast<std::size_t>(size_of(world)) + 1, 0);
  const index_t mine = static_cast<index_t>(lines.values.size());
  NMF_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT64_T, offsets.data() + 1, 1, MPI_INT64_T, world));
  for (std::size_t r = 1; r < offsets.size(); ++r) offsets[r] += offsets[r - 1];
  out.cols.runs = BlockPartition(offsets);
  out.cols.columns.resize(1, mine);
  std::copy(lines.values.begin(), lines.values.end(), out.cols.columns.data());
  return out;
}

// This rank's rows (its A slice) as fold-in problems: each rating on a column of the fit, with its target
// x - mu - c_j and its place among the fetched columns of S.
struct RowProblems {
  FoldInRatings ratings;
  DenseMatrix columns;  // k x (the fit's columns these rows touch, in index order)
  index_t ignored_entries = 0;
};

RowProblems row_problems(MPI_Comm world, const ProcessGrid& grid, const Layout& layout, const LocalBlock& x,
                         const std::vector<index_t>& block_match, const FixedS& s, const FixedBiases& biases) {
  RowProblems out;
  const int slice = layout.a_slice_of(grid.row(), grid.col());
  const index_t first = layout.a_slices.begin(slice) - layout.row_blocks.begin(grid.row());
  const index_t last = first + layout.a_slices.size(slice);
  std::vector<index_t> touched;
  for (index_t i = first; i < last; ++i)
    for (index_t p = x.csr.ptr[i]; p < x.csr.ptr[i + 1]; ++p)
      if (block_match[x.csr.index[p]] >= 0) touched.push_back(block_match[x.csr.index[p]]);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  out.columns = fetch_columns(world, s, touched);
  const DenseMatrix col_bias = fetch_columns(world, biases.cols, touched);
  for (index_t i = first; i < last; ++i) {
    for (index_t p = x.csr.ptr[i]; p < x.csr.ptr[i + 1]; ++p) {
      const index_t fitted = block_match[x.csr.index[p]];
      if (fitted < 0) {
        ++out.ignored_entries;
        continue;
      }
      const auto at = std::lower_bound(touched.begin(), touched.end(), fitted) - touched.begin();
      out.ratings.column.push_back(at);
      out.ratings.target.push_back(x.csr.values[p] - biases.mean - col_bias(0, at));
    }
    out.ratings.ptr.push_back(static_cast<index_t>(out.ratings.column.size()));
  }
  return out;
}

// What the run reports, summed over the ranks.
struct RecommenderFoldIn {
  DenseMatrix a_t;
  std::vector<double> row_bias;
  double rmse = 0, largest_ridge = 0;
  index_t ratings = 0, cold_rows = 0, ignored_columns = 0, ignored_entries = 0, unconverged = 0;
  int pivot_rounds = 0;
};

RecommenderFoldIn solve_rows(const Options& o, MPI_Comm world, const FoldInInput& in, const ColumnMatch& match,
                             const FixedS& s, const FixedBiases& biases) {
  RecommenderFoldIn out;
  const ProcessGrid& grid = *in.grid;
  const RowProblems problems = row_problems(world, grid, in.x.layout, in.x.block,
                                            column_block_match(grid, in.x.layout, match.fitted), s, biases);
  for (const index_t f : match.fitted) out.ignored_columns += f < 0;
  out.ignored_columns = sum_over(world, out.ignored_columns);
  out.ignored_entries = sum_over(world, problems.ignored_entries);
  out.ratings = sum_over(world, static_cast<index_t>(problems.ratings.column.size()));
  if (out.ratings == 0)
    NMF_THROW_REPLICATED(ExitCode::bad_input, o.input +
                                                  ": no rating is on an item of the fit; there is nothing to "
                                                  "fold in");
  const FoldInStats stats = collectively(world, [&] {
    return fold_in_rows(problems.ratings, problems.columns, o.lambda, o.lambda_bias, o.bias == "on", out.a_t,
                        out.row_bias);
  });
  out.rmse = std::sqrt(sum_over(world, stats.squared_error) / static_cast<double>(out.ratings));
  out.cold_rows = sum_over(world, stats.empty_rows);
  out.unconverged = sum_over(world, stats.nnls.unconverged);
  out.pivot_rounds = stats.nnls.pivot_rounds;
  out.largest_ridge = stats.largest_ridge;
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &out.pivot_rounds, 1, MPI_INT, MPI_MAX, world));
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &out.largest_ridge, 1, MPI_DOUBLE, MPI_MAX, world));
  return out;
}

void write_recommender_fold_in(const Options& o, MPI_Comm world, OutputSet& outputs, const FoldInInput& in,
                               const FixedS& s, const FixedBiases& biases, const ColumnMatch& match,
                               const RecommenderFoldIn& r, double start) {
  const ProcessGrid& grid = *in.grid;
  const std::string bias_rows_path = o.output + "_bias_rows.mtx";
  outputs.write_a(grid, in.x.layout, r.a_t);
  outputs.add_text_pieces(grid.comm(), "bias_rows", bias_rows_path,
                          bias_piece(grid.comm(), r.row_bias, in.x.layout.n, "row", biases.mean));
  if (const IdMaps* ids = in.source->id_maps())
    outputs.add_text_pieces(grid.comm(), "row_ids", o.output + "_rows.txt", ids->rows);
  nlohmann::ordered_json summary = fold_in_summary(o, world, in, s, match, r.ignored_columns, r.ignored_entries);
  summary["recommender"] = {
      {"bias_cols", biases.cols.path}, {"mean", biases.mean},  {"bias", o.bias == "on"},   {"lambda", o.lambda},
      {"lambda_bias", o.lambda_bias},  {"ratings", r.ratings}, {"cold_rows", r.cold_rows}, {"rmse", r.rmse}};
  summary["gram_ridge"] = r.largest_ridge;
  summary["nnls"] = {{"pivot_rounds", r.pivot_rounds}, {"unconverged", r.unconverged}};
  summary["seconds"] = MPI_Wtime() - start;
  summary["read_seconds"] = in.read_seconds;
  summary["peak_rss_mib_per_rank"] = spread_over_ranks(world, peak_rss_mib());
  summary["outputs"] = {{"A", outputs.paths().a}, {"bias_rows", bias_rows_path}};
  summary["files"] = nlohmann::ordered_json::parse(outputs.files_json());
  outputs.commit(grid.comm(), summary.dump(1) + "\n");
}

// Rank 0, talking: a warning when the fit's summary (PREFIX_summary.json beside --fixed-S, if there) records another
// --lambda, --lambda-bias or --bias than this run's, since the fold-in then minimises another loss than the fit's.
// A warning, not an error: folding in with other penalties can be meant.
void warn_if_penalties_differ(const Options& o) {
  const std::string prefix = fitted_prefix(o);
  std::ifstream file(prefix + "_summary.json");
  if (prefix.empty() || !file) return;
  const nlohmann::json summary = nlohmann::json::parse(file, nullptr, false);
  if (summary.is_discarded() || !summary.contains("recommender")) return;
  const nlohmann::json& fit = summary["recommender"];
  const auto number = [&](const char* key, double fallback) {
    return fit.contains(key) && fit[key].is_number() ? fit[key].get<double>() : fallback;
  };
  const bool fit_bias = fit.contains("bias") && fit["bias"].is_boolean() ? fit["bias"].get<bool>() : o.bias == "on";
  const double lambda = number("lambda", o.lambda), lambda_bias = number("lambda_bias", o.lambda_bias);
  if (lambda == o.lambda && lambda_bias == o.lambda_bias && fit_bias == (o.bias == "on")) return;
  std::fprintf(stderr,
               "nmf_mpi: warning: the fit (%s_summary.json) used --lambda %g --lambda-bias %g --bias %s, this fold-in "
               "--lambda %g --lambda-bias %g --bias %s: give the fit's values to fold in under its loss\n",
               prefix.c_str(), lambda, lambda_bias, fit_bias ? "on" : "off", o.lambda, o.lambda_bias, o.bias.c_str());
}

}  // namespace

void run_recommender_fold_in(const Options& o, MPI_Comm world, const FixedS& s, const std::string& bias_cols,
                             OutputSet* outputs, double start) {
  const bool talk = rank_in(world) == 0 && !o.quiet;
  const FixedBiases biases = read_fixed_biases(world, bias_cols, s);
  if (talk) warn_if_penalties_differ(o);
  const FoldInInput in = read_fold_in_input(o, world, s.k, true, MissingEntries::unobserved, start);
  if (in.x.block.storage != Storage::sparse)
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "the recommender fold-in keeps the ratings sparse: drop --storage dense (or fold in as "
                         "plain NMF with --missing zero)");
  const ColumnMatch match = match_columns(o, world, *in.grid, in.x.layout, in.source->id_maps(), s);
  const RecommenderFoldIn result = solve_rows(o, world, in, match, s, biases);
  warn_ignored_columns(o, talk, match, result.ignored_columns, result.ignored_entries);
  if (talk) {
    std::printf(
        "nmf_mpi %s: recommender fold-in on %d rank%s: A >= 0 and the row biases for the %lld rows of %s against "
        "the fixed S (k = %d, %lld columns) of %s, the column biases and mean %.6g of %s (lambda %g, lambda-bias "
        "%g, bias %s)\n",
        NMF_VERSION, in.grid->size(), in.grid->size() == 1 ? "" : "s", static_cast<long long>(in.x.layout.n),
        in.source->description().c_str(), s.k, static_cast<long long>(s.m), o.fixed_s.c_str(), biases.mean,
        bias_cols.c_str(), o.lambda, o.lambda_bias, o.bias.c_str());
    std::printf(
        "RMSE %.6g (unclipped) over the input's %lld ratings on the fit's columns; %lld rows without one "
        "(a = 0, b = 0); %.3f s (read %.3f s)\n",
        result.rmse, static_cast<long long>(result.ratings), static_cast<long long>(result.cold_rows),
        MPI_Wtime() - start, in.read_seconds);
    std::fflush(stdout);
  }
  if (!outputs) return;
  std::optional<LocalFailure> failure;
  try {
    write_recommender_fold_in(o, world, *outputs, in, s, biases, match, result, start);
  } catch (const CollectiveError&) {
    failure = describe_current_exception();
  }
  agree_on_failure(world, failure);
  if (talk)
    std::printf("wrote %s, %s_bias_rows.mtx and %s\n", outputs->paths().a.c_str(), o.output.c_str(),
                outputs->paths().summary.c_str());
}

}  // namespace nmf::detail
