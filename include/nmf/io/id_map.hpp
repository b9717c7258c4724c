// An id map (line i holds the original id of index i) held in pieces, one per rank, never whole on one rank:
// the pieces of IdMaps (nmf/io/input.hpp) for the input being factored, or a PREFIX_cols.txt of an earlier run
// read back with read_id_map_piece. It answers the two questions top-N lists and fold-in ask of it: the ids of
// some indices, and the indices of some ids.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nmf/mpi.hpp"
#include "nmf/types.hpp"

namespace nmf {

class DistributedIdMap {
 public:
  // Collective over `comm`: `piece` is this rank's lines ("id\n" each); the pieces of ranks 0, 1, ... in order
  // make the whole map.
  DistributedIdMap(MPI_Comm comm, std::string piece);

  index_t size() const { return total_; }
  // The index of this rank's first line.
  index_t first() const { return first_; }

  // Collective: the ids of `indices` (each in [0, size())), in the same order. Each is asked of the rank
  // holding its line.
  std::vector<std::string> ids_of(const std::vector<index_t>& indices) const;

  // Collective: the index of each of `ids` in this map, or -1 for an id it does not hold. The first call
  // sends every id to an owner rank chosen by a hash of its text (so no rank holds all of them); the owners
  // answer. An id on several lines maps to its first line.
  std::vector<index_t> indices_of(const std::vector<std::string>& ids);

 private:
  MPI_Comm comm_;
  std::string piece_;
  std::vector<std::pair<std::size_t, std::size_t>> lines_;  // (offset, length) of each line in piece_
  std::vector<index_t> firsts_;                             // first index of every rank's piece, and the total last
  index_t first_ = 0, total_ = 0;
  bool hashed_ = false;
  std::unordered_map<std::string, index_t> owned_;  // ids whose hash owner is this rank
};

// Collective over `comm`: reads a map file written by nmf_mpi (one id per line) in pieces, each rank the lines
// that start in its own byte range. Throws CollectiveError (InputError) naming the file if it cannot be read.
std::string read_id_map_piece(MPI_Comm comm, const std::string& path);

}  // namespace nmf
