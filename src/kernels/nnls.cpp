#include "nmf/kernels/nnls.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "clones.hpp"
#include "lapack.hpp"

namespace nmf {

namespace {

// A set of indices 0..k-1 per column (passive sets, infeasible indices) as bit sets, `words` 64-bit words per
// column.
class IndexSets {
 public:
  IndexSets(index_t k, index_t columns)
      : k_(k), words_((k + 63) / 64), bits_(static_cast<std::size_t>(words_ * columns), 0) {}

  bool test(index_t j, index_t i) const { return (word(j, i) >> (i % 64)) & 1u; }
  void flip(index_t j, index_t i) {
    bits_[static_cast<std::size_t>(j * words_ + i / 64)] ^= std::uint64_t{1} << (i % 64);
  }
  // (One word, k <= 64, compared directly: std::equal and std::lexicographical_compare go through memcmp.)
  bool same(index_t a, index_t b) const {
    if (words_ == 1) return bits_[static_cast<std::size_t>(a)] == bits_[static_cast<std::size_t>(b)];
    return std::equal(bits_.begin() + a * words_, bits_.begin() + (a + 1) * words_, bits_.begin() + b * words_);
  }
  bool less(index_t a, index_t b) const {
    if (words_ == 1) return bits_[static_cast<std::size_t>(a)] < bits_[static_cast<std::size_t>(b)];
    return std::lexicographical_compare(bits_.begin() + a * words_, bits_.begin() + (a + 1) * words_,
                                        bits_.begin() + b * words_, bits_.begin() + (b + 1) * words_);
  }
  // The passive (set) and active (clear) indices of column j, in increasing order. Walks the set bits of each word
  // (no branch per index: which side an index is on is what a branch predictor cannot guess).
  void split(index_t j, std::vector<int>& passive, std::vector<int>& active) const {
    passive.resize(static_cast<std::size_t>(k_));
    active.resize(static_cast<std::size_t>(k_));
    std::size_t np = 0, na = 0;
    for (index_t w = 0; w < words_; ++w) {
      const int base = static_cast<int>(64 * w);
      const index_t bits_in_word = std::min<index_t>(64, k_ - 64 * w);
      const std::uint64_t valid = bits_in_word == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits_in_word) - 1;
      const std::uint64_t set = bits_[static_cast<std::size_t>(j * words_ + w)];
      for (std::uint64_t b = set; b != 0; b &= b - 1) passive[np++] = base + __builtin_ctzll(b);
      for (std::uint64_t b = ~set & valid; b != 0; b &= b - 1) active[na++] = base + __builtin_ctzll(b);
    }
    passive.resize(np);
    active.resize(na);
  }
  // Sets column j to the indices i where in_set(i) holds (no branch per index either).
  template <class InSet>
  void assign(index_t j, InSet in_set) {
    for (index_t w = 0; w < words_; ++w) {
      std::uint64_t set = 0;
      for (index_t i = 64 * w; i < std::min<index_t>(k_, 64 * w + 64); ++i)
        set |= static_cast<std::uint64_t>(in_set(i)) << (i % 64);
      bits_[static_cast<std::size_t>(j * words_ + w)] = set;
    }
  }
  bool one_word() const { return words_ == 1; }
  std::uint64_t first_word(index_t j) const { return bits_[static_cast<std::size_t>(j * words_)]; }
  index_t count(index_t j) const {
    index_t n = 0;
    for (index_t w = 0; w < words_; ++w) n += __builtin_popcountll(bits_[static_cast<std::size_t>(j * words_ + w)]);
    return n;
  }

