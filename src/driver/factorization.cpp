#include "nmf/driver/factorization.hpp"

#include <cmath>

#include "nmf/distribution/collectives.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nmf/kernels/products.hpp"
#include "nmf/kernels/random.hpp"

namespace nmf {

std::optional<std::string> MaxIterations::check(const IterationRecord& current) const {
  if (current.iteration >= limit_) return std::string("max_iterations");
  return std::nullopt;
}

std::optional<std::string> ObjectiveChangeBelow::check(const IterationRecord& current) const {
  if (current.iteration >= 1 && current.evaluated && std::abs(current.objective_change) < tol_)
    return std::string("tolerance");
  return std::nullopt;
}

std::optional<std::string> ProjectedGradientBelow::check(const IterationRecord& current) const {
  if (current.projected_gradient <= tol_) return std::string("projected_gradient");  // false while unknown (NaN)
  return std::nullopt;
}

std::optional<std::string> TimeLimit::check(const IterationRecord& current) const {
  if (current.seconds >= seconds_) return std::string("time_limit");
  return std::nullopt;
}

Factors random_factors(const DistMatrix& x, const ProcessGrid& grid, int k, std::uint64_t seed) {
  const Layout& layout = x.layout;
  const double mean = x.stats.sum / (static_cast<double>(layout.n) * static_cast<double>(layout.m));
  const double scale = 2.0 * std::sqrt(mean / k);
  const int a_slice = layout.a_slice_of(grid.row(), grid.col());
  const int s_slice = layout.s_slice_of(grid.row(), grid.col());
  Factors f;
  f.a_t = DenseMatrix(k, layout.a_slices.size(a_slice));
  f.s = DenseMatrix(k, layout.s_slices.size(s_slice));
  const auto k64 = static_cast<std::uint64_t>(k);
  for (index_t r = 0; r < f.a_t.cols(); ++r) {
    const auto row = static_cast<std::uint64_t>(layout.a_slices.begin(a_slice) + r);
    for (index_t c = 0; c < k; ++c)
      f.a_t(c, r) = scale * uniform01(seed, RandomStream::factor_A, row * k64 + static_cast<std::uint64_t>(c));
  }
  for (index_t j = 0; j < f.s.cols(); ++j) {
    const auto col = static_cast<std::uint64_t>(layout.s_slices.begin(s_slice) + j);
    for (index_t c = 0; c < k; ++c)
      f.s(c, j) = scale * uniform01(seed, RandomStream::factor_S, col * k64 + static_cast<std::uint64_t>(c));
  }
  return f;
}

AlternatingFactorization::AlternatingFactorization(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver,
                                                   DriverOptions options)
    : grid_(grid), x_(x), solver_(solver), options_(options) {}

namespace {

// Runs f() and adds its wall time to `seconds`.
template <class F>
void timed(double& seconds, F&& f) {
  const double start = MPI_Wtime();
  f();
  seconds += MPI_Wtime() - start;
}

// One run of the alternating iteration. Names say how each matrix is distributed: `_local` is this rank's
// slice, `_rowblock` / `_colblock` a block gathered over the grid row / column, `_replicated` the same
// on every rank.
class Iteration {
 public:
  Iteration(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver, const DriverOptions& options,
            Factors& factors, bool projected_gradient)
      : grid_(grid),
        x_(x),
        solver_(solver),
        options_(options),
        f_(factors),
        k_(factors.a_t.rows()),
        products_(x.block, factors.a_t.rows()),
        want_pg_(projected_gradient),
        balance_(solver.wants_balanced_scaling() && !options.penalties.any()),
        direct_error_affordable_(x.block.storage == Storage::dense ||
                                 static_cast<double>(x.layout.n) * static_cast<double>(x.layout.m) <=
                                     32.0 * static_cast<double>(x.stats.stored_entries)),
        held_out_(options.held_out) {
    const Layout& layout = x.layout;
    for (int j = 0; j < grid.shape().cols; ++j)
      a_counts_in_row_.push_back(layout.a_slices.size(layout.a_slice_of(grid.row(), j)));
    for (int i = 0; i < grid.shape().rows; ++i)
      s_counts_in_col_.push_back(layout.s_slices.size(layout.s_slice_of(i, grid.col())));
  }

