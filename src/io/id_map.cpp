#include "nmf/io/id_map.hpp"

#include <algorithm>
#include <cstring>

#include "id_numbering.hpp"  // exchange_bytes
#include "line_blocks.hpp"
#include "nmf/io/mpi_file.hpp"
#include "sources.hpp"

namespace nmf {

DistributedIdMap::DistributedIdMap(MPI_Comm comm, std::string piece) : comm_(comm), piece_(std::move(piece)) {
  for (std::size_t pos = 0; pos < piece_.size();) {
    const std::size_t newline = piece_.find('\n', pos);
    const std::size_t stop = newline == std::string::npos ? piece_.size() : newline;
    lines_.emplace_back(pos, stop - pos);
    pos = stop + 1;
  }
  const index_t mine = static_cast<index_t>(lines_.size());
  firsts_.resize(static_cast<std::size_t>(size_of(comm)) + 1, 0);
  NMF_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT64_T, firsts_.data() + 1, 1, MPI_INT64_T, comm));
  for (std::size_t r = 1; r < firsts_.size(); ++r) firsts_[r] += firsts_[r - 1];
  first_ = firsts_[static_cast<std::size_t>(rank_in(comm))];
  total_ = firsts_.back();
}

std::vector<std::string> DistributedIdMap::ids_of(const std::vector<index_t>& indices) const {
  const int ranks = size_of(comm_);
  std::vector<std::string> outbox(static_cast<std::size_t>(ranks));
  std::vector<int> holder(indices.size());
  for (std::size_t p = 0; p < indices.size(); ++p) {
    NMF_REQUIRE(indices[p] >= 0 && indices[p] < total_, Error, "internal error: id index out of range");
    holder[p] = static_cast<int>(std::upper_bound(firsts_.begin(), firsts_.end(), indices[p]) - firsts_.begin()) - 1;
    detail::put(outbox[static_cast<std::size_t>(holder[p])], indices[p]);
  }
  const std::vector<std::string> questions = detail::exchange_bytes(comm_, outbox);
  std::vector<std::string> answers(static_cast<std::size_t>(ranks));
  for (int source = 0; source < ranks; ++source) {
    detail::RecordReader in(questions[static_cast<std::size_t>(source)]);
    while (!in.done()) {
      const auto [offset, length] = lines_[static_cast<std::size_t>(in.integer() - first_)];
      detail::put(answers[static_cast<std::size_t>(source)], std::string_view(piece_).substr(offset, length));
    }
  }
  const std::vector<std::string> replies = detail::exchange_bytes(comm_, answers);
  std::vector<detail::RecordReader> from;
  for (const std::string& bytes : replies) from.emplace_back(bytes);
  std::vector<std::string> ids(indices.size());
  for (std::size_t p = 0; p < indices.size(); ++p)
    ids[p] = std::string(from[static_cast<std::size_t>(holder[p])].text());
  return ids;
}

std::vector<index_t> DistributedIdMap::indices_of(const std::vector<std::string>& ids) {
  const int ranks = size_of(comm_);
  if (!hashed_) {  // every line to its id's owner, which keeps the first index of each id
    std::vector<std::string> outbox(static_cast<std::size_t>(ranks));
    for (std::size_t q = 0; q < lines_.size(); ++q) {
      const std::string_view id = std::string_view(piece_).substr(lines_[q].first, lines_[q].second);
      std::string& out = outbox[static_cast<std::size_t>(detail::owner_of(id, ranks))];
      detail::put(out, id);
      detail::put(out, first_ + static_cast<index_t>(q));
    }
    for (const std::string& bytes : detail::exchange_bytes(comm_, outbox)) {
      detail::RecordReader in(bytes);
      while (!in.done()) {
        const std::string_view id = in.text();
        const index_t index = in.integer();
        auto [it, added] = owned_.try_emplace(std::string(id), index);
        if (!added) it->second = std::min(it->second, index);
      }
    }
    hashed_ = true;
  }
  std::vector<std::string> outbox(static_cast<std::size_t>(ranks));
  std::vector<int> owner(ids.size());
  for (std::size_t p = 0; p < ids.size(); ++p) {
    owner[p] = detail::owner_of(ids[p], ranks);
    detail::put(outbox[static_cast<std::size_t>(owner[p])], ids[p]);
  }
  const std::vector<std::string> questions = detail::exchange_bytes(comm_, outbox);
  std::vector<std::string> answers(static_cast<std::size_t>(ranks));
  for (int source = 0; source < ranks; ++source) {
    detail::RecordReader in(questions[static_cast<std::size_t>(source)]);
    while (!in.done()) {
      const auto found = owned_.find(std::string(in.text()));
      detail::put(answers[static_cast<std::size_t>(source)], found == owned_.end() ? index_t{-1} : found->second);
    }
  }
  const std::vector<std::string> replies = detail::exchange_bytes(comm_, answers);
  std::vector<detail::RecordReader> from;
  for (const std::string& bytes : replies) from.emplace_back(bytes);
  std::vector<index_t> indices(ids.size());
  for (std::size_t p = 0; p < ids.size(); ++p) indices[p] = from[static_cast<std::size_t>(owner[p])].integer();
  return indices;
}

std::string read_id_map_piece(MPI_Comm comm, const std::string& path) {
  index_t file_size = 0;
  collectively(comm, [&] {
    if (rank_in(comm) == 0) file_size = detail::check_readable_file(path);
  });
  NMF_MPI_CHECK(MPI_Bcast(&file_size, 1, MPI_INT64_T, 0, comm));
  MpiFile file(comm, path, MPI_MODE_RDONLY);
  std::string piece;
  collectively(comm, [&] {
    const detail::ByteRange range = detail::rank_byte_range(0, file_size, size_of(comm), rank_in(comm));
    if (range.end <= range.begin) return;
    detail::LineBlock block;
    block.load(file, range, 0, file_size);
    block.for_each_line([&](std::string_view line) {
      piece.append(line.data(), line.size()).push_back('\n');
      return true;
    });
  });
  file.close();
  return piece;
}

}  // namespace nmf