 private:
  std::uint64_t word(index_t j, index_t i) const { return bits_[static_cast<std::size_t>(j * words_ + i / 64)]; }
  index_t k_, words_;
  std::vector<std::uint64_t> bits_;
};

// What both block principal pivoting methods below share, so that they cannot drift apart.

constexpr const char* kNotPositiveDefinite =
    "block principal pivoting: a passive-set block of the Gram matrix is not positive definite (the Gram matrix "
    "was not stabilized)";

// y = G x - c carries round-off of order k * eps * |c|: a negative y smaller than this is zero.
double infeasibility_tolerance(index_t k, double largest_rhs) {
  return 64.0 * DBL_EPSILON * static_cast<double>(k + 1) * largest_rhs;
}

// Not reached in exact arithmetic (the backup rule guarantees termination): the rounds before giving up.
int max_pivot_rounds(index_t k) {
  return static_cast<int>(10 * k + 50);
}

// Kim & Park's choice between a full exchange (every infeasible index changes sides) and the backup rule (only the
// largest infeasible index, Murty's rule: finite termination), one per column. Progress -- fewer infeasible indices
// than ever -- restores the budget of full exchanges; otherwise each full exchange uses one up.
class ExchangeRule {
 public:
  explicit ExchangeRule(index_t k) : fewest_infeasible_(k + 1) {}

  bool full_exchange(index_t infeasible) {
    if (infeasible < fewest_infeasible_) {
      fewest_infeasible_ = infeasible;
      full_exchanges_left_ = kFullExchanges;
      return true;
    }
    if (full_exchanges_left_ > 0) {
      --full_exchanges_left_;
      return true;
    }
    return false;
  }

