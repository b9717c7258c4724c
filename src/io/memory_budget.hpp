// Internal to src/io: whether a rank can hold its share of X (and of the factors) before it allocates
// any of it. Declared sizes come from a file's header; a header that declares 10^12 rows must give a
// clear error, not std::bad_alloc on some ranks and an aborted job.
#pragma once

#include <string>

#include "nmf/distribution/grid.hpp"
#include "nmf/distribution/layout.hpp"
#include "nmf/local_block.hpp"

namespace nmf::detail {

// What one rank may allocate, and where the figure comes from (for the message).
struct MemoryBudget {
  double bytes = 0;
  std::string basis;
};

// Collective over `comm`: the smallest of this node's physical memory divided by the ranks of `comm`
// on the node (MPI_Comm_split_type), the cgroup memory limit (cgroup v2 memory.max) divided the same
// way, and this process's RLIMIT_AS and RLIMIT_DATA. A bound on what is plainly impossible, not a
// promise that less will fit: other processes, and other subgroups' ranks on the node, use memory too.
MemoryBudget rank_memory_budget(MPI_Comm comm);

// What this rank will allocate for X and the factors, at least.
struct BlockNeeds {
  index_t rows = 0, cols = 0;  // of this rank's block of X
  Storage storage = Storage::sparse;
  double entries = 0;  // stored entries expected in the block (sparse)
  index_t a_rows = 0, s_cols = 0;
  index_t factor_rank = 0;  // 0: the factors are not counted
  double bytes() const;
};

// The needs of this rank for X laid out by `layout`: `entries` stored entries in all of X, spread evenly.
BlockNeeds block_needs(const ProcessGrid& grid, const Layout& layout, Storage storage, index_t entries,
                       index_t factor_rank);

// Collective over grid.comm(): every rank compares its needs with its budget; if any rank's do not fit,
// all throw the same CollectiveError (bad_input) naming `path`, the shape, what would be allocated and
// the budget.
void check_block_fits(const ProcessGrid& grid, const BlockNeeds& needs, const MemoryBudget& budget,
                      const std::string& path, index_t n, index_t m);

}  // namespace nmf::detail