  // The initial factors: Gram matrices, S X^T, and the record of iteration 0.
  IterationRecord start() {
    if (held_out_) {
      std::vector<double> total{held_out_->local_value_sq()};
      collectives_.allreduce_sum(grid_.comm(), total);
      heldout_value_sq_ = total[0];
    }
    gather_s();
    cross_for_a();
    if (want_pg_) add_pg_of_a();
    start_time_ = MPI_Wtime();
    return gather_a_and_evaluate(0, true);
  }

  // Completes `record` (the current iterate's) with its projected gradient, which needs A^T X for the
  // current A: the first product of the next iteration, computed here and kept for it.
  void begin_next(IterationRecord& record) {
    if (!solver_.uses_gram() && !want_pg_) return;  // Kaczmarz needs no A^T X
    cross_for_s();
    if (!want_pg_) return;
    timed(phases_.evaluation, [&] {
      DenseMatrix shifted = cross_local_;
      for (double& v : shifted.values()) v -= options_.penalties.l1_s;
      std::vector<double> rows(pg_a_rows_);
      add_projected_gradient_row_norms(penalized(gram_a_replicated_, options_.penalties.l2_s), shifted, f_.s, rows);
      double local = 0.0;
      for (double v : rows) local += v;
      std::vector<double> total{local};
      timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), total); });
      const double norm = std::sqrt(total[0]);
      if (record.iteration == 0) pg_initial_ = norm;
      record.projected_gradient = pg_initial_ > 0.0 ? norm / pg_initial_ : 0.0;
    });
  }

  // The rest of an iteration: S update, A update, evaluation. begin_next() has computed A^T X.
  IterationRecord finish(int iteration, bool evaluate) {
    if (!solver_.uses_gram()) return finish_by_blocks(iteration, evaluate);
    update(FactorSide::S, gram_a_replicated_, options_.penalties.l2_s, options_.penalties.l1_s, f_.s, iteration);
    gather_s();
    cross_for_a();
    update(FactorSide::A, gram_s_replicated_, options_.penalties.l2_a, options_.penalties.l1_a, f_.a_t, iteration);
    if (want_pg_) add_pg_of_a();
    return gather_a_and_evaluate(iteration, evaluate);
  }

  // An iteration of an equation-based solver: each rank updates the gathered blocks it holds from its own
  // block of X, the ranks sharing a block average their versions (one all-reduce per factor), and each
  // keeps its slice. S X^T is formed only when the objective (or the projected gradient) needs it.
  IterationRecord finish_by_blocks(int iteration, bool evaluate) {
    cross_current_ = false;  // both factors change below
    update_block(FactorSide::S, a_t_rowblock_, s_colblock_, grid_.col_comm(), iteration);
    extract_slice(s_colblock_, s_counts_in_col_, grid_.row(), f_.s);
    std::vector<double> extras{sum_of(f_.s)};
    all_reduce_gram(f_.s, gram_s_replicated_, extras);
    sum_s_ = extras[0];
    update_block(FactorSide::A, s_colblock_, a_t_rowblock_, grid_.row_comm(), iteration);
    extract_slice(a_t_rowblock_, a_counts_in_row_, grid_.col(), f_.a_t);
    if (evaluate || want_pg_) cross_for_a();
    if (want_pg_) add_pg_of_a();
    return evaluate_a(iteration, evaluate);
  }

  void update_block(FactorSide side, const DenseMatrix& other_block, DenseMatrix& block, MPI_Comm sharing,
                    int iteration) {
    timed(phases_.update, [&] {
      collectively(grid_.comm(), [&] {
        solver_.update_block({side, x_.block, other_block, iteration, grid_.rank()}, block);
      });
    });
    timed(phases_.collectives, [&] { collectives_.allreduce_average(sharing, block); });
  }

  // The columns of `block` that belong to member `member` of the communicator that shares it.
  static void extract_slice(const DenseMatrix& block, const std::vector<index_t>& counts, int member,
                            DenseMatrix& slice) {
    index_t first = 0;
    for (int r = 0; r < member; ++r) first += counts[static_cast<std::size_t>(r)];
    const index_t count = counts[static_cast<std::size_t>(member)];
    slice.reshape(block.rows(), count);
    std::copy(block.col(first), block.col(first) + block.rows() * count, slice.data());
  }

  // Evaluates the objective of the current factors when the last iteration skipped it (one all-reduce).
  // <X, A S> is <S X^T, A^T> or <A^T X, S>, whichever product is at hand.
  void evaluate_now(IterationRecord& record) {
    if (!cross_current_) cross_for_a();
    const HeldOutEntries::Sums held = held_out_sums();
    std::vector<double> extras{frobenius_dot(cross_local_, cross_is_for_s_ ? f_.s : f_.a_t) + held.cross,
                               held.residual_sq};
    timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), extras); });
    fill_objective(record, extras[0], extras[1]);
  }

  // This rank's held-out sums for the current factors (zero without held-out entries).
  HeldOutEntries::Sums held_out_sums() const {
    return held_out_ ? held_out_->sums(a_t_rowblock_, s_colblock_) : HeldOutEntries::Sums{};
  }

  double bytes_moved() const { return collectives_.bytes_moved(); }
  const PhaseSeconds& phases() const { return phases_; }
  void reset_phases() { phases_ = PhaseSeconds{}; }
  int direct_evaluations() const { return direct_evaluations_; }

 private:
  static DenseMatrix penalized(const DenseMatrix& gram_replicated, double l2) {
    DenseMatrix g = gram_replicated;
    for (index_t q = 0; q < g.rows(); ++q) g(q, q) += l2;
    return g;
  }

  // Local SYRK of a factor slice, all-reduced with `extras` (local scalars summed alongside).
  void all_reduce_gram(const DenseMatrix& slice, DenseMatrix& gram_replicated, std::vector<double>& extras) {
    timed(phases_.gram, [&] { gram(slice, gram_replicated); });
    reduce_buffer_.assign(gram_replicated.values().begin(), gram_replicated.values().end());
    reduce_buffer_.insert(reduce_buffer_.end(), extras.begin(), extras.end());
    timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), reduce_buffer_); });
    std::copy(reduce_buffer_.begin(), reduce_buffer_.begin() + k_ * k_, gram_replicated.values().begin());
    std::copy(reduce_buffer_.begin() + k_ * k_, reduce_buffer_.end(), extras.begin());
  }

  static double sum_of(const DenseMatrix& m) {
    double sum = 0.0;
    for (double v : m.values()) sum += v;
    return sum;
  }

  void gather_s() {
    timed(phases_.collectives, [&] { collectives_.allgather(grid_.col_comm(), f_.s, s_counts_in_col_, s_colblock_); });
    std::vector<double> extras{sum_of(f_.s)};
    all_reduce_gram(f_.s, gram_s_replicated_, extras);
    sum_s_ = extras[0];
  }

  void cross_for_a() {  // S X^T for this rank's rows of A
    timed(phases_.local_products, [&] { products_.s_xt(s_colblock_, product_partial_); });
    if (held_out_) {
      timed(phases_.evaluation, [&] {
        corrections_partial_.resize(k_ * k_, product_partial_.cols());
        held_out_->correct_for_a(s_colblock_, product_partial_, corrections_partial_);
      });
      timed(phases_.collectives, [&] {
        collectives_.reduce_scatter(grid_.row_comm(), corrections_partial_, a_counts_in_row_, corrections_local_);
      });
    }
    timed(phases_.collectives,
          [&] { collectives_.reduce_scatter(grid_.row_comm(), product_partial_, a_counts_in_row_, cross_local_); });
    cross_is_for_s_ = false;
    cross_current_ = true;
  }

  void cross_for_s() {  // A^T X for this rank's columns of S
    timed(phases_.local_products, [&] { products_.at_x(a_t_rowblock_, product_partial_); });
    if (held_out_) {
      timed(phases_.evaluation, [&] {
        corrections_partial_.resize(k_ * k_, product_partial_.cols());
        held_out_->correct_for_s(a_t_rowblock_, product_partial_, corrections_partial_);
      });
      timed(phases_.collectives, [&] {
        collectives_.reduce_scatter(grid_.col_comm(), corrections_partial_, s_counts_in_col_, corrections_local_);
      });
    }
    timed(phases_.collectives,
          [&] { collectives_.reduce_scatter(grid_.col_comm(), product_partial_, s_counts_in_col_, cross_local_); });
    cross_is_for_s_ = true;
    cross_current_ = true;
  }

  void update(FactorSide side, const DenseMatrix& gram_replicated, double l2, double l1, DenseMatrix& factor,
              int iteration) {
    timed(phases_.update, [&] {
      const DenseMatrix g = penalized(gram_replicated, l2);
      const DenseMatrix* corrections = held_out_ ? &corrections_local_ : nullptr;
      collectively(grid_.comm(), [&] { solver_.update({side, g, cross_local_, l1, iteration, corrections}, factor); });
    });
  }

  // The A part of the projected gradient at the current (A, S), per row of A^T (so balancing can rescale it).
  void add_pg_of_a() {
    timed(phases_.evaluation, [&] {
      DenseMatrix shifted = cross_local_;
      for (double& v : shifted.values()) v -= options_.penalties.l1_a;
      pg_a_rows_.assign(static_cast<std::size_t>(k_), 0.0);
      add_projected_gradient_row_norms(penalized(gram_s_replicated_, options_.penalties.l2_a), shifted, f_.a_t,
                                       pg_a_rows_);
    });
  }

  IterationRecord gather_a_and_evaluate(int iteration, bool evaluate) {
    timed(phases_.collectives,
          [&] { collectives_.allgather(grid_.row_comm(), f_.a_t, a_counts_in_row_, a_t_rowblock_); });
    return evaluate_a(iteration, evaluate);
  }

  // A^T A (all-reduced with the extras below) and, if asked, the objective, for A's gathered row block.
  IterationRecord evaluate_a(int iteration, bool evaluate) {
    // Extras: <S X^T, A^T> for the error, sum(A) for the L1 term, rank 0's clock for the time limit, and the
    // held-out entries' residual.
    const HeldOutEntries::Sums held = evaluate ? held_out_sums() : HeldOutEntries::Sums{};
    std::vector<double> extras{evaluate ? frobenius_dot(cross_local_, f_.a_t) + held.cross : 0.0, sum_of(f_.a_t),
                               grid_.rank() == 0 ? MPI_Wtime() - start_time_ : 0.0, held.residual_sq};
    all_reduce_gram(f_.a_t, gram_a_replicated_, extras);
    sum_a_ = extras[1];
    IterationRecord record;
    record.iteration = iteration;
    record.seconds = iteration == 0 ? 0.0 : extras[2];
    if (evaluate) fill_objective(record, extras[0], extras[3]);
    if (balance_) balance_scales();
    return record;
  }

  // Relative error and objective from the Gram identity; directly from the blocks when it is too small.
  // With held-out entries, both are the training loss's (the full residual minus the held-out one).
  void fill_objective(IterationRecord& record, double cross_dot, double heldout_residual_sq) {
    timed(phases_.evaluation, [&] {
      const double full_norm_sq = x_.stats.frobenius_sq;
      const double norm_sq = full_norm_sq;
      double residual_sq =
          std::max(0.0, norm_sq - 2.0 * cross_dot + frobenius_dot(gram_a_replicated_, gram_s_replicated_));
      if (direct_error_affordable_ &&
          residual_sq < options_.direct_error_below * options_.direct_error_below * norm_sq) {
        std::vector<double> direct{residual_squared(a_t_rowblock_, s_colblock_, x_.block)};
        timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), direct); });
        residual_sq = direct[0];
        ++direct_evaluations_;
      }
      double trace_a = 0.0, trace_s = 0.0;
      for (index_t q = 0; q < k_; ++q) {
        trace_a += gram_a_replicated_(q, q);
        trace_s += gram_s_replicated_(q, q);
      }
      if (held_out_) {
        residual_sq = std::max(0.0, residual_sq - heldout_residual_sq);
        record.heldout_error = std::sqrt(heldout_residual_sq / heldout_value_sq_);
      }
      const double training_norm_sq = full_norm_sq - heldout_value_sq_;
      const Penalties& p = options_.penalties;
      record.evaluated = true;
      record.relative_error = std::sqrt(residual_sq / training_norm_sq);
      record.objective =
          0.5 * residual_sq + p.l1_a * sum_a_ + 0.5 * p.l2_a * trace_a + p.l1_s * sum_s_ + 0.5 * p.l2_s * trace_s;
    });
    if (!std::isfinite(record.objective))
      NMF_THROW_REPLICATED(ExitCode::failure, "the objective is not finite at iteration " +
                                                  std::to_string(record.iteration) +
                                                  "; the factors overflowed (try another --seed, a smaller k or "
                                                  "penalties)");
  }

  // Rescales column q of A and row q of S by d_q and 1/d_q so their norms match; A S does not change. The
  // Gram matrices, gathered blocks and the pending projected-gradient rows follow the same scaling.
  void balance_scales() {
    timed(phases_.evaluation, [&] {
      std::vector<double> d(static_cast<std::size_t>(k_), 1.0);
      for (index_t q = 0; q < k_; ++q) {
        const double a = gram_a_replicated_(q, q), s = gram_s_replicated_(q, q);
        if (a > 0.0 && s > 0.0) d[static_cast<std::size_t>(q)] = std::pow(s / a, 0.25);
      }
      std::vector<double> inverse(d.size());
      for (std::size_t q = 0; q < d.size(); ++q) inverse[q] = 1.0 / d[q];
      auto scale_rows = [&](DenseMatrix& m, bool by_inverse) {
        const double* factor = by_inverse ? inverse.data() : d.data();
        for (index_t j = 0; j < m.cols(); ++j) {
          double* column = m.col(j);
          for (index_t q = 0; q < k_; ++q) column[q] *= factor[q];
        }
      };
      scale_rows(f_.a_t, false);
      scale_rows(a_t_rowblock_, false);
      scale_rows(f_.s, true);
      scale_rows(s_colblock_, true);
      scale_rows(cross_local_, true);  // S X^T becomes D^-1 S X^T, so <S X^T, A^T> keeps its value
      for (index_t q = 0; q < k_; ++q) {
        for (index_t p = 0; p < k_; ++p) {
          gram_a_replicated_(p, q) *= d[p] * d[q];
          gram_s_replicated_(p, q) /= d[p] * d[q];
        }
      }
      // The A gradient of the balanced factors is D^-1 times the old one, row by row.
      for (std::size_t q = 0; q < pg_a_rows_.size(); ++q) pg_a_rows_[q] /= d[q] * d[q];
    });
  }

  const ProcessGrid& grid_;
  const DistMatrix& x_;
  LocalSolver& solver_;
  const DriverOptions& options_;
  Factors& f_;
  const index_t k_;
  const LocalProducts products_;
  const bool want_pg_, balance_;
  const bool direct_error_affordable_;    // same on every rank: it depends on global facts only
  const HeldOutEntries* held_out_;        // the masked path, or null
  double heldout_value_sq_ = 0.0;         // sum of squares of all held-out entries
  DenseMatrix corrections_partial_;       // this block's Gram corrections for the held-out entries
  DenseMatrix corrections_local_;         // their sum for this rank's columns (k*k x count)
  std::vector<index_t> a_counts_in_row_;  // rows of A held by each rank of this grid row
  std::vector<index_t> s_counts_in_col_;  // columns of S held by each rank of this grid column
  DenseMatrix a_t_rowblock_;              // k x n_i: A's row block i, gathered over the grid row
  DenseMatrix s_colblock_;                // k x m_j: S's column block j, gathered over the grid column
  DenseMatrix product_partial_;           // this block's share of A^T X (k x m_j) or S X^T (k x n_i)
  DenseMatrix cross_local_;               // A^T X for this rank's S columns, or S X^T for its A rows
  bool cross_is_for_s_ = false;           // which of the two cross_local_ holds
  bool cross_current_ = false;            // whether it was formed from the current factors
  DenseMatrix gram_a_replicated_;         // A^T A
  DenseMatrix gram_s_replicated_;         // S S^T
  double sum_a_ = 0, sum_s_ = 0;          // sums of all entries of A and S
  std::vector<double> pg_a_rows_;         // this rank's A part of the projected gradient, per row of A^T
  double pg_initial_ = 0;
  std::vector<double> reduce_buffer_;
  FactorCollectives collectives_;
  PhaseSeconds phases_;
  double start_time_ = 0;
  int direct_evaluations_ = 0;
};