 private:
  static constexpr int kFullExchanges = 3;
  int full_exchanges_left_ = kFullExchanges;
  index_t fewest_infeasible_;
};

// Applies one exchange of a column of k indices: flips every index infeasible_at(i) says, or only the largest.
template <class Infeasible, class Flip>
void exchange_sides(index_t k, bool full, Infeasible infeasible_at, Flip flip) {
  if (full) {
    for (index_t i = 0; i < k; ++i)
      if (infeasible_at(i)) flip(i);
    return;
  }
  for (index_t i = k - 1; i >= 0; --i)
    if (infeasible_at(i)) {
      flip(i);
      return;
    }
}

// Largest k whose passive-set systems the fast kernel solves with the inlined code below instead of LAPACK.
// Hand-written because, at these sizes, the library's per-call cost dominates: on the sparse benchmark
// (20000 x 10000, k = 20) nearly every column has its own passive set, so an iteration made ~40,000 calls each of
// dpotrf, dpotrs and dgemm on blocks of about 10 x 10, and OpenBLAS's argument checks, buffer allocation (a
// mutex) and dispatch took most of the ~3 us per column (perf). Measured on that benchmark's subproblems (CPU
// time, same session): 70 ms per iteration with LAPACK, 48 ms with this code in its place.
constexpr index_t kInlineMaxK = 64;

// The Cholesky factor L (G_PP = L L^T, row-major, nf x nf, lower triangle) of the passive-set block of G,
// gathered straight from G, and the reciprocals of its diagonal (multiplications instead of divisions in the
// solves, as OpenBLAS's own kernels do). Returns false if the block is not positive definite (where dpotrf reports
// info > 0).
bool factor_passive_block(const double* g, index_t k, const int* passive, int nf, double* l, double* inverse_diagonal) {
  for (int i = 0; i < nf; ++i) {
    const double* g_col = g + passive[i] * k;  // G symmetric: row passive[i] of G is its column
    double* l_row = l + i * nf;
    for (int t = 0; t <= i; ++t) l_row[t] = g_col[passive[t]];
  }
  for (int j = 0; j < nf; ++j) {
    double* l_j = l + j * nf;
    double pivot = l_j[j];
    for (int t = 0; t < j; ++t) pivot -= l_j[t] * l_j[t];
    if (!(pivot > 0.0)) return false;
    l_j[j] = std::sqrt(pivot);
    const double inverse = 1.0 / l_j[j];
    inverse_diagonal[j] = inverse;
    for (int i = j + 1; i < nf; ++i) {
      double* l_i = l + i * nf;
      double sum = l_i[j];
      for (int t = 0; t < j; ++t) sum -= l_i[t] * l_j[t];
      l_i[j] = sum * inverse;
    }
  }
  return true;
}

// Overwrites b (nf values) with the solution of L L^T z = b for the factor above.
void solve_with_factor(const double* l, const double* inverse_diagonal, int nf, double* b) {
  for (int i = 0; i < nf; ++i) {  // L w = b
    const double* l_i = l + i * nf;
    double sum = b[i];
    for (int t = 0; t < i; ++t) sum -= l_i[t] * b[t];
    b[i] = sum * inverse_diagonal[i];
  }
  for (int i = nf - 1; i >= 0; --i) {  // L^T z = w, one row of L (a column of L^T) at a time
    const double* l_i = l + i * nf;
    const double z = b[i] * inverse_diagonal[i];
    b[i] = z;
    for (int t = 0; t < i; ++t) b[t] -= l_i[t] * z;
  }
}

// Column j's x and y from z (x_P, nf values `stride` apart): x = z on P and 0 elsewhere; y = G(:, P) x_P - c,
// computed on every row (contiguous columns of G), then set to 0 on P. y: k values. Cloned like
// solve_passive_lanes below.
NMF_KERNEL_CLONES_ATTRIBUTE
void write_passive_solution(const double* g, index_t k, const int* passive, int nf, const double* z,
                            std::ptrdiff_t stride, const double* c, double* x, double* y) {
  for (index_t i = 0; i < k; ++i) {
    x[i] = 0.0;
    y[i] = -c[i];
  }
  for (int p = 0; p < nf; ++p) {
    const double* g_col = g + passive[p] * k;
    const double zp = z[p * stride];
    for (index_t i = 0; i < k; ++i) y[i] += g_col[i] * zp;
  }
  for (int p = 0; p < nf; ++p) {
    x[passive[p]] = z[p * stride];
    y[passive[p]] = 0.0;
  }
}

// One column of a group: x_P from L L^T x_P = c_P with the factor above, x and y as write_passive_solution. y: k
// values of scratch, and nf more after them.
void solve_passive_column(const double* g, index_t k, const int* passive, int nf, const double* l,
                          const double* inverse_diagonal, const double* c, double* x, double* y) {
  double* z = y + k;
  for (int p = 0; p < nf; ++p) z[p] = c[passive[p]];
  if (nf > 0) solve_with_factor(l, inverse_diagonal, nf, z);
  write_passive_solution(g, k, passive, nf, z, 1, c, x, y);
}

// Columns that are alone with their passive set (most of them on sparse data) still each need their own
// factorization: kLanes of them with passive sets of the same size nf are factorized and solved side by side, entry
// (i, t) of all kLanes factors next to each other, so that each operation is one vector operation over the lanes.
// Every lane performs exactly the operations of factor_passive_block and solve_with_factor in the same order, so
// the results are the same to the bit. Cloned per instruction set (clones.hpp); the file is compiled with
// -ffp-contract=off (CMakeLists.txt), so no clone rounds differently. passive: kLanes lists of nf indices; c: the
// kLanes right-hand sides; l: nf * nf * kLanes values of scratch; z: nf * kLanes, x_P out (lane fastest).
// Returns false if a block is not positive definite.
constexpr int kLanes = 8;

NMF_KERNEL_CLONES_ATTRIBUTE
bool solve_passive_lanes(const double* g, index_t k, const int* passive, int nf, const double* const* c, double* l,
                         double* inverse, double* z) {
  for (int lane = 0; lane < kLanes; ++lane) {
    const int* lane_passive = passive + lane * nf;
    for (int i = 0; i < nf; ++i) {
      const double* g_col = g + lane_passive[i] * k;
      for (int t = 0; t <= i; ++t) l[(i * nf + t) * kLanes + lane] = g_col[lane_passive[t]];
      z[i * kLanes + lane] = c[lane][lane_passive[i]];
    }
  }
  for (int j = 0; j < nf; ++j) {
    double* l_j = l + j * nf * kLanes;
    double pivot[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) pivot[lane] = l_j[j * kLanes + lane];
    for (int t = 0; t < j; ++t)
      for (int lane = 0; lane < kLanes; ++lane) pivot[lane] -= l_j[t * kLanes + lane] * l_j[t * kLanes + lane];
    bool positive = true;
    for (int lane = 0; lane < kLanes; ++lane) positive &= pivot[lane] > 0.0;
    if (!positive) return false;
    for (int lane = 0; lane < kLanes; ++lane) {
      l_j[j * kLanes + lane] = std::sqrt(pivot[lane]);
      inverse[j * kLanes + lane] = 1.0 / l_j[j * kLanes + lane];
    }
    for (int i = j + 1; i < nf; ++i) {
      double* l_i = l + i * nf * kLanes;
      double sum[kLanes];
      for (int lane = 0; lane < kLanes; ++lane) sum[lane] = l_i[j * kLanes + lane];
      for (int t = 0; t < j; ++t)
        for (int lane = 0; lane < kLanes; ++lane) sum[lane] -= l_i[t * kLanes + lane] * l_j[t * kLanes + lane];
      for (int lane = 0; lane < kLanes; ++lane) l_i[j * kLanes + lane] = sum[lane] * inverse[j * kLanes + lane];
    }
  }
  for (int i = 0; i < nf; ++i) {  // L w = c_P
    const double* l_i = l + i * nf * kLanes;
    double sum[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) sum[lane] = z[i * kLanes + lane];
    for (int t = 0; t < i; ++t)
      for (int lane = 0; lane < kLanes; ++lane) sum[lane] -= l_i[t * kLanes + lane] * z[t * kLanes + lane];
    for (int lane = 0; lane < kLanes; ++lane) z[i * kLanes + lane] = sum[lane] * inverse[i * kLanes + lane];
  }
  for (int i = nf - 1; i >= 0; --i) {  // L^T z = w
    const double* l_i = l + i * nf * kLanes;
    double zi[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) {
      zi[lane] = z[i * kLanes + lane] * inverse[i * kLanes + lane];
      z[i * kLanes + lane] = zi[lane];
    }
    for (int t = 0; t < i; ++t)
      for (int lane = 0; lane < kLanes; ++lane) z[t * kLanes + lane] -= l_i[t * kLanes + lane] * zi[lane];
  }
  return true;
}

// kFast = false is the reference: every round checks every column, and every passive-set block goes through
// LAPACK. kFast = true (what the solvers use) checks only the columns the last round changed (a column found
// feasible keeps its x and y, so it stays feasible); it keeps, instead of y, each column's infeasible indices,
// found right after its solve; and for k <= kInlineMaxK it solves the passive-set systems with the small
// inlined Cholesky above instead of LAPACK: same method, same passive sets, round-off of its own.
template <bool kFast>
class BlockPrincipalPivoting {
 public:
  BlockPrincipalPivoting(const DenseMatrix& gram, const DenseMatrix& rhs, DenseMatrix& x)
      : g_(gram),
        c_(rhs),
        x_(x),
        k_(gram.rows()),
        y_(kFast ? 0 : gram.rows(), kFast ? 0 : rhs.cols()),
        passive_(gram.rows(), rhs.cols()),
        infeasible_(kFast ? gram.rows() : 0, kFast ? rhs.cols() : 0),
        y_column_(static_cast<std::size_t>(2 * gram.rows())) {}

