#include "report.hpp"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>

#include "nmf/kernels/dense.hpp"
#include "nmf/version.hpp"

namespace nmf::detail {

namespace {

std::string k_list(const std::vector<int>& values) {
  std::string text;
  for (int k : values) text += (text.empty() ? "" : ",") + std::to_string(k);
  return text;
}

}  // namespace

void print_header(const Options& o, int world_ranks, int groups, const ProcessGrid& grid,
                  const std::string& description, const DistMatrix& x, double read_seconds) {
  const MatrixStats& st = x.stats;
  if (groups == 1)
    std::printf("nmf_mpi %s: %d rank%s as a %s grid\n", NMF_VERSION, grid.size(), grid.size() == 1 ? "" : "s",
                grid.shape().str().c_str());
  else
    std::printf("nmf_mpi %s: %d ranks in %d subgroups of %d, each a %s grid with its own copy of X\n", NMF_VERSION,
                world_ranks, groups, grid.size(), grid.shape().str().c_str());
  std::printf("input: %s%s\n", description.c_str(), o.transpose ? ", transposed" : "");
  std::printf("X: %lld x %lld, %lld nonzeros, %s storage, read in %.3f s; nonzeros per rank min %lld max %lld\n",
              static_cast<long long>(x.layout.n), static_cast<long long>(x.layout.m),
              static_cast<long long>(st.nonzeros), storage_name(x.block.storage), read_seconds,
              static_cast<long long>(st.min_block_nonzeros), static_cast<long long>(st.max_block_nonzeros));
  std::printf("k = %s, algo = %s, seed = %llu, at most %d iterations, tol = %g", k_list(o.k_values).c_str(),
              o.algo.c_str(), static_cast<unsigned long long>(o.seed), o.max_iterations, o.tol);
  if (o.restarts > 1) std::printf(", %d restarts", o.restarts);
  if (o.tol_pg > 0) std::printf(", tol-pg = %g", o.tol_pg);
  if (o.time_limit > 0) std::printf(", time limit %g s", o.time_limit);
  if (o.l1_a > 0 || o.l2_a > 0 || o.l1_s > 0 || o.l2_s > 0)
    std::printf(", penalties l1_A %g l2_A %g l1_S %g l2_S %g", o.l1_a, o.l2_a, o.l1_s, o.l2_s);
  std::printf("\n");
  std::fflush(stdout);
  if (x.stats.duplicates > 0)
    std::fprintf(stderr, "nmf_mpi: warning: %s: %lld duplicate entries were summed\n", o.input.c_str(),
                 static_cast<long long>(x.stats.duplicates));
}

void print_result(const Options& o, const ProcessGrid& grid, const DistMatrix& x, const FactorizationResult& result) {
  const bool talk = grid.rank() == 0 && !o.quiet;
  if (talk) {
    std::printf("stopped after %d iterations (%s): relative error %.6g, %.3f s (%.3g s per iteration)\n",
                result.iterations, result.stop_reason.c_str(), result.relative_error, result.seconds,
                result.iterations > 0 ? result.seconds / result.iterations : 0.0);
    if (!result.init.empty() && result.init != "random" && result.resumed_from.empty())  // not made: resumed
      std::printf("initial factors: %s in %.3f s (randomized SVD %.3f s)\n", result.init.c_str(), result.init_seconds,
                  result.svd_seconds);
    if (result.ridges > 0)
      std::printf("note: a singular or ill-conditioned Gram matrix needed a small diagonal ridge (%d updates)\n",
                  result.ridges);
  }
  if (o.print && !o.quiet) print_small_problem(grid, x, result.factors);
  if (talk && o.print) std::printf("relative error ||X - A S||_F / ||X||_F = %.6g\n", result.relative_error);
  std::fflush(stdout);
}

void ConsoleLogger::on_iteration(const IterationRecord& record) {
  if (!active_) return;
  if (!std::isnan(record.rmse_train)) {  // the recommender mode
    if (record.iteration == 0)
      std::printf("%8s  %-11s  %-11s  %-11s  %-14s  %s\n", "iter", "train RMSE", "test RMSE", "test MAE", "objective",
                  "seconds");
    if (record.iteration % every_ != 0 && record.iteration != 1) return;
    const auto shown = [](double value) {  // "-" without a test set
      char text[32] = "-";
      if (!std::isnan(value)) std::snprintf(text, sizeof text, "%.6f", value);
      return std::string(text);
    };
    std::printf("%8d  %-11.6f  %-11s  %-11s  %-14.8g  %.3f\n", record.iteration, record.rmse_train,
                shown(record.rmse_test).c_str(), shown(record.mae_test).c_str(), record.objective, record.seconds);
    std::fflush(stdout);
    return;
  }
  if (record.iteration == 0)
    std::printf("%8s  %-22s  %-14s  %-11s  %s\n", "iter", "relative error", "objective", "rel. change", "seconds");
  if (record.iteration % every_ != 0 && record.iteration != 1) return;
  std::printf("%8d  %-22.15g  %-14.8g  %-11.3g  %.3f\n", record.iteration, record.relative_error, record.objective,
              record.iteration == 0 ? 0.0 : record.objective_change, record.seconds);
  std::fflush(stdout);
}

namespace {

// Gathers equal-shaped pieces to rank 0 of `comm` (tiny matrices only).
std::vector<double> gather_to_root(MPI_Comm comm, const std::vector<double>& mine) {
  int ranks = 0, rank = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  NMF_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  int count = mpi_count(static_cast<index_t>(mine.size()), "values");
  std::vector<int> counts(static_cast<std::size_t>(ranks)), displs(counts.size(), 0);
  NMF_MPI_CHECK(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm));
  for (std::size_t r = 1; r < counts.size(); ++r) displs[r] = displs[r - 1] + counts[r - 1];
  std::vector<double> all(rank == 0 ? static_cast<std::size_t>(displs.back() + counts.back()) : 0);
  NMF_MPI_CHECK(
      MPI_Gatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0, comm));
  return all;
}

