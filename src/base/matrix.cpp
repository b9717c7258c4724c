#include "nmf/matrix.hpp"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "nmf/huge_pages.hpp"

namespace nmf {

namespace {

// Sorts the entries [first, last) of one row by column, stably (duplicates keep the order they arrived in,
// so their sum is the same on every run). Rows are short in NMF data: insertion sort in place, or a sort of
// (column, value) pairs for the rare long row.
void sort_row(index_t* index, double* values, index_t count, std::vector<std::pair<index_t, double>>& scratch) {
  if (count <= 32) {
    for (index_t i = 1; i < count; ++i) {
      const index_t column = index[i];
      const double value = values[i];
      index_t j = i;
      for (; j > 0 && index[j - 1] > column; --j) {
        index[j] = index[j - 1];
        values[j] = values[j - 1];
      }
      index[j] = column;
      values[j] = value;
    }
    return;
  }
  scratch.resize(static_cast<std::size_t>(count));
  for (index_t i = 0; i < count; ++i) scratch[static_cast<std::size_t>(i)] = {index[i], values[i]};
  std::stable_sort(scratch.begin(), scratch.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (index_t i = 0; i < count; ++i) std::tie(index[i], values[i]) = scratch[static_cast<std::size_t>(i)];
}

}  // namespace

CompressedMatrix compress_rows(index_t rows, index_t cols, TripletChunks&& chunks, index_t& duplicates) {
  // Counting sort by row (linear time) straight into the arrays of the result, then each row sorted by
  // column and equal columns merged in place.
  CompressedMatrix csr;
  csr.rows = rows;
  csr.cols = cols;
  reserve_huge(csr.ptr, static_cast<std::size_t>(rows + 1));
  csr.ptr.assign(static_cast<std::size_t>(rows + 1), 0);
  // Entries come in file order, so both passes hit rows at random in arrays larger than the caches: the
  // row a few entries ahead is prefetched, and the misses overlap instead of following one another.
  constexpr std::size_t kAhead = 16;
  for (const auto& chunk : chunks) {
    for (std::size_t e = 0; e < chunk.size(); ++e) {
      if (e + kAhead < chunk.size())
        __builtin_prefetch(&csr.ptr[static_cast<std::size_t>(chunk[e + kAhead].row + 1)], 1);
      ++csr.ptr[static_cast<std::size_t>(chunk[e].row + 1)];
    }
  }
  std::partial_sum(csr.ptr.begin(), csr.ptr.end(), csr.ptr.begin());
  const auto total = static_cast<std::size_t>(csr.ptr.back());
  reserve_huge(csr.index, total);
  reserve_huge(csr.values, total);
  csr.index.resize(total);
  csr.values.resize(total);
  {
    std::vector<index_t> next;
    reserve_huge(next, static_cast<std::size_t>(rows));
    next.assign(csr.ptr.begin(), csr.ptr.end() - 1);
    for (auto& chunk : chunks) {
      for (std::size_t e = 0; e < chunk.size(); ++e) {
        if (e + kAhead < chunk.size()) __builtin_prefetch(&next[static_cast<std::size_t>(chunk[e + kAhead].row)], 1);
        if (e + kAhead / 2 < chunk.size()) {
          const auto ahead = static_cast<std::size_t>(next[static_cast<std::size_t>(chunk[e + kAhead / 2].row)]);
          __builtin_prefetch(csr.index.data() + ahead, 1);  // one past the end at most
          __builtin_prefetch(csr.values.data() + ahead, 1);
        }
        const Triplet& t = chunk[e];
        const auto at = static_cast<std::size_t>(next[static_cast<std::size_t>(t.row)]++);
        csr.index[at] = t.col;
        csr.values[at] = t.value;
      }
      std::vector<Triplet>().swap(chunk);
    }
  }

  duplicates = 0;
  std::vector<std::pair<index_t, double>> scratch;
  index_t kept = 0;  // entries kept so far (merging duplicates moves later rows down)
  for (index_t r = 0; r < rows; ++r) {
    const index_t first = csr.ptr[static_cast<std::size_t>(r)], last = csr.ptr[static_cast<std::size_t>(r) + 1];
    sort_row(csr.index.data() + first, csr.values.data() + first, last - first, scratch);
    const index_t row_start = kept;
    for (index_t p = first; p < last; ++p) {
      if (kept > row_start && csr.index[static_cast<std::size_t>(p)] == csr.index[static_cast<std::size_t>(kept - 1)]) {
        csr.values[static_cast<std::size_t>(kept - 1)] += csr.values[static_cast<std::size_t>(p)];
        ++duplicates;
      } else {
        csr.index[static_cast<std::size_t>(kept)] = csr.index[static_cast<std::size_t>(p)];
        csr.values[static_cast<std::size_t>(kept)] = csr.values[static_cast<std::size_t>(p)];
        ++kept;
      }
    }
    csr.ptr[static_cast<std::size_t>(r)] = row_start;
  }
  csr.ptr[static_cast<std::size_t>(rows)] = kept;
  if (duplicates > 0) {
    csr.index.resize(static_cast<std::size_t>(kept));
    csr.values.resize(static_cast<std::size_t>(kept));
    csr.index.shrink_to_fit();
    csr.values.shrink_to_fit();
  }
  return csr;
}

CompressedMatrix transpose_compressed(const CompressedMatrix& a) {
  CompressedMatrix t;
  t.rows = a.cols;
  t.cols = a.rows;
  t.ptr.assign(t.rows + 1, 0);
  for (index_t c : a.index) ++t.ptr[c + 1];
  std::partial_sum(t.ptr.begin(), t.ptr.end(), t.ptr.begin());
  reserve_huge(t.index, a.index.size());
  reserve_huge(t.values, a.values.size());
  t.index.resize(a.index.size());
  t.values.resize(a.values.size());
  std::vector<index_t> next(t.ptr.begin(), t.ptr.end() - 1);
  // Walking the rows of `a` in order leaves each row of the transpose sorted. The destinations are random:
  // the one a few entries ahead is prefetched (as in compress_rows).
  constexpr index_t kAhead = 8;
  const index_t total = a.nnz();
  for (index_t r = 0; r < a.rows; ++r) {
    for (index_t p = a.ptr[r]; p < a.ptr[r + 1]; ++p) {
      if (p + kAhead < total) {
        const index_t ahead = next[static_cast<std::size_t>(a.index[p + kAhead])];
        __builtin_prefetch(t.index.data() + ahead, 1);
        __builtin_prefetch(t.values.data() + ahead, 1);
      }
      const index_t dest = next[a.index[p]]++;
      t.index[dest] = r;
      t.values[dest] = a.values[p];
    }
  }
  return t;
}

}  // namespace nmf