  NnlsStats run() {
    const index_t count = c_.cols();
    std::vector<index_t> all(static_cast<std::size_t>(count));
    std::iota(all.begin(), all.end(), 0);
    for (index_t j = 0; j < count; ++j) {
      const double* x = x_.col(j);
      passive_.assign(j, [x](index_t i) { return x[i] > 0.0; });
    }
    rules_.assign(static_cast<std::size_t>(count), ExchangeRule(k_));
    tolerance_.resize(static_cast<std::size_t>(count));
    for (index_t j = 0; j < count; ++j) {
      double largest = 0.0;
      for (index_t i = 0; i < k_; ++i) largest = std::max(largest, std::abs(c_(i, j)));
      tolerance_[static_cast<std::size_t>(j)] = infeasibility_tolerance(k_, largest);
    }
    solve(all);

    const int max_rounds = max_pivot_rounds(k_);
    std::vector<index_t> infeasible, changed = all;
    for (stats_.pivot_rounds = 0; stats_.pivot_rounds < max_rounds; ++stats_.pivot_rounds) {
      infeasible.clear();
      if (kFast) {
        for (const index_t j : changed)
          if (exchange(j)) infeasible.push_back(j);
      } else {
        for (index_t j = 0; j < count; ++j)
          if (exchange(j)) infeasible.push_back(j);
      }
      if (infeasible.empty()) return stats_;
      solve(infeasible);
      if (kFast) changed = infeasible;  // solve() keeps them in column order
    }
    // Not reached in exact arithmetic (the backup rule guarantees termination); project what is left.
    for (index_t j = 0; j < count; ++j) {
      if (count_infeasible(j) == 0) continue;
      ++stats_.unconverged;
      for (index_t i = 0; i < k_; ++i) x_(i, j) = std::max(x_(i, j), 0.0);
    }
    return stats_;
  }

