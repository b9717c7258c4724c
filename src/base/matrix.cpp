#include "nmf/matrix.hpp"

#include <algorithm>
#include <cstdint>
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

// Counting sorts by a "major" index (the row for CSR, the column for CSC) in two passes that stay in the
// caches, instead of one pass that writes each entry to a random place in arrays far larger than them (a
// cache miss per entry, most of the assembly time on 10^6 rows). Pass 1 appends each entry to the bucket of
// its block of 2^shift consecutive majors: a few hundred write positions, each filling one cache line after
// another. Pass 2 sorts each bucket, small enough to stay in the caches, by its majors. Both passes are
// stable, so entries keep the order they arrived in within a major, as one counting sort would leave them.
// Pass 1 stores the major's low bits and the minor index packed in the index array (hence the bound on
// shift + minor bits), so the buckets need no memory beyond the result's arrays.
class MajorBuckets {
 public:
  MajorBuckets(index_t majors, index_t minors, int max_bucket_bits) : majors_(majors) {
    while (minor_bits_ < 63 && (index_t{1} << minor_bits_) < minors) ++minor_bits_;
    const int max_shift = std::min(62, 63 - minor_bits_);
    while (shift_ < max_shift && ((majors - 1) >> shift_) >= (index_t{1} << max_bucket_bits)) ++shift_;
    count_ = majors > 0 ? ((majors - 1) >> shift_) + 1 : 0;
    major_mask_ = (index_t{1} << shift_) - 1;
    minor_mask_ = static_cast<index_t>((std::uint64_t{1} << minor_bits_) - 1);
  }
  index_t count() const { return count_; }
  std::size_t of(index_t major) const { return static_cast<std::size_t>(major >> shift_); }
  index_t first_major(index_t bucket) const { return bucket << shift_; }
  index_t end_major(index_t bucket) const {
    const index_t first = first_major(bucket);
    return majors_ - first > major_mask_ ? first + major_mask_ + 1 : majors_;
  }
  index_t pack(index_t major, index_t minor) const { return ((major & major_mask_) << minor_bits_) | minor; }
  std::size_t major_offset(index_t key) const { return static_cast<std::size_t>(key >> minor_bits_); }
  index_t minor(index_t key) const { return key & minor_mask_; }

 private:
  index_t majors_;
  int minor_bits_ = 0;
  int shift_ = 0;
  index_t count_ = 0;
  index_t major_mask_ = 0, minor_mask_ = 0;
};

// Pass 1 of MajorBuckets: the result's arrays sized for `total` entries and filled bucket by bucket.
// count_entries(add) calls add(major) for every entry, place_entries(put) then put(major, minor, value) for
// every entry in the same order. Returns where each bucket starts (count() + 1 offsets).
template <class CountEntries, class PlaceEntries>
std::vector<index_t> fill_buckets(const MajorBuckets& buckets, index_t total, CompressedMatrix& out,
                                  CountEntries&& count_entries, PlaceEntries&& place_entries) {
  std::vector<index_t> start(static_cast<std::size_t>(buckets.count()) + 1, 0);
  count_entries([&](index_t major) { ++start[buckets.of(major) + 1]; });
  std::partial_sum(start.begin(), start.end(), start.begin());
  reserve_huge(out.index, static_cast<std::size_t>(total));
  reserve_huge(out.values, static_cast<std::size_t>(total));
  out.index.resize(static_cast<std::size_t>(total));
  out.values.resize(static_cast<std::size_t>(total));
  std::vector<index_t> next(start.begin(), start.end() - 1);
  index_t* const index = out.index.data();
  double* const values = out.values.data();
  place_entries([&](index_t major, index_t minor, double value) {
    const index_t at = next[buckets.of(major)]++;
    index[at] = buckets.pack(major, minor);
    values[at] = value;
  });
  return start;
}

// Pass 2 of MajorBuckets for one bucket: its entries [first, last) of `out` counting-sorted by major into
// `sorted` (unpacked to minor indices), `offsets` receiving where each major of the bucket starts in them.
void sort_bucket(const MajorBuckets& buckets, index_t bucket, const CompressedMatrix& out, index_t first, index_t last,
                 std::vector<index_t>& offsets, std::vector<index_t>& sorted_index,
                 std::vector<double>& sorted_values) {
  const auto majors = static_cast<std::size_t>(buckets.end_major(bucket) - buckets.first_major(bucket));
  offsets.assign(majors + 1, 0);
  for (index_t p = first; p < last; ++p) ++offsets[buckets.major_offset(out.index[p]) + 1];
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  sorted_index.resize(static_cast<std::size_t>(last - first));
  sorted_values.resize(static_cast<std::size_t>(last - first));
  std::vector<index_t>& next = offsets;  // advanced while placing, then shifted back below
  for (index_t p = first; p < last; ++p) {
    const index_t key = out.index[p];
    const auto at = static_cast<std::size_t>(next[buckets.major_offset(key)]++);
    sorted_index[at] = buckets.minor(key);
    sorted_values[at] = out.values[p];
  }
  // next[m] now holds the end of major m, which is the start of m + 1.
  std::copy_backward(next.begin(), next.end() - 1, next.end());
  next[0] = 0;
}

}  // namespace