std::optional<std::string> first_stop(const StopRules& rules, const IterationRecord& record) {
  for (const auto& rule : rules)
    if (auto reason = rule->check(record)) return reason;
  return std::nullopt;
}

}  // namespace

FactorizationResult AlternatingFactorization::run(Factors initial, const StopRules& rules,
                                                  IterationObserver* observer) {
  NMF_REQUIRE(options_.eval_every >= 1, Error, "eval_every must be at least 1");
  bool want_pg = false;
  for (const auto& rule : rules) want_pg = want_pg || rule->needs_projected_gradient();
  if (options_.held_out) {
    NMF_REQUIRE(
        solver_.supports_masks(), UsageError,
        "--algo " + solver_.name() + " cannot leave entries out of its loss (cross-validation): use hals or als");
    NMF_REQUIRE(!want_pg, UsageError, "--tol-pg is not available with cross-validation");
  }

  FactorizationResult result;
  result.factors = std::move(initial);
  Iteration it(grid_, x_, solver_, options_, result.factors, want_pg);

  IterationRecord record = it.start();
  const double bytes_before = it.bytes_moved();
  it.reset_phases();
  std::optional<std::string> stop = first_stop(rules, record);
  while (!stop) {
    // The projected gradient of `record` is known only once the next iteration's first product is done.
    it.begin_next(record);
    if (want_pg && (stop = first_stop(rules, record))) break;
    if (record.evaluated) {
      result.history.push_back(record);
      if (observer) observer->on_iteration(record);
    }
    const IterationRecord previous_evaluated = result.history.back();
    const int iteration = record.iteration + 1;
    record = it.finish(iteration, iteration % options_.eval_every == 0);
    if (record.evaluated)
      record.objective_change = (previous_evaluated.objective - record.objective) / previous_evaluated.objective;
    stop = first_stop(rules, record);
  }
  if (!record.evaluated) it.evaluate_now(record);
  if (result.history.empty() || result.history.back().iteration != record.iteration) {
    result.history.push_back(record);
    if (observer) observer->on_iteration(record);
  } else {
    result.history.back() = record;  // the projected gradient arrived after it was first recorded
  }

  result.iterations = record.iteration;
  result.stop_reason = *stop;
  result.relative_error = record.relative_error;
  result.objective = record.objective;
  result.heldout_error = record.heldout_error;
  result.seconds = record.seconds;
  result.phases = it.phases();
  result.ridges = solver_.ridges_added();
  result.direct_error_evaluations = it.direct_evaluations();
  double bytes_local = it.bytes_moved() - bytes_before, bytes_total = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&bytes_local, &bytes_total, 1, MPI_DOUBLE, MPI_SUM, grid_.comm()));
  result.comm_bytes_per_iteration = result.iterations > 0 ? bytes_total / result.iterations : 0.0;
  return result;
}

}  // namespace nmf
