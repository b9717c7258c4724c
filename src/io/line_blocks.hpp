// Internal to the text readers: splitting a file's data bytes among ranks and into bounded blocks, and
// reading exactly the lines that start inside a byte range.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include "nmf/huge_pages.hpp"
#include "nmf/io/mpi_file.hpp"
#include "nmf/partition.hpp"

namespace nmf::detail {

struct ByteRange {
  index_t begin = 0;
  index_t end = 0;
  index_t block_count(index_t chunk) const { return end > begin ? (end - begin + chunk - 1) / chunk : 0; }
  ByteRange block(index_t b, index_t chunk) const {
    return {begin + b * chunk, std::min(end, begin + (b + 1) * chunk)};
  }
};

// Rank r reads the lines that start in the r-th of `ranks` equal byte ranges of [data_begin, file_end).
inline ByteRange rank_byte_range(index_t data_begin, index_t file_end, int ranks, int rank) {
  const BlockPartition split = BlockPartition::even(std::max<index_t>(0, file_end - data_begin), ranks);
  return {data_begin + split.begin(rank), data_begin + split.end(rank)};
}

// The lines of a text file that start inside [range.begin, range.end). Every line of the data region
// starts in exactly one range, so ranks that read adjacent ranges together read every line once.
class LineBlock {
 public:
  // Returns the bytes read from the file.
  index_t load(const MpiFile& file, ByteRange range, index_t data_begin, index_t file_end) {
    // One byte before the range tells whether the range starts at a line start.
    const index_t read_from = range.begin > data_begin ? range.begin - 1 : range.begin;
    // Room for the line that crosses the end too, so completing it does not copy the block; huge pages
    // because the buffer is a whole block of the file (nmf/huge_pages.hpp).
    constexpr index_t kStep = 64 * 1024;
    const auto wanted = static_cast<std::size_t>(range.end - read_from + kStep);
    if (buffer_.capacity() < wanted) {
      std::string().swap(buffer_);
      buffer_.reserve(wanted);
      advise_huge_pages(buffer_.data(), buffer_.capacity());
    }
    buffer_.resize(static_cast<std::size_t>(range.end - read_from));
    file.read_at(read_from, buffer_.data(), range.end - read_from);
    // Complete the line that crosses the end of the range.
    std::string extra;
    while (!buffer_.empty() && buffer_.back() != '\n' && read_from + static_cast<index_t>(buffer_.size()) < file_end) {
      const index_t pos = read_from + static_cast<index_t>(buffer_.size());
      extra.resize(static_cast<std::size_t>(std::min(kStep, file_end - pos)));
      file.read_at(pos, extra.data(), static_cast<index_t>(extra.size()));
      const std::size_t newline = extra.find('\n');
      if (newline != std::string::npos) extra.resize(newline + 1);
      buffer_ += extra;
    }
    const auto range_length = static_cast<std::size_t>(range.end - read_from);
    if (read_from == range.begin) {
      first_ = 0;
    } else if (buffer_[0] == '\n') {
      first_ = 1;
    } else {  // mid-line: the first line of this range starts after the next newline, if still inside it
      const std::size_t newline = buffer_.find('\n');
      first_ = newline != std::string::npos && newline + 1 < range_length ? newline + 1 : std::string::npos;
    }
    return static_cast<index_t>(buffer_.size());
  }

  // At least the number of lines for_each_line visits (for reserving space).
  index_t count_lines() const {
    if (first_ == std::string::npos) return 0;
    return static_cast<index_t>(
               std::count(buffer_.begin() + static_cast<std::ptrdiff_t>(first_), buffer_.end(), '\n')) +
           1;
  }

  // The lines of the range, from the first to the end of the last (its '\n' included, if it has one).
  std::string_view text() const {
    if (first_ == std::string::npos) return {};
    return std::string_view(buffer_).substr(first_);
  }

  // Calls visit(line) for each line in order, without its '\n' or a trailing '\r'.
  template <class Visit>
  void for_each_line(Visit&& visit) const {
    if (first_ == std::string::npos) return;
    std::size_t pos = first_;
    const std::string_view all(buffer_);
    while (pos < all.size()) {
      const std::size_t newline = all.find('\n', pos);
      const std::size_t stop = newline == std::string::npos ? all.size() : newline;
      std::string_view line = all.substr(pos, stop - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!visit(line)) return;
      pos = stop + 1;
    }
  }

 private:
  std::string buffer_;
  std::size_t first_ = std::string::npos;
};

}  // namespace nmf::detail
