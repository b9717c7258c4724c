#include "memory_budget.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "nmf/mpi.hpp"

namespace nmf::detail {

namespace {

std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 8) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

int ranks_on_this_node(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  NMF_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  const Comm owned = Comm::own(node);
  return owned.size();
}

// cgroup v2's limit for this process's group ("max" or absent: none).
double cgroup_memory_limit() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    return std::stod(text);
  } catch (...) {
    return 0;
  }
}

void take_smaller(MemoryBudget& budget, double bytes, const std::string& basis) {
  if (bytes > 0 && (budget.bytes <= 0 || bytes < budget.bytes)) budget = {bytes, basis};
}

void take_rlimit(MemoryBudget& budget, int resource, const char* name) {
  struct rlimit limit {};
  if (::getrlimit(resource, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    take_smaller(budget, static_cast<double>(limit.rlim_cur), std::string("the limit ") + name + " of the process");
}

}  // namespace

MemoryBudget rank_memory_budget(MPI_Comm comm) {
  const int sharing = ranks_on_this_node(comm);
  const std::string shared_by =
      " shared by " + std::to_string(sharing) + " rank" + (sharing == 1 ? "" : "s") + " on this node";
  MemoryBudget budget;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    const double physical = static_cast<double>(pages) * static_cast<double>(page_size);
    take_smaller(budget, physical / sharing, format_bytes(physical) + " of physical memory" + shared_by);
  }
  const double cgroup = cgroup_memory_limit();
  take_smaller(budget, cgroup / sharing, "the cgroup memory limit of " + format_bytes(cgroup) + shared_by);
  take_rlimit(budget, RLIMIT_AS, "RLIMIT_AS");
  take_rlimit(budget, RLIMIT_DATA, "RLIMIT_DATA");
  return budget;
}

double BlockNeeds::bytes() const {
  constexpr double kDouble = sizeof(double), kIndex = sizeof(index_t);
  double block = 0;
  if (storage == Storage::dense) {
    block = static_cast<double>(rows) * static_cast<double>(cols) * kDouble;
  } else {
    // Row and column pointers of the CSR and CSC copies, each entry stored twice (index and value), and
    // the triplets they are assembled from.
    block = (static_cast<double>(rows) + static_cast<double>(cols) + 2) * kIndex +
            entries * (2 * (kIndex + kDouble) + sizeof(Triplet));
  }
  const double factors = (static_cast<double>(a_rows) + static_cast<double>(s_cols)) * factor_rank * kDouble;
  return block + factors;
}

BlockNeeds block_needs(const ProcessGrid& grid, const Layout& layout, Storage storage, index_t entries,
                       index_t factor_rank) {
  BlockNeeds needs;
  needs.rows = layout.row_blocks.size(grid.row());
  needs.cols = layout.col_blocks.size(grid.col());
  needs.storage = storage;
  needs.entries = static_cast<double>(entries) / grid.size();
  needs.a_rows = layout.a_slices.size(layout.a_slice_of(grid.row(), grid.col()));
  needs.s_cols = layout.s_slices.size(layout.s_slice_of(grid.row(), grid.col()));
  needs.factor_rank = factor_rank;
  return needs;
}

void check_block_fits(const ProcessGrid& grid, const BlockNeeds& needs, const MemoryBudget& budget,
                      const std::string& path, index_t n, index_t m) {
  collectively(grid.comm(), [&] {
    const double bytes = needs.bytes();
    if (budget.bytes <= 0 || bytes <= budget.bytes) return;
    std::string what = "its " + std::string(storage_name(needs.storage)) + " block of X (" +
                       std::to_string(needs.rows) + " x " + std::to_string(needs.cols) + ")";
    if (needs.factor_rank > 0)
      what += " and its slices of A and S for k = " + std::to_string(needs.factor_rank) + " (" +
              std::to_string(needs.a_rows) + " rows of A, " + std::to_string(needs.s_cols) + " columns of S)";
    NMF_THROW(InputError, path + ": X is " + std::to_string(n) + " x " + std::to_string(m) + "; rank " +
                              std::to_string(grid.rank()) + " would allocate at least " + format_bytes(bytes) +
                              " for " + what + ", more than the " + format_bytes(budget.bytes) + " one rank can use (" +
                              budget.basis + "); use more ranks or nodes");
  });
}

}  // namespace nmf::detail