 private:
  bool infeasible_at(index_t j, index_t i) const {
    if (kFast) return infeasible_.test(j, i);
    return passive_.test(j, i) ? x_(i, j) < 0.0 : y_(i, j) < -tolerance_[static_cast<std::size_t>(j)];
  }

  index_t count_infeasible(index_t j) const {
    if (kFast) return infeasible_.count(j);
    index_t n = 0;
    for (index_t i = 0; i < k_; ++i) n += infeasible_at(j, i);
    return n;
  }

  // Applies one exchange to column j if it is infeasible; returns whether it was.
  bool exchange(index_t j) {
    const index_t infeasible = count_infeasible(j);
    if (infeasible == 0) return false;
    exchange_sides(
        k_, rules_[static_cast<std::size_t>(j)].full_exchange(infeasible),
        [&](index_t i) { return infeasible_at(j, i); }, [&](index_t i) { passive_.flip(j, i); });
    return true;
  }

  // Keeps what the exchanges need of column j's y (k values, 0 on the passive set, as x is 0 off it): y itself
  // for the reference; for the fast kernel the indices where x < 0 or y < -tolerance, the infeasible ones.
  void keep_y(index_t j, const double* y) {
    if (!kFast) {
      std::copy(y, y + k_, y_.col(j));
      return;
    }
    const double* x = x_.col(j);
    const double tolerance = tolerance_[static_cast<std::size_t>(j)];
    infeasible_.assign(j, [x, y, tolerance](index_t i) { return (x[i] < 0.0) | (y[i] < -tolerance); });
  }

  // Solves the columns in `columns` (in column order, and left so) for their passive sets, one Cholesky
  // factorization per group of columns that share a passive set.
  void solve(const std::vector<index_t>& columns) {
    sort_by_passive_set(columns);
    // Sorted by passive set, the columns come in no order in memory. Most groups are single columns (on sparse
    // data nearly all): the fast kernel solves those afterwards in column order, which the hardware prefetches,
    // and asks for the columns of larger groups a few ahead.
    single_.assign(static_cast<std::size_t>(kFast ? c_.cols() : 0), 0);
    std::size_t prefetched = 0;
    for (std::size_t first = 0; first < grouped_.size();) {
      std::size_t last = first + 1;
      while (last < grouped_.size() && passive_.same(grouped_[first], grouped_[last])) ++last;
      if (kFast && last - first == 1) {
        single_[static_cast<std::size_t>(grouped_[first])] = 1;
      } else {
        for (prefetched = std::max(prefetched, first); prefetched < std::min(last + kPrefetchAhead, grouped_.size());
             ++prefetched)
          prefetch(grouped_[prefetched]);
        solve_group(grouped_.data() + first, static_cast<index_t>(last - first));
      }
      first = last;
    }
    if (!kFast) return;
    if (k_ > kInlineMaxK) {
      for (const index_t& j : columns)
        if (single_[static_cast<std::size_t>(j)]) solve_group(&j, 1);
      return;
    }
    // The single columns by the size of their passive set, each list in column order; kLanes at a time.
    by_size_.resize(static_cast<std::size_t>(k_ + 1));
    for (auto& list : by_size_) list.clear();
    for (const index_t j : columns)
      if (single_[static_cast<std::size_t>(j)]) by_size_[static_cast<std::size_t>(passive_.count(j))].push_back(j);
    for (const index_t& j : by_size_[0]) solve_group(&j, 1);
    for (std::size_t nf = 1; nf < by_size_.size(); ++nf) {
      const std::vector<index_t>& list = by_size_[nf];
      for (std::size_t first = 0; first < list.size(); first += kLanes) {
        // A list skips most columns, which the hardware does not prefetch: ask for the next batch's c and x.
        for (std::size_t next = first + kLanes; next < std::min(list.size(), first + 2 * kLanes); ++next)
          prefetch(list[next]);
        solve_lanes(list.data() + first, std::min<std::size_t>(kLanes, list.size() - first), static_cast<int>(nf));
      }
    }
  }

