#include "report.hpp"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>

#include "nmf/kernels/dense.hpp"
#include "nmf/version.hpp"

namespace nmf::detail {

void ConsoleLogger::on_iteration(const IterationRecord& record) {
  if (!active_) return;
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
  summary["inner"] = o.inner;
  if (o.algo == "kaczmarz")
    summary["kaczmarz"] = {{"steps", o.kaczmarz_steps},
                           {"block", o.kaczmarz_block},
                           {"sampling", o.kaczmarz_sampling},
                           {"relaxation", o.kaczmarz_relaxation}};
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
  summary["iteration_seconds"] = r.seconds;
  summary["seconds_per_iteration"] = r.iterations > 0 ? r.seconds / r.iterations : 0.0;
  summary["history"] = history;
  summary["comm_bytes_per_iteration"] = r.comm_bytes_per_iteration;
  summary["nnz_per_rank"] = nnz_per_rank;
  summary["phase_seconds"] = phases;
  summary["peak_rss_mib_per_rank"] = rss;
  summary["gram_ridges"] = r.ridges;
  summary["direct_error_evaluations"] = r.direct_error_evaluations;
  summary["outputs"] = {{"A", facts.a_path}, {"S", facts.s_path}};
  for (const auto& [key, value] : facts.extra.items()) summary[key] = value;
  return summary;
}

}  // namespace nmf::detail
