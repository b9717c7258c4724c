#include "id_numbering.hpp"

#include <algorithm>
#include <cstring>

#include "nmf/distribution/collectives.hpp"
#include "sources.hpp"

namespace nmf::detail {

namespace {

std::vector<index_t> integers_of(const std::string& bytes) {
  std::vector<index_t> values(bytes.size() / sizeof(index_t));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), values.size() * sizeof(index_t));
  return values;
}

}  // namespace

std::vector<std::string> exchange_bytes(MPI_Comm comm, std::vector<std::string>& outbox) {
  const int ranks = size_of(comm);
  std::vector<index_t> send_counts(ranks);
  std::string send;
  std::size_t total = 0;
  for (const std::string& bytes : outbox) total += bytes.size();
  send.reserve(total);
  for (int r = 0; r < ranks; ++r) {
    send_counts[r] = static_cast<index_t>(outbox[r].size());
    send += outbox[r];
    std::string().swap(outbox[r]);
  }
  const std::vector<index_t> recv_counts = exchange_counts(comm, send_counts);
  const std::vector<index_t> recv_displs = packed_displacements(recv_counts);
  std::string received(static_cast<std::size_t>(recv_displs.back() + recv_counts.back()), '\0');
  alltoallv(comm, send.data(), send_counts, packed_displacements(send_counts), received.data(), recv_counts,
            recv_displs, MPI_CHAR);
  std::vector<std::string> by_source(ranks);
  for (int r = 0; r < ranks; ++r) by_source[r] = received.substr(recv_displs[r], recv_counts[r]);
  return by_source;
}

void IdNumbering::note(std::string_view id, index_t local_line) {
  auto [it, added] = pending_.try_emplace(id, FirstSeen{0, local_line, 0});
  ++it->second.count;
  (void)added;  // the first line noted is the earliest: lines are noted in order
}

void IdNumbering::send_to_owners(MPI_Comm comm) {
  const int ranks = size_of(comm);
  std::vector<std::string> outbox(ranks);
  for (const auto& [id, seen] : pending_) {
    std::string& out = outbox[owner_of(id, ranks)];
    put(out, id);
    put(out, seen.line);
    put(out, seen.count);
  }
  pending_.clear();
  const std::vector<std::string> inbox = exchange_bytes(comm, outbox);
  for (int source = 0; source < ranks; ++source) {
    RecordReader in(inbox[source]);
    while (!in.done()) {
      const std::string_view id = in.text();
      const FirstSeen seen{source, in.integer(), in.integer()};
      auto [it, added] = owned_.try_emplace(std::string(id), seen);
      if (added) continue;
      FirstSeen& kept = it->second;
      // Lower ranks read earlier lines; within a rank, earlier rounds read earlier lines.
      if (std::make_pair(seen.rank, seen.line) < std::make_pair(kept.rank, kept.line)) {
        kept.rank = seen.rank;
        kept.line = seen.line;
      }
      kept.count += seen.count;
    }
  }
}

