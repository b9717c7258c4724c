// Internal to src/io: the concrete input sources and helpers they share.
#pragma once

#include <memory>
#include <string>

#include "nmf/io/input.hpp"

namespace nmf::detail {

std::unique_ptr<InputSource> open_matrix_market(MPI_Comm comm, const ReadOptions& options);
std::unique_ptr<InputSource> open_npy(MPI_Comm comm, const ReadOptions& options);
std::unique_ptr<InputSource> open_ratings(MPI_Comm comm, const ReadOptions& options);

// Throws InputError with the system's reason if `path` is missing, a directory or unreadable.
// Returns the file size in bytes. Local: call on one rank inside nmf::collectively.
index_t check_readable_file(const std::string& path);

// Broadcasts a byte string from `root` (collective).
void broadcast_string(MPI_Comm comm, std::string& text, int root);

// Block boundaries on the grid: balanced by nonzeros (from the global histograms) for sparse storage,
// even for dense storage.
BlockPartition block_partition(Storage storage, index_t total, const std::vector<index_t>& histogram, int parts);

// Exclusive prefix sum over ranks of one value (MPI_Exscan, with rank 0 getting 0).
index_t exclusive_prefix_sum(MPI_Comm comm, index_t value);

// Finishes a distributed matrix: global stats and the description.
DistMatrix finish_matrix(const ProcessGrid& grid, Layout layout, LocalBlock block, index_t local_duplicates,
                         std::string source);

}  // namespace nmf::detail