namespace detail {

CompressedMatrix compress_rows_in_buckets(index_t rows, index_t cols, TripletChunks&& chunks, index_t& duplicates,
                                          int max_bucket_bits) {
  CompressedMatrix csr;
  csr.rows = rows;
  csr.cols = cols;
  reserve_huge(csr.ptr, static_cast<std::size_t>(rows + 1));
  csr.ptr.assign(static_cast<std::size_t>(rows + 1), 0);
  duplicates = 0;
  index_t total = 0;
  for (const auto& chunk : chunks) total += static_cast<index_t>(chunk.size());
  if (rows == 0 || total == 0) {
    for (auto& chunk : chunks) std::vector<Triplet>().swap(chunk);
    return csr;
  }
  const MajorBuckets buckets(rows, cols, max_bucket_bits);
  const std::vector<index_t> start = fill_buckets(
      buckets, total, csr,
      [&](auto&& add) {
        for (const auto& chunk : chunks)
          for (const Triplet& t : chunk) add(t.row);
      },
      [&](auto&& put) {
        for (auto& chunk : chunks) {
          for (const Triplet& t : chunk) put(t.row, t.col, t.value);
          std::vector<Triplet>().swap(chunk);
        }
      });

  // Each bucket sorted by row, then each row by column with equal columns merged, written back from the
  // start of the arrays: merging moves later entries down, never past the bucket being read.
  std::vector<index_t> offsets, sorted_index;
  std::vector<double> sorted_values;
  std::vector<std::pair<index_t, double>> scratch;
  index_t kept = 0;
  for (index_t b = 0; b < buckets.count(); ++b) {
    sort_bucket(buckets, b, csr, start[b], start[b + 1], offsets, sorted_index, sorted_values);
    const index_t first_row = buckets.first_major(b);
    for (index_t r = first_row; r < buckets.end_major(b); ++r) {
      const index_t first = offsets[static_cast<std::size_t>(r - first_row)];
      const index_t last = offsets[static_cast<std::size_t>(r - first_row) + 1];
      sort_row(sorted_index.data() + first, sorted_values.data() + first, last - first, scratch);
      const index_t row_start = kept;
      for (index_t p = first; p < last; ++p) {
        const index_t column = sorted_index[static_cast<std::size_t>(p)];
        const double value = sorted_values[static_cast<std::size_t>(p)];
        if (kept > row_start && column == csr.index[static_cast<std::size_t>(kept - 1)]) {
          csr.values[static_cast<std::size_t>(kept - 1)] += value;
          ++duplicates;
        } else {
          csr.index[static_cast<std::size_t>(kept)] = column;
          csr.values[static_cast<std::size_t>(kept)] = value;
          ++kept;
        }
      }
      csr.ptr[static_cast<std::size_t>(r)] = row_start;
    }
  }
  csr.ptr[static_cast<std::size_t>(rows)] = kept;
  csr.index.resize(static_cast<std::size_t>(kept));
  csr.values.resize(static_cast<std::size_t>(kept));
  // Giving back the room of merged duplicates copies both arrays: worth it only when they were many.
  if (duplicates > total / 8) {
    csr.index.shrink_to_fit();
    csr.values.shrink_to_fit();
  }
  return csr;
}

CompressedMatrix transpose_in_buckets(const CompressedMatrix& a, int max_bucket_bits) {
  CompressedMatrix t;
  t.rows = a.cols;
  t.cols = a.rows;
  reserve_huge(t.ptr, static_cast<std::size_t>(t.rows + 1));
  t.ptr.assign(static_cast<std::size_t>(t.rows + 1), 0);
  if (t.rows == 0 || a.nnz() == 0) return t;
  const MajorBuckets buckets(t.rows, t.cols, max_bucket_bits);
  // Walking the rows of `a` in order leaves each column's rows sorted (both passes are stable).
  const std::vector<index_t> start = fill_buckets(
      buckets, a.nnz(), t,
      [&](auto&& add) {
        for (const index_t c : a.index) add(c);
      },
      [&](auto&& put) {
        for (index_t r = 0; r < a.rows; ++r)
          for (index_t p = a.ptr[r]; p < a.ptr[r + 1]; ++p) put(a.index[p], r, a.values[p]);
      });
  std::vector<index_t> offsets, sorted_index;
  std::vector<double> sorted_values;
  for (index_t b = 0; b < buckets.count(); ++b) {
    sort_bucket(buckets, b, t, start[b], start[b + 1], offsets, sorted_index, sorted_values);
    std::copy(sorted_index.begin(), sorted_index.end(), t.index.begin() + start[b]);
    std::copy(sorted_values.begin(), sorted_values.end(), t.values.begin() + start[b]);
    const index_t first_col = buckets.first_major(b);
    for (index_t c = first_col; c < buckets.end_major(b); ++c)
      t.ptr[static_cast<std::size_t>(c)] = start[b] + offsets[static_cast<std::size_t>(c - first_col)];
  }
  t.ptr[static_cast<std::size_t>(t.rows)] = a.nnz();
  return t;
}

}  // namespace detail

CompressedMatrix compress_rows(index_t rows, index_t cols, TripletChunks&& chunks, index_t& duplicates) {
  return detail::compress_rows_in_buckets(rows, cols, std::move(chunks), duplicates, detail::kMaxBucketBits);
}

CompressedMatrix transpose_compressed(const CompressedMatrix& a) {
  return detail::transpose_in_buckets(a, detail::kMaxBucketBits);
}

}  // namespace nmf
