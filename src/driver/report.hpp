// Internal to the driver: what a run tells its user (log lines, printed matrices, the summary JSON).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "nmf/driver/factorization.hpp"
#include "nmf/options.hpp"

namespace nmf::detail {

// Prints the progress lines on one rank.
class ConsoleLogger final : public IterationObserver {
 public:
  ConsoleLogger(bool active, int every) : active_(active), every_(every) {}
  void on_iteration(const IterationRecord& record) override;

 private:
  bool active_;
  int every_;
};

// The lines that open a run's log (rank 0 only), and a warning for summed duplicates.
void print_header(const Options& o, int world_ranks, int groups, const ProcessGrid& grid,
                  const std::string& description, const DistMatrix& x, double read_seconds);

// Collective over the grid: the final line of the log and, with --print, X and A S.
void print_result(const Options& o, const ProcessGrid& grid, const DistMatrix& x, const FactorizationResult& result);

// Collective: X and A*S gathered on rank 0 and printed there with two decimals (small matrices only).
void print_small_problem(const ProcessGrid& grid, const DistMatrix& x, const Factors& factors);

// Peak resident set size of this process so far, in MiB.
double peak_rss_mib();

// {min, mean, max} of one value over the ranks of `comm` (collective).
nlohmann::ordered_json spread_over_ranks(MPI_Comm comm, double value);

struct RunFacts {
  const Options& options;
  std::string input_description;
  const ProcessGrid& grid;
  const DistMatrix& x;
  const FactorizationResult& result;
  double read_seconds = 0;
  double total_seconds = 0;
  std::string a_path, s_path;
  int world_ranks = 1;  // all ranks of the run (the grid may be one subgroup's)
  int groups = 1;
  nlohmann::ordered_json extra = {};  // restarts, best_restart, rank_selection: appended as they are
};

// The summary's "checkpoint" object of a fit (with --checkpoint-dir or --resume): directory, where it resumed
// from, the last checkpoint, how many were written and their seconds.
nlohmann::ordered_json checkpoint_summary(const Options& options, const FactorizationResult& fit);

// Collective (the per-rank spreads): the summary written to PREFIX_summary.json.
nlohmann::ordered_json build_summary(const RunFacts& facts);

}  // namespace nmf::detail