  // Up to kLanes single columns whose passive sets have nf indices, side by side (solve_passive_lanes); a short
  // batch repeats its last column in the remaining lanes, whose results are dropped.
  void solve_lanes(const index_t* columns, std::size_t count, int nf) {
    lane_passive_.resize(static_cast<std::size_t>(kLanes * nf));
    const double* c[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) {
      const index_t j = columns[std::min<std::size_t>(static_cast<std::size_t>(lane), count - 1)];
      passive_.split(j, passive_indices_, active_indices_);
      std::copy(passive_indices_.begin(), passive_indices_.end(), lane_passive_.begin() + lane * nf);
      c[lane] = c_.col(j);
    }
    lane_factor_.resize(static_cast<std::size_t>((nf * nf + 2 * nf) * kLanes));
    double* inverse = lane_factor_.data() + nf * nf * kLanes;
    double* z = inverse + nf * kLanes;
    NMF_REQUIRE(solve_passive_lanes(g_.data(), k_, lane_passive_.data(), nf, c, lane_factor_.data(), inverse, z), Error,
                kNotPositiveDefinite);
    stats_.factorizations += static_cast<index_t>(count);
    y_column_.resize(static_cast<std::size_t>(k_));
    for (std::size_t lane = 0; lane < count; ++lane) {
      const index_t j = columns[lane];
      write_passive_solution(g_.data(), k_, lane_passive_.data() + lane * nf, nf, z + lane, kLanes, c_.col(j),
                             x_.col(j), y_column_.data());
      keep_y(j, y_column_.data());
    }
  }

  // grouped_ = columns sorted by passive set. For k <= 64 (one word per set) by sorting (set, column) pairs, which
  // compares in place instead of looking both sets up for every comparison.
  void sort_by_passive_set(const std::vector<index_t>& columns) {
    grouped_ = columns;
    if (!passive_.one_word()) {
      std::sort(grouped_.begin(), grouped_.end(), [this](index_t a, index_t b) { return passive_.less(a, b); });
      return;
    }
    keyed_.resize(columns.size());
    for (std::size_t t = 0; t < columns.size(); ++t) keyed_[t] = {passive_.first_word(columns[t]), columns[t]};
    std::sort(keyed_.begin(), keyed_.end());
    for (std::size_t t = 0; t < columns.size(); ++t) grouped_[t] = keyed_[t].second;
  }

  static constexpr std::size_t kPrefetchAhead = 4;
  void prefetch(index_t j) const {
    for (index_t i = 0; i < k_; i += 8) {  // 8 doubles per 64-byte cache line
      __builtin_prefetch(c_.col(j) + i);
      __builtin_prefetch(x_.col(j) + i, 1);
    }
  }

  void solve_group(const index_t* columns, index_t count) {
    passive_.split(columns[0], passive_indices_, active_indices_);
    if (kFast && k_ <= kInlineMaxK)
      solve_group_inline(columns, count);
    else
      solve_group_lapack(columns, count);
  }

  // The columns of one group straight into x_: one inlined factorization, then solve_passive_column per column.
  void solve_group_inline(const index_t* columns, index_t count) {
    const int nf = static_cast<int>(passive_indices_.size());
    const int* passive = passive_indices_.data();
    factor_.resize(static_cast<std::size_t>(nf * nf + nf));
    double* l = factor_.data();
    if (nf > 0) {
      NMF_REQUIRE(factor_passive_block(g_.data(), k_, passive, nf, l, l + nf * nf), Error, kNotPositiveDefinite);
      ++stats_.factorizations;
    }
    y_column_.resize(static_cast<std::size_t>(k_ + nf));
    for (index_t t = 0; t < count; ++t) {
      const index_t j = columns[t];
      solve_passive_column(g_.data(), k_, passive, nf, l, l + nf * nf, c_.col(j), x_.col(j), y_column_.data());
      keep_y(j, y_column_.data());
    }
  }

