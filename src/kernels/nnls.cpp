#include "nmf/kernels/nnls.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "lapack.hpp"

namespace nmf {

namespace {

// Passive sets of all columns as bit sets, `words` 64-bit words per column.
class PassiveSets {
 public:
  PassiveSets(index_t k, index_t columns)
      : k_(k), words_((k + 63) / 64), bits_(static_cast<std::size_t>(words_ * columns), 0) {}

  bool test(index_t j, index_t i) const { return (word(j, i) >> (i % 64)) & 1u; }
  void flip(index_t j, index_t i) {
    bits_[static_cast<std::size_t>(j * words_ + i / 64)] ^= std::uint64_t{1} << (i % 64);
  }
  bool same(index_t a, index_t b) const {
    return std::equal(bits_.begin() + a * words_, bits_.begin() + (a + 1) * words_, bits_.begin() + b * words_);
  }
  bool less(index_t a, index_t b) const {
    return std::lexicographical_compare(bits_.begin() + a * words_, bits_.begin() + (a + 1) * words_,
                                        bits_.begin() + b * words_, bits_.begin() + (b + 1) * words_);
  }
  // The passive (set) and active (clear) indices of column j.
  void split(index_t j, std::vector<int>& passive, std::vector<int>& active) const {
    passive.clear();
    active.clear();
    for (index_t i = 0; i < k_; ++i) (test(j, i) ? passive : active).push_back(static_cast<int>(i));
  }

 private:
  std::uint64_t word(index_t j, index_t i) const { return bits_[static_cast<std::size_t>(j * words_ + i / 64)]; }
  index_t k_, words_;
  std::vector<std::uint64_t> bits_;
};

// What both block principal pivoting methods below share, so that they cannot drift apart.

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

// kFast = false is the reference: every round checks every column. kFast = true (what the solvers use) checks
// only the columns the last round changed: a column found feasible keeps its x and y, so it stays feasible,
// and the result is the same to the bit. (Hand-written Cholesky kernels for small passive sets, measured
// faster, were left out: their round-off differs from LAPACK's, which moves the planted benchmark's error
// history by up to 4e-10 relative -- see the README.)
template <bool kFast>
class BlockPrincipalPivoting {
 public:
  BlockPrincipalPivoting(const DenseMatrix& gram, const DenseMatrix& rhs, DenseMatrix& x)
      : g_(gram), c_(rhs), x_(x), k_(gram.rows()), y_(gram.rows(), rhs.cols()), passive_(gram.rows(), rhs.cols()) {}

  NnlsStats run() {
    const index_t count = c_.cols();
    std::vector<index_t> all(static_cast<std::size_t>(count));
    std::iota(all.begin(), all.end(), 0);
    for (index_t j = 0; j < count; ++j)
      for (index_t i = 0; i < k_; ++i)
        if (x_(i, j) > 0.0) passive_.flip(j, i);
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
      if (kFast) {
        changed = infeasible;
        std::sort(changed.begin(), changed.end());  // solve() grouped them; exchanges go in column order
      }
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
    return passive_.test(j, i) ? x_(i, j) < 0.0 : y_(i, j) < -tolerance_[static_cast<std::size_t>(j)];
  }

  index_t count_infeasible(index_t j) const {
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

  // Solves the columns in `columns` for their passive sets, one Cholesky factorization per group of
  // columns that share a passive set.
  void solve(std::vector<index_t>& columns) {
    std::sort(columns.begin(), columns.end(), [this](index_t a, index_t b) { return passive_.less(a, b); });
    for (std::size_t first = 0; first < columns.size();) {
      std::size_t last = first + 1;
      while (last < columns.size() && passive_.same(columns[first], columns[last])) ++last;
      solve_group(columns.data() + first, static_cast<index_t>(last - first));
      first = last;
    }
  }

  void solve_group(const index_t* columns, index_t count) {
    passive_.split(columns[0], passive_indices_, active_indices_);
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
      NMF_REQUIRE(info == 0, Error,
                  "block principal pivoting: a passive-set block of the Gram matrix is not positive "
                  "definite (the Gram matrix was not stabilized)");
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
    for (index_t t = 0; t < count; ++t) {
      const index_t j = columns[t];
      for (int p = 0; p < nf; ++p) {
        x_(passive_indices_[p], j) = solution_(p, t);
        y_(passive_indices_[p], j) = 0.0;
      }
      for (int a = 0; a < na; ++a) {
        x_(active_indices_[a], j) = 0.0;
        y_(active_indices_[a], j) = active_y_(a, t);
      }
    }
  }

  const DenseMatrix& g_;
  const DenseMatrix& c_;
  DenseMatrix& x_;
  index_t k_;
  DenseMatrix y_;
  PassiveSets passive_;
  std::vector<ExchangeRule> rules_;
  std::vector<double> tolerance_;
  std::vector<int> passive_indices_, active_indices_;
  DenseMatrix solution_, block_, coupling_, active_y_;
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
    NMF_REQUIRE(info == 0, Error,
                "block principal pivoting: a passive-set block of the Gram matrix is not positive definite (the "
                "Gram matrix was not stabilized)");
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
