// HALS (Cichocki & Phan 2009): exact minimisation over one row of S (or one column of A) at a time,
//   s_q <- max(0, s_q + (c_q - l1 - G_q s) / G_qq), skipped where G_qq = 0,
// swept over q = 1..k. The columns of a slice are independent subproblems, so the result is the same
// whether a sweep runs row by row or column by column; here it runs on 32 columns at once, one column per
// vector lane, so every step is a vector operation with no horizontal sums, and four vectors of lanes
// keep four independent chains of additions in flight. Repeating the sweeps with
// the same G and C (--inner, Gillis & Glineur 2012) is cheap: no new products.
#include <algorithm>
#include <vector>

#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

// The lower bound of the entries: 0, as in scikit-learn's coordinate descent (sklearn.decomposition._cdnmf_fast).
// A row of S that becomes zero does come back: the columns of A then see a zero Gram diagonal and keep their
// values (the G_qq == 0 case below), and the next S update starts from them. A floor above 0 (hals had 1e-16,
// after Gillis & Glineur) instead leaves a Gram diagonal of order 1e-30, against which the A column is "fitted"
// with steps of 1e16: on Fashion-MNIST from nndsvda (16 of 20 rows of S zero after the first update) that made
// the path depend on round-off, 4e-3 apart between P = 1, 2 and 4 and 1e-2 from scikit-learn's; with 0 the
// errors equal scikit-learn's to all digits at every P (README, Initialization).
constexpr double kFloor = 0.0;
constexpr int kLanes = 32;  // columns per step: four AVX-512 registers of doubles

class HalsSolver final : public LocalSolver {
 public:
  explicit HalsSolver(int sweeps) : sweeps_(sweeps) {}
  std::string name() const override { return "hals"; }
  bool wants_balanced_scaling() const override { return true; }

  bool supports_masks() const override { return true; }

  void update(const UpdateInputs& inputs, DenseMatrix& factor) override {
    if (inputs.gram_corrections) {
      update_masked(inputs, factor);
      return;
    }
    const DenseMatrix& g = inputs.gram;
    const index_t k = g.rows();
    // 1 / G_qq, or 0 where G_qq is 0: the other factor's column q is zero, so s_q does not matter and
    // keeps its value.
    inverse_diagonal_.assign(static_cast<std::size_t>(k), 0.0);
    for (index_t q = 0; q < k; ++q)
      if (g(q, q) > 0.0) inverse_diagonal_[static_cast<std::size_t>(q)] = 1.0 / g(q, q);
    f_.resize(static_cast<std::size_t>(k * kLanes));
    c_.resize(f_.size());
    for (index_t j0 = 0; j0 < factor.cols(); j0 += kLanes) {
      const index_t width = std::min<index_t>(kLanes, factor.cols() - j0);
      load_lanes(inputs, factor, j0, width);
      for (int sweep = 0; sweep < sweeps_; ++sweep) sweep_lanes(g);
      for (index_t l = 0; l < width; ++l)
        for (index_t q = 0; q < k; ++q) factor(q, j0 + l) = f_[static_cast<std::size_t>(q * kLanes + l)];
    }
  }

 private:
  // Masked losses give every column its own Gram matrix: the same sweeps, one column at a time.
  void update_masked(const UpdateInputs& inputs, DenseMatrix& factor) {
    const index_t k = factor.rows();
    DenseMatrix g;
    for (index_t j = 0; j < factor.cols(); ++j) {
      masked_gram(inputs, j, g);
      double* f = factor.col(j);
      const double* c = inputs.cross.col(j);
      for (int sweep = 0; sweep < sweeps_; ++sweep) {
        for (index_t q = 0; q < k; ++q) {
          if (!(g(q, q) > 0.0)) continue;  // no training entry touches this coordinate: keep it
          double gradient = inputs.l1 - c[q];
          for (index_t p = 0; p < k; ++p) gradient += g(p, q) * f[p];
          f[q] = std::max(kFloor, f[q] - gradient / g(q, q));
        }
      }
    }
  }

  // Columns j0 .. j0 + width - 1 of the factor and of cross - l1, lane-interleaved; unused lanes are 0.
  void load_lanes(const UpdateInputs& inputs, const DenseMatrix& factor, index_t j0, index_t width) {
    const index_t k = factor.rows();
    std::fill(f_.begin(), f_.end(), 0.0);
    std::fill(c_.begin(), c_.end(), 0.0);
    for (index_t l = 0; l < width; ++l) {
      for (index_t q = 0; q < k; ++q) {
        f_[static_cast<std::size_t>(q * kLanes + l)] = factor(q, j0 + l);
        c_[static_cast<std::size_t>(q * kLanes + l)] = inputs.cross(q, j0 + l) - inputs.l1;
      }
    }
  }