  void solve_group_lapack(const index_t* columns, index_t count) {
    const int nf = static_cast<int>(passive_indices_.size());
    const int na = static_cast<int>(active_indices_.size());
    const int ncols = blas_int(count, "columns in a passive-set group");
    // Right-hand sides restricted to the passive set; the solution overwrites them.
    solution_.reshape(nf, count);
    for (index_t t = 0; t < count; ++t)
      for (int p = 0; p < nf; ++p) solution_(p, t) = c_(passive_indices_[p], columns[t]);
    if (nf > 0) {
      block_.reshape(nf, nf);
      for (int q = 0; q < nf; ++q)
        for (int p = 0; p < nf; ++p) block_(p, q) = g_(passive_indices_[p], passive_indices_[q]);
      int info = 0;
      dpotrf_("U", &nf, block_.data(), &nf, &info);
      NMF_REQUIRE(info == 0, Error, kNotPositiveDefinite);
      dpotrs_("U", &nf, &ncols, block_.data(), &nf, solution_.data(), &nf, &info);
      ++stats_.factorizations;
    }
    // y on the active set: G(active, passive) x_passive - c(active).
    active_y_.reshape(na, count);
    for (index_t t = 0; t < count; ++t)
      for (int a = 0; a < na; ++a) active_y_(a, t) = -c_(active_indices_[a], columns[t]);
    if (na > 0 && nf > 0) {
      coupling_.reshape(na, nf);
      for (int p = 0; p < nf; ++p)
        for (int a = 0; a < na; ++a) coupling_(a, p) = g_(active_indices_[a], passive_indices_[p]);
      const double one = 1.0;
      dgemm_("N", "N", &na, &ncols, &nf, &one, coupling_.data(), &na, solution_.data(), &nf, &one, active_y_.data(),
             &na);
    }
    y_column_.resize(static_cast<std::size_t>(k_));
    for (index_t t = 0; t < count; ++t) {
      const index_t j = columns[t];
      for (int p = 0; p < nf; ++p) {
        x_(passive_indices_[p], j) = solution_(p, t);
        y_column_[static_cast<std::size_t>(passive_indices_[p])] = 0.0;
      }
      for (int a = 0; a < na; ++a) {
        x_(active_indices_[a], j) = 0.0;
        y_column_[static_cast<std::size_t>(active_indices_[a])] = active_y_(a, t);
      }
      keep_y(j, y_column_.data());
    }
  }

  const DenseMatrix& g_;
  const DenseMatrix& c_;
  DenseMatrix& x_;
  index_t k_;
  DenseMatrix y_;  // the reference's y = G x - c
  IndexSets passive_;
  IndexSets infeasible_;  // the fast kernel's, in place of y_
  std::vector<double> y_column_;
  std::vector<ExchangeRule> rules_;
  std::vector<double> tolerance_;
  std::vector<int> passive_indices_, active_indices_;
  DenseMatrix solution_, block_, coupling_, active_y_;
  std::vector<double> factor_;
  std::vector<index_t> grouped_;
  std::vector<std::pair<std::uint64_t, index_t>> keyed_;
  std::vector<char> single_;
  std::vector<std::vector<index_t>> by_size_;
  std::vector<int> lane_passive_;
  std::vector<double> lane_factor_;
  NnlsStats stats_;
};

}  // namespace

void add_projected_gradient_row_norms(const DenseMatrix& gram, const DenseMatrix& rhs, const DenseMatrix& x,
                                      std::vector<double>& row_sums) {
  const int k = blas_int(gram.rows(), "k");
  const int count = blas_int(x.cols(), "factor length");
  row_sums.resize(static_cast<std::size_t>(k), 0.0);
  if (count == 0 || k == 0) return;
  DenseMatrix gradient = rhs;
  const double one = 1.0, minus_one = -1.0;
  // gradient = G x - rhs
  dgemm_("N", "N", &k, &count, &k, &one, gram.data(), &k, x.data(), &k, &minus_one, gradient.data(), &k);
  for (index_t j = 0; j < count; ++j) {
    for (index_t q = 0; q < k; ++q) {
      const double g = x(q, j) > 0.0 ? gradient(q, j) : std::min(gradient(q, j), 0.0);
      row_sums[static_cast<std::size_t>(q)] += g * g;
    }
  }
}

