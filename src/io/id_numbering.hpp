// Internal to src/io: turning arbitrary id strings (users, items) into contiguous indices 0..n-1 in parallel,
// with no rank holding all the ids.
//
// Every id has an owner rank (a hash of its text). While the readers scan their byte ranges, they report each
// id they see with the first line they saw it on; the owner keeps the earliest. Then the owner tells the rank
// that read that earliest line "you introduced this id"; each rank sorts the ids it introduced by line, an
// exclusive scan of their counts gives its first index, and the indices go back to the owners, which answer
// lookups from then on. So the numbering rule is: ids are numbered in the order of their first occurrence in
// the file. Line order is the same on any number of ranks, hence so is the numbering.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nmf/mpi.hpp"
#include "nmf/partition.hpp"

namespace nmf::detail {

// The owner rank of an id: FNV-1a of its text, the same on every rank and every run (std::hash promises neither
// across builds). Shared by the numbering and by DistributedIdMap (src/io/id_map.cpp).
inline int owner_of(std::string_view id, int ranks) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % static_cast<std::uint64_t>(ranks));
}

// Records in an exchange buffer: fixed-size integers and length-prefixed strings.
inline void put(std::string& out, index_t value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}
inline void put(std::string& out, std::string_view text) {
  put(out, static_cast<index_t>(text.size()));
  out.append(text.data(), text.size());
}

// Reads what put() wrote.
class RecordReader {
 public:
  explicit RecordReader(std::string_view bytes) : bytes_(bytes) {}
  bool done() const { return pos_ >= bytes_.size(); }
  index_t integer() {
    index_t value = 0;
    std::memcpy(&value, bytes_.data() + pos_, sizeof value);
    pos_ += sizeof value;
    return value;
  }
  std::string_view text() {
    const auto length = static_cast<std::size_t>(integer());
    const std::string_view view = bytes_.substr(pos_, length);
    pos_ += length;
    return view;
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

// Collective: sends outbox[r] to rank r (outbox is emptied) and returns what every rank sent here, by source.
std::vector<std::string> exchange_bytes(MPI_Comm comm, std::vector<std::string>& outbox);

class IdNumbering {
 public:
  // Local: this rank read `id` on its `local_line`-th line (lines counted from the start of its range).
  // The text of `id` must stay valid until the next send_to_owners (the readers' block of the file does):
  // it is not copied, since note is called twice for every line of the file.
  void note(std::string_view id, index_t local_line);
  // Collective: sends what was noted since the last call to the owners, which keep each id's earliest line.
  void send_to_owners(MPI_Comm comm);
  // Collective: numbers every id by first occurrence. Returns the number of distinct ids.
  index_t number(MPI_Comm comm);

  // Collective: the indices of `ids` (-1 for an id no rank noted), in the same order.
  std::vector<index_t> lookup(MPI_Comm comm, const std::vector<std::string_view>& ids) const;
  // Collective: the same for several numberings at once (ids[d] in *numberings[d]), with one exchange of
  // questions and one of answers for all of them: each exchange is two collectives, which a loaded machine
  // makes wait for the slowest rank.
  static std::vector<std::vector<index_t>> lookup_all(MPI_Comm comm, const std::vector<const IdNumbering*>& numberings,
                                                      const std::vector<std::vector<std::string_view>>& ids);

  index_t total() const { return total_; }
  // The ids this rank introduced, one per line, in index order: its piece of the id-map file. The pieces of
  // ranks 0, 1, ... in order make the whole file (line i is the id of index i).
  const std::string& introduced_text() const { return introduced_text_; }
  // Lines per bucket of indices (this rank's introduced ids only; sum over ranks for the whole histogram).
  std::vector<index_t> histogram(const BucketMap& buckets) const;

 private:
  struct FirstSeen {
    int rank = 0;
    index_t line = 0;  // among that rank's lines
    index_t count = 0;
  };
  std::unordered_map<std::string_view, FirstSeen> pending_;  // noted since the last send (this rank's lines)
  std::unordered_map<std::string, FirstSeen> owned_;         // owner side, during the scan
  std::unordered_map<std::string, index_t> index_of_;        // owner side, after numbering
  std::string introduced_text_;
  index_t first_index_ = 0;
  std::vector<index_t> introduced_counts_;  // lines of each introduced id, in index order
  index_t total_ = 0;
};

}  // namespace nmf::detail