void print_matrix(const char* title, const DenseMatrix& m) {
  std::printf("%s\n", title);
  for (index_t i = 0; i < m.rows(); ++i) {
    std::printf(" [");
    for (index_t j = 0; j < m.cols(); ++j) std::printf("%7.2f", std::abs(m(i, j)) < 0.005 ? 0.0 : m(i, j));
    std::printf(" ]\n");
  }
}

}  // namespace

void print_small_problem(const ProcessGrid& grid, const DistMatrix& x, const Factors& factors) {
  const Layout& layout = x.layout;
  const index_t k = factors.a_t.rows();
  // Every rank sends its block of X (dense, column-major); rank 0 places the blocks by grid position.
  DenseMatrix block(x.block.rows, x.block.cols);
  for_each_stored_entry(x.block, [&](index_t i, index_t j, double value) { block(i, j) = value; });
  const std::vector<double> x_blocks = gather_to_root(grid.comm(), block.values());
  const std::vector<double> a_t_all = gather_to_root(grid.comm(), factors.a_t.values());  // rank order = A order
  const std::vector<double> s_all = gather_to_root(grid.s_order_comm(), factors.s.values());
  if (grid.rank() != 0) return;

  DenseMatrix full_x(layout.n, layout.m);
  std::size_t offset = 0;
  for (int i = 0; i < grid.shape().rows; ++i) {
    for (int j = 0; j < grid.shape().cols; ++j) {
      for (index_t c = 0; c < layout.col_blocks.size(j); ++c)
        for (index_t r = 0; r < layout.row_blocks.size(i); ++r)
          full_x(layout.row_blocks.begin(i) + r, layout.col_blocks.begin(j) + c) = x_blocks[offset++];
    }
  }
  DenseMatrix a_t(k, layout.n), s(k, layout.m), product;
  std::copy(a_t_all.begin(), a_t_all.end(), a_t.values().begin());
  std::copy(s_all.begin(), s_all.end(), s.values().begin());
  DenseMatrix a(layout.n, k);  // A = (A^T)^T
  for (index_t r = 0; r < layout.n; ++r)
    for (index_t c = 0; c < k; ++c) a(r, c) = a_t(c, r);
  multiply(a, s, product);
  print_matrix("X =", full_x);
  print_matrix("A * S (rounded to two decimals) =", product);
  std::fflush(stdout);
}

double peak_rss_mib() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

nlohmann::ordered_json spread_over_ranks(MPI_Comm comm, double value) {
  int ranks = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &ranks));
  double low = 0, high = 0, sum = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&value, &low, 1, MPI_DOUBLE, MPI_MIN, comm));
  NMF_MPI_CHECK(MPI_Allreduce(&value, &high, 1, MPI_DOUBLE, MPI_MAX, comm));
  NMF_MPI_CHECK(MPI_Allreduce(&value, &sum, 1, MPI_DOUBLE, MPI_SUM, comm));
  return {{"min", low}, {"mean", sum / ranks}, {"max", high}};
}

// The options the solver declares, under their summary keys, as numbers or words.
nlohmann::ordered_json solver_options_json(const Options& o) {
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  const SolverParams params{o.k, o.seed, o.solver_options};
  for (const SolverOption& option : find_solver(o.algo).options) {
    if (option.kind == SolverOption::Kind::integer)
      fields[option.summary_key] = params.integer(option.name);
    else if (option.kind == SolverOption::Kind::real)
      fields[option.summary_key] = params.real(option.name);
    else
      fields[option.summary_key] = params.choice(option.name);
  }
  return fields;
}