namespace {

// x on the passive set from G_PP x_P = c_P (Cholesky, LAPACK), 0 elsewhere; y = G x - c on the active set.
void solve_passive_set(const DenseMatrix& g, const double* c, double* x, NnlsWorkspace& w, NnlsStats& stats) {
  const index_t k = g.rows();
  w.passive.clear();
  w.active.clear();
  for (index_t i = 0; i < k; ++i) (w.in_passive[i] ? w.passive : w.active).push_back(static_cast<int>(i));
  const int nf = static_cast<int>(w.passive.size());
  for (int p = 0; p < nf; ++p) w.solution[p] = c[w.passive[p]];
  if (nf > 0) {
    for (int q = 0; q < nf; ++q)
      for (int p = 0; p < nf; ++p) w.block[static_cast<std::size_t>(p + q * nf)] = g(w.passive[p], w.passive[q]);
    int info = 0, one = 1;
    dpotrf_("U", &nf, w.block.data(), &nf, &info);
    NMF_REQUIRE(info == 0, Error, kNotPositiveDefinite);
    dpotrs_("U", &nf, &one, w.block.data(), &nf, w.solution.data(), &nf, &info);
    ++stats.factorizations;
  }
  for (index_t i = 0; i < k; ++i) {
    x[i] = 0.0;
    w.y[i] = 0.0;
  }
  for (int p = 0; p < nf; ++p) x[w.passive[p]] = w.solution[p];
  for (const int a : w.active) {
    double y = -c[a];
    for (int p = 0; p < nf; ++p) y += g(a, w.passive[p]) * w.solution[p];
    w.y[a] = y;
  }
}

}  // namespace

NnlsStats nnls_one_right_hand_side(const DenseMatrix& gram, const double* c, double* x, NnlsWorkspace& w) {
  const index_t k = gram.rows();
  w.in_passive.resize(static_cast<std::size_t>(k));
  w.block.resize(static_cast<std::size_t>(k * k));
  w.solution.resize(static_cast<std::size_t>(k));
  w.y.resize(static_cast<std::size_t>(k));
  double largest = 0.0;
  for (index_t i = 0; i < k; ++i) {
    w.in_passive[i] = x[i] > 0.0;
    largest = std::max(largest, std::abs(c[i]));
  }
  const double tolerance = infeasibility_tolerance(k, largest);
  const auto infeasible_at = [&](index_t i) { return w.in_passive[i] ? x[i] < 0.0 : w.y[i] < -tolerance; };
  NnlsStats stats;
  solve_passive_set(gram, c, x, w, stats);
  ExchangeRule rule(k);
  for (const int max_rounds = max_pivot_rounds(k); stats.pivot_rounds < max_rounds; ++stats.pivot_rounds) {
    index_t infeasible = 0;
    for (index_t i = 0; i < k; ++i) infeasible += infeasible_at(i);
    if (infeasible == 0) return stats;
    exchange_sides(k, rule.full_exchange(infeasible), infeasible_at,
                   [&](index_t i) { w.in_passive[i] = !w.in_passive[i]; });
    solve_passive_set(gram, c, x, w, stats);
  }
  stats.unconverged = 1;  // not reached in exact arithmetic; project what is left
  for (index_t i = 0; i < k; ++i) x[i] = std::max(x[i], 0.0);
  return stats;
}

NnlsStats nnls_block_principal_pivoting(const DenseMatrix& gram, const DenseMatrix& rhs, DenseMatrix& x) {
  NMF_REQUIRE(
      gram.rows() == gram.cols() && rhs.rows() == gram.rows() && x.rows() == rhs.rows() && x.cols() == rhs.cols(),
      Error, "nnls: shapes of G, C and x do not match");
  if (rhs.cols() == 0 || gram.rows() == 0) return {};
  return BlockPrincipalPivoting<true>(gram, rhs, x).run();
}

namespace reference {

NnlsStats nnls_block_principal_pivoting(const DenseMatrix& gram, const DenseMatrix& rhs, DenseMatrix& x) {
  NMF_REQUIRE(
      gram.rows() == gram.cols() && rhs.rows() == gram.rows() && x.rows() == rhs.rows() && x.cols() == rhs.cols(),
      Error, "nnls: shapes of G, C and x do not match");
  if (rhs.cols() == 0 || gram.rows() == 0) return {};
  return BlockPrincipalPivoting<false>(gram, rhs, x).run();
}

}  // namespace reference

}  // namespace nmf