  void sweep_lanes(const DenseMatrix& g) {
    const index_t k = g.rows();
    double* f = f_.data();
    const double* c = c_.data();
    for (index_t q = 0; q < k; ++q) {
      const double inverse = inverse_diagonal_[static_cast<std::size_t>(q)];
      if (inverse == 0.0) continue;
      const double* g_q = g.col(q);  // G is symmetric: column q is row q
      double gradient[kLanes];
      for (int l = 0; l < kLanes; ++l) gradient[l] = -c[q * kLanes + l];
      for (index_t p = 0; p < k; ++p)
        for (int l = 0; l < kLanes; ++l) gradient[l] += g_q[p] * f[p * kLanes + l];
      for (int l = 0; l < kLanes; ++l) f[q * kLanes + l] = std::max(kFloor, f[q * kLanes + l] - gradient[l] * inverse);
    }
  }

  int sweeps_;
  std::vector<double> inverse_diagonal_, f_, c_;
};

// The recommender mode's hals: CCD++ (Yu, Hsieh, Si and Dhillon, "Scalable coordinate descent approaches to
// parallel matrix factorization for recommender systems", ICDM 2012), feature by feature, with the residual
// kept on the observed ratings only and the coordinates projected onto >= 0. For feature f:
//   r^ = r + a_f s_f^T                 (on the ratings)
//   s_fj = max(0, sum_i r^_ij a_if / (lambda_S m_j + sum_i a_if^2))   both sums over the whole column j
//   a_if = max(0, sum_j r^_ij s_fj / (lambda_A n_i + sum_j s_fj^2))   both sums over the whole row i
//   r = r^ - a_f s_f^T
// A block holds part of each column (row), so the two sums are the driver's all-reduce over the grid column
// (row): 2 m_J (2 n_I) doubles per feature and sweep, O(k (n/PR + m/PC)) words per iteration. --inner repeats
// the pair of updates per feature, as in CCD++'s inner iterations. Going from feature f to f+1 takes f's term
// out of the residual and puts f+1's in with one pass.
class HalsObservedSolver final : public ObservedSolver {
 public:
  explicit HalsObservedSolver(int sweeps) : sweeps_(sweeps) {}

  void update(ObservedUpdate& u, int /*iteration*/) override {
    ObservedBlock& ratings = u.ratings;
    const index_t k = u.a_rowblock.cols(), n = ratings.rows, m = ratings.cols;
    if (k == 0) return;
    add_rank_one(ratings, u.a_rowblock.col(0), u.s_colblock.col(0), +1.0);
    for (index_t f = 0; f < k; ++f) {
      double* a = u.a_rowblock.col(f);
      double* s = u.s_colblock.col(f);
      for (int sweep = 0; sweep < sweeps_; ++sweep) {
        column_sums_.resize(static_cast<std::size_t>(2 * m));
        column_sums(ratings, a, column_sums_.data(), column_sums_.data() + m);
        u.sum_over_sharing_ranks(FactorSide::S, column_sums_);
        nonnegative_coordinate(column_sums_.data(), column_sums_.data() + m, u.col_counts.data(), u.lambda_s, m, s);
        row_sums_.resize(static_cast<std::size_t>(2 * n));
        row_sums(ratings, s, row_sums_.data(), row_sums_.data() + n);
        u.sum_over_sharing_ranks(FactorSide::A, row_sums_);
        nonnegative_coordinate(row_sums_.data(), row_sums_.data() + n, u.row_counts.data(), u.lambda_a, n, a);
      }
      if (f + 1 < k)
        replace_rank_one(ratings, a, s, u.a_rowblock.col(f + 1), u.s_colblock.col(f + 1));
      else
        add_rank_one(ratings, a, s, -1.0);
    }
  }

 private:
  int sweeps_;
  std::vector<double> column_sums_, row_sums_;  // numerators then denominators
};

}  // namespace

SolverInfo describe_hals_solver() {
  const SolverOption inner = SolverOption::integer_at_least(
      "inner", "inner", "1", "N", 1, "coordinate-descent sweeps per update (repeating them is cheap: no new products)");
  return {"hals",
          "hierarchical ALS: exact coordinate descent on one column of A or row of S at a time (Cichocki & Phan "
          "2009); the default; in the recommender mode CCD++ on the observed ratings",
          {inner},
          [](const SolverParams& params) -> std::unique_ptr<LocalSolver> {
            return std::make_unique<HalsSolver>(static_cast<int>(params.integer("inner")));
          },
          [](const SolverParams& params) -> std::unique_ptr<ObservedSolver> {
            return std::make_unique<HalsObservedSolver>(static_cast<int>(params.integer("inner")));
          }};
}

}  // namespace nmf