nlohmann::ordered_json build_summary(const RunFacts& facts) {
  const Options& o = facts.options;
  const FactorizationResult& r = facts.result;
  const MPI_Comm comm = facts.grid.comm();
  using json = nlohmann::ordered_json;

  json history = json::array();
  for (const IterationRecord& record : r.history) {
    json entry = {{"iteration", record.iteration},
                  {"relative_error", record.relative_error},
                  {"objective", record.objective},
                  {"seconds", record.seconds}};
    if (!std::isnan(record.projected_gradient)) entry["projected_gradient"] = record.projected_gradient;
    if (!std::isnan(record.rmse_train)) entry["rmse_train"] = record.rmse_train;
    if (!std::isnan(record.rmse_test)) entry["rmse_test"] = record.rmse_test;
    if (!std::isnan(record.mae_test)) entry["mae_test"] = record.mae_test;
    history.push_back(entry);
  }
  json phases = {{"local_products", spread_over_ranks(comm, r.phases.local_products)},
                 {"gram", spread_over_ranks(comm, r.phases.gram)},
                 {"collectives", spread_over_ranks(comm, r.phases.collectives)},
                 {"update", spread_over_ranks(comm, r.phases.update)},
                 {"evaluation", spread_over_ranks(comm, r.phases.evaluation)}};
  json nnz_per_rank = spread_over_ranks(comm, static_cast<double>(facts.x.block.nonzeros));
  json rss = spread_over_ranks(comm, peak_rss_mib());

  json summary;
  summary["command"] = o.command_line;
  summary["version"] = NMF_VERSION;
  summary["input"] = facts.input_description;
  summary["transpose"] = o.transpose;
  summary["ranks"] = facts.world_ranks;
  summary["groups"] = facts.groups;
  summary["grid"] = {facts.grid.shape().rows, facts.grid.shape().cols};
  summary["n"] = facts.x.layout.n;
  summary["m"] = facts.x.layout.m;
  summary["nnz"] = facts.x.stats.nonzeros;
  summary["storage"] = storage_name(facts.x.block.storage);
  summary["duplicates_summed"] = facts.x.stats.duplicates;
  summary["k"] = o.k;
  summary["algo"] = o.algo;
  summary["seed"] = o.seed;
  summary["init"] = {{"method", r.init},
                     {"seconds", r.init_seconds},
                     {"svd_seconds", r.svd_seconds},
                     {"svd_oversample", o.svd_oversample},
                     {"svd_power", o.svd_power}};
  summary[o.algo] = solver_options_json(o);
  summary["penalties"] = {{"l1_A", o.l1_a}, {"l2_A", o.l2_a}, {"l1_S", o.l1_s}, {"l2_S", o.l2_s}};
  summary["max_iterations"] = o.max_iterations;
  summary["tol"] = o.tol;
  summary["tol_pg"] = o.tol_pg;
  summary["time_limit"] = o.time_limit;
  summary["eval_every"] = o.eval_every;
  summary["iterations"] = r.iterations;
  summary["stop_reason"] = r.stop_reason;
  summary["relative_error"] = r.relative_error;
  summary["objective"] = r.objective;
  summary["seconds"] = facts.total_seconds;
  summary["read_seconds"] = facts.read_seconds;
  summary["read_bytes"] = facts.x.stats.bytes_read;  // of the input file, summed over the ranks that read it
  summary["iteration_seconds"] = r.seconds;
  summary["seconds_per_iteration"] = r.iterations > 0 ? r.seconds / r.iterations : 0.0;
  summary["history"] = history;
  summary["comm_bytes_per_iteration"] = r.comm_bytes_per_iteration;
  summary["comm_bytes_per_iteration_is"] =
      "a model: the bytes bandwidth-optimal collectives move for the counts handed to them (all-gather and "
      "reduce-scatter N minus the own share, all-reduce 2(p-1)/p N), summed over ranks, the failure agreements "
      "included; not measured";
  summary["nnz_per_rank"] = nnz_per_rank;
  summary["phase_seconds"] = phases;
  summary["peak_rss_mib_per_rank"] = rss;
  summary["gram_ridges"] = r.ridges;
  summary["direct_error_evaluations"] = r.direct_error_evaluations;
  summary["outputs"] = {{"A", facts.a_path}, {"S", facts.s_path}};
  for (const auto& [key, value] : facts.extra.items()) summary[key] = value;
  return summary;
}

nlohmann::ordered_json checkpoint_summary(const Options& o, const FactorizationResult& fit) {
  return {{"dir", o.checkpoint_dir},
          {"resumed_from", fit.resumed_from},
          {"last", fit.last_checkpoint},
          {"written", fit.checkpoints_written},
          {"seconds", fit.checkpoint_seconds}};
}

}  // namespace nmf::detail
