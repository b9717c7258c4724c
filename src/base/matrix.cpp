#include "nmf/matrix.hpp"

#include <algorithm>
#include <numeric>

namespace nmf {

CompressedMatrix compress_rows(index_t rows, index_t cols, TripletChunks&& chunks, index_t& duplicates) {
  // Counting sort by row (linear time), then sort each row by column and merge equal columns.
  std::vector<index_t> ptr(rows + 1, 0);
  for (const auto& chunk : chunks)
    for (const Triplet& t : chunk) ++ptr[t.row + 1];
  std::partial_sum(ptr.begin(), ptr.end(), ptr.begin());

  std::vector<std::pair<index_t, double>> by_row(ptr.back());
  {
    std::vector<index_t> next(ptr.begin(), ptr.end() - 1);
    for (auto& chunk : chunks) {
      for (const Triplet& t : chunk) by_row[next[t.row]++] = {t.col, t.value};
      std::vector<Triplet>().swap(chunk);
    }
  }

  CompressedMatrix csr;
  csr.rows = rows;
  csr.cols = cols;
  csr.ptr.assign(rows + 1, 0);
  csr.index.reserve(by_row.size());
  csr.values.reserve(by_row.size());
  duplicates = 0;
  for (index_t r = 0; r < rows; ++r) {
    auto first = by_row.begin() + ptr[r];
    auto last = by_row.begin() + ptr[r + 1];
    std::sort(first, last, [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto it = first; it != last; ++it) {
      if (it != first && it->first == csr.index.back()) {
        csr.values.back() += it->second;
        ++duplicates;
      } else {
        csr.index.push_back(it->first);
        csr.values.push_back(it->second);
      }
    }
    csr.ptr[r + 1] = static_cast<index_t>(csr.values.size());
  }
  csr.index.shrink_to_fit();
  csr.values.shrink_to_fit();
  return csr;
}

CompressedMatrix transpose_compressed(const CompressedMatrix& a) {
  CompressedMatrix t;
  t.rows = a.cols;
  t.cols = a.rows;
  t.ptr.assign(t.rows + 1, 0);
  for (index_t c : a.index) ++t.ptr[c + 1];
  std::partial_sum(t.ptr.begin(), t.ptr.end(), t.ptr.begin());
  t.index.resize(a.index.size());
  t.values.resize(a.values.size());
  std::vector<index_t> next(t.ptr.begin(), t.ptr.end() - 1);
  // Walking the rows of `a` in order leaves each row of the transpose sorted.
  for (index_t r = 0; r < a.rows; ++r) {
    for (index_t p = a.ptr[r]; p < a.ptr[r + 1]; ++p) {
      const index_t dest = next[a.index[p]]++;
      t.index[dest] = r;
      t.values[dest] = a.values[p];
    }
  }
  return t;
}

}  // namespace nmf