index_t IdNumbering::number(MPI_Comm comm) {
  const int ranks = size_of(comm);
  // Owner -> introducer: "you read this id first, on your line L" (and how often it occurs, for the histogram).
  std::vector<std::string> outbox(ranks);
  std::vector<std::vector<const std::string*>> asked(ranks);  // the order of the records, per introducer
  for (const auto& [id, seen] : owned_) {
    put(outbox[seen.rank], id);
    put(outbox[seen.rank], seen.line);
    put(outbox[seen.rank], seen.count);
    asked[seen.rank].push_back(&id);  // keys of an unordered_map stay put
  }
  const std::vector<std::string> inbox = exchange_bytes(comm, outbox);

  // Introducer: its ids in line order get consecutive indices after those of the lower ranks.
  struct Introduced {
    index_t line, count;
    std::string_view id;
    int owner;
    std::size_t position;  // among that owner's records
  };
  std::vector<Introduced> mine;
  std::vector<std::vector<index_t>> replies(ranks);
  for (int owner = 0; owner < ranks; ++owner) {
    RecordReader in(inbox[owner]);
    std::size_t position = 0;
    for (; !in.done(); ++position) {
      const std::string_view id = in.text();
      const index_t line = in.integer(), count = in.integer();
      mine.push_back({line, count, id, owner, position});
    }
    replies[owner].resize(position);
  }
  std::sort(mine.begin(), mine.end(), [](const Introduced& a, const Introduced& b) { return a.line < b.line; });
  first_index_ = exclusive_prefix_sum(comm, static_cast<index_t>(mine.size()));
  introduced_text_.clear();
  introduced_counts_.clear();
  for (std::size_t j = 0; j < mine.size(); ++j) {
    replies[mine[j].owner][mine[j].position] = first_index_ + static_cast<index_t>(j);
    introduced_text_.append(mine[j].id).push_back('\n');
    introduced_counts_.push_back(mine[j].count);
  }
  total_ = static_cast<index_t>(mine.size());
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &total_, 1, MPI_INT64_T, MPI_SUM, comm));

  // Introducer -> owner: the indices, in the order the owner sent the ids.
  std::vector<std::string> answers(ranks);
  for (int owner = 0; owner < ranks; ++owner)
    answers[owner].assign(reinterpret_cast<const char*>(replies[owner].data()),
                          replies[owner].size() * sizeof(index_t));
  const std::vector<std::string> indices = exchange_bytes(comm, answers);
  index_of_.reserve(owned_.size());
  for (int introducer = 0; introducer < ranks; ++introducer) {
    const std::vector<index_t> values = integers_of(indices[introducer]);
    for (std::size_t p = 0; p < values.size(); ++p) index_of_.emplace(*asked[introducer][p], values[p]);
  }
  owned_.clear();
  return total_;
}

std::vector<index_t> IdNumbering::lookup(MPI_Comm comm, const std::vector<std::string_view>& ids) const {
  return lookup_all(comm, {this}, {ids})[0];
}

std::vector<std::vector<index_t>> IdNumbering::lookup_all(MPI_Comm comm,
                                                          const std::vector<const IdNumbering*>& numberings,
                                                          const std::vector<std::vector<std::string_view>>& ids) {
  const int ranks = size_of(comm);
  // Questions: (which numbering, id) records, to each id's owner.
  std::vector<std::string> outbox(ranks);
  std::vector<std::vector<int>> owner(ids.size());
  for (std::size_t d = 0; d < ids.size(); ++d) {
    owner[d].resize(ids[d].size());
    for (std::size_t p = 0; p < ids[d].size(); ++p) {
      owner[d][p] = owner_of(ids[d][p], ranks);
      put(outbox[owner[d][p]], static_cast<index_t>(d));
      put(outbox[owner[d][p]], ids[d][p]);
    }
  }
  const std::vector<std::string> questions = exchange_bytes(comm, outbox);
  std::vector<std::string> answers(ranks);
  for (int source = 0; source < ranks; ++source) {
    RecordReader in(questions[source]);
    while (!in.done()) {
      const IdNumbering& numbering = *numberings[static_cast<std::size_t>(in.integer())];
      const auto found = numbering.index_of_.find(std::string(in.text()));
      put(answers[source], found == numbering.index_of_.end() ? index_t{-1} : found->second);
    }
  }
  const std::vector<std::string> replies = exchange_bytes(comm, answers);
  std::vector<std::vector<index_t>> by_owner(ranks);
  for (int r = 0; r < ranks; ++r) by_owner[r] = integers_of(replies[r]);
  // Each owner answered in the order it was asked: numbering by numbering, id by id.
  std::vector<std::size_t> next(ranks, 0);
  std::vector<std::vector<index_t>> indices(ids.size());
  for (std::size_t d = 0; d < ids.size(); ++d) {
    indices[d].resize(ids[d].size());
    for (std::size_t p = 0; p < ids[d].size(); ++p) indices[d][p] = by_owner[owner[d][p]][next[owner[d][p]]++];
  }
  return indices;
}

std::vector<index_t> IdNumbering::histogram(const BucketMap& buckets) const {
  std::vector<index_t> counts(static_cast<std::size_t>(buckets.buckets), 0);
  for (std::size_t j = 0; j < introduced_counts_.size(); ++j)
    counts[static_cast<std::size_t>(buckets.bucket_of(first_index_ + static_cast<index_t>(j)))] +=
        introduced_counts_[j];
  return counts;
}

}  // namespace nmf::detail
