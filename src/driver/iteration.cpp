#include "iteration.hpp"

#include <cmath>

#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nmf/linalg/tall_skinny_qr.hpp"

namespace nmf::detail {

namespace {

// Runs f() and adds its wall time to `seconds`.
template <class F>
void timed(double& seconds, F&& f) {
  const double start = MPI_Wtime();
  f();
  seconds += MPI_Wtime() - start;
}

DenseMatrix penalized(const DenseMatrix& gram_replicated, double l2) {
  DenseMatrix g = gram_replicated;
  for (index_t q = 0; q < g.rows(); ++q) g(q, q) += l2;
  return g;
}

DenseMatrix shifted(const DenseMatrix& cross, double l1) {
  DenseMatrix c = cross;
  for (double& v : c.values()) v -= l1;
  return c;
}

double sum_of(const DenseMatrix& m) {
  double sum = 0.0;
  for (double v : m.values()) sum += v;
  return sum;
}

double trace(const DenseMatrix& m) {
  double sum = 0.0;
  for (index_t q = 0; q < m.rows(); ++q) sum += m(q, q);
  return sum;
}

// The columns of `block` that belong to member `member` of the communicator that shares it.
void extract_slice(const DenseMatrix& block, const std::vector<index_t>& counts, int member, DenseMatrix& slice) {
  index_t first = 0;
  for (int r = 0; r < member; ++r) first += counts[static_cast<std::size_t>(r)];
  const index_t count = counts[static_cast<std::size_t>(member)];
  slice.reshape(block.rows(), count);
  std::copy(block.col(first), block.col(first) + block.rows() * count, slice.data());
}

}  // namespace

Iteration::Iteration(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver, Loss& loss,
                     const DriverOptions& options, Factors& factors, bool projected_gradient)
    : grid_(grid),
      x_(x),
      solver_(solver),
      loss_(loss),
      options_(options),
      f_(factors),
      k_(factors.a_t.rows()),
      products_(x.block, factors.a_t.rows()),
      want_pg_(projected_gradient),
      balance_(solver.wants_balanced_scaling() && !options.penalties.any()) {
  const Layout& layout = x.layout;
  for (int j = 0; j < grid.shape().cols; ++j)
    a_counts_in_row_.push_back(layout.a_slices.size(layout.a_slice_of(grid.row(), j)));
  for (int i = 0; i < grid.shape().rows; ++i)
    s_counts_in_col_.push_back(layout.s_slices.size(layout.s_slice_of(i, grid.col())));
}

void Iteration::start_clock(double seconds_before) {
  start_time_ = MPI_Wtime() - seconds_before;
}

std::vector<double> Iteration::carried_state() const {
  std::vector<double> values(gram_a_replicated_.values().begin(), gram_a_replicated_.values().end());
  values.push_back(pg_initial_);
  return values;
}

void Iteration::restore_carried_state(const std::vector<double>& values) {
  NMF_REQUIRE(static_cast<index_t>(values.size()) == k_ * k_ + 1, InputError,
              "a checkpoint's Gram matrix has the wrong size");
  gram_a_replicated_.resize(k_, k_);
  std::copy(values.begin(), values.end() - 1, gram_a_replicated_.values().begin());
  pg_initial_ = values.back();
}

// --- updates --------------------------------------------------------------------------------------------------

void Iteration::update(FactorSide side, int iteration) {
  if (solver_.scope() == UpdateScope::gathered_block)
    update_gathered_block(side, iteration);
  else
    update_slice(side, iteration);
}

void Iteration::update_slice(FactorSide side, int iteration) {
  if (solver_.solves_by_qr()) return update_slice_by_qr(side, iteration);
  const bool s_side = side == FactorSide::S;
  const Penalties& p = options_.penalties;
  timed(phases_.update, [&] {
    const DenseMatrix gram = penalized(s_side ? gram_a_replicated_ : gram_s_replicated_, s_side ? p.l2_s : p.l2_a);
    const DenseMatrix* corrections =
        loss_.corrects_gram() ? (s_side ? &at_x_.corrections_local : &s_xt_.corrections_local) : nullptr;
    const UpdateInputs inputs{side,      gram,       s_side ? at_x_.local : s_xt_.local, s_side ? p.l1_s : p.l1_a,
                              iteration, corrections};
    collectively(grid_.comm(), [&] { solver_.update(inputs, s_side ? f_.s : f_.a_t); });
  });
  collectives_.count_agreement(grid_.comm());  // the all-reduce that ends `collectively`
}

// The S update from A = Q R: S = R^-1 Q^T X, Q^T X being what product_at_x makes with Q in the place of A; the A
// update from S^T = Q R likewise with the S X^T product. The QR's and the product's collectives count as update time.
void Iteration::update_slice_by_qr(FactorSide side, int iteration) {
  const bool s_side = side == FactorSide::S;
  const Penalties& p = options_.penalties;
  timed(phases_.update, [&] {
    if (!qr_products_) qr_products_ = std::make_unique<SliceProducts>(grid_, x_, k_);
    const ThinQr qr = s_side ? tall_skinny_qr(grid_, a_row_slices(x_.layout), f_.a_t)
                             : tall_skinny_qr(grid_, s_row_slices(x_.layout), f_.s);
    const DenseMatrix cross =
        s_side ? qr_products_->transposed_times_x(qr.q_t_local) : qr_products_->x_times(qr.q_t_local);
    const DenseMatrix gram = penalized(s_side ? gram_a_replicated_ : gram_s_replicated_, s_side ? p.l2_s : p.l2_a);
    UpdateInputs inputs{side, gram, cross, 0.0, iteration};
    inputs.r_factor = &qr.r_replicated;
    collectively(grid_.comm(), [&] { solver_.update(inputs, s_side ? f_.s : f_.a_t); });
  });
}

// Each rank updates the gathered block from its own block of X; the ranks sharing the block (the grid column
// for S, the grid row for A) average their versions, and each keeps its slice.
void Iteration::update_gathered_block(FactorSide side, int iteration) {
  const bool s_side = side == FactorSide::S;
  DenseMatrix& block = s_side ? s_colblock_ : a_t_rowblock_;
  timed(phases_.update, [&] {
    UpdateInputs inputs{side, s_side ? gram_a_replicated_ : gram_s_replicated_, s_side ? at_x_.local : s_xt_.local, 0.0,
                        iteration};
    inputs.x = &x_.block;
    inputs.other_block = s_side ? &a_t_rowblock_ : &s_colblock_;
    inputs.rank = grid_.rank();
    collectively(grid_.comm(), [&] { solver_.update(inputs, block); });
  });
  collectives_.count_agreement(grid_.comm());  // the all-reduce that ends `collectively`
  timed(phases_.collectives,
        [&] { collectives_.allreduce_average(s_side ? grid_.col_comm() : grid_.row_comm(), block); });
  if (s_side)
    extract_slice(block, s_counts_in_col_, grid_.row(), f_.s);
  else
    extract_slice(block, a_counts_in_row_, grid_.col(), f_.a_t);
}

// --- sharing the factors --------------------------------------------------------------------------------------

// Local SYRK of a factor slice, all-reduced with `extras` (local scalars summed alongside).
void Iteration::all_reduce_gram(const DenseMatrix& slice, DenseMatrix& gram_replicated, std::vector<double>& extras) {
  timed(phases_.gram, [&] { gram(slice, gram_replicated); });
  reduce_buffer_.assign(gram_replicated.values().begin(), gram_replicated.values().end());
  reduce_buffer_.insert(reduce_buffer_.end(), extras.begin(), extras.end());
  timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), reduce_buffer_); });
  std::copy(reduce_buffer_.begin(), reduce_buffer_.begin() + k_ * k_, gram_replicated.values().begin());
  std::copy(reduce_buffer_.begin() + k_ * k_, reduce_buffer_.end(), extras.begin());
}

void Iteration::share_s(bool gather) {
  if (gather)
    timed(phases_.collectives, [&] { collectives_.allgather(grid_.col_comm(), f_.s, s_counts_in_col_, s_colblock_); });
  std::vector<double> extras{sum_of(f_.s)};
  all_reduce_gram(f_.s, gram_s_replicated_, extras);
  sum_s_ = extras[0];
}

IterationRecord Iteration::share_a(int iteration, bool evaluate, bool gather) {
  if (gather)
    timed(phases_.collectives,
          [&] { collectives_.allgather(grid_.row_comm(), f_.a_t, a_counts_in_row_, a_t_rowblock_); });
  // Extras: sum(A) for the L1 term, rank 0's clock for the time limit and, to evaluate, <S X^T, A^T> and the
  // loss's own sums.
  std::vector<double> extras{sum_of(f_.a_t), grid_.rank() == 0 ? MPI_Wtime() - start_time_ : 0.0};
  if (evaluate) {
    extras.push_back(frobenius_dot(s_xt_.local, f_.a_t));
    const std::vector<double> loss_sums = loss_.local_sums(a_t_rowblock_, s_colblock_);
    extras.insert(extras.end(), loss_sums.begin(), loss_sums.end());
  }
  all_reduce_gram(f_.a_t, gram_a_replicated_, extras);
  sum_a_ = extras[0];
  IterationRecord record;
  record.iteration = iteration;
  record.seconds = iteration == 0 ? 0.0 : extras[1];
  if (evaluate) fill_objective(record, extras[2], std::vector<double>(extras.begin() + 3, extras.end()));
  return record;
}

// --- the products -----------------------------------------------------------------------------------------------

// The local product for the `side` update (A^T X for S, S X^T for A), the loss's corrections, and the
// reduce-scatter of both over the ranks sharing that factor (the grid column for S, the grid row for A).
void Iteration::form_product(FactorSide side) {
  const bool s_side = side == FactorSide::S;
  Product& product = s_side ? at_x_ : s_xt_;
  const MPI_Comm sharing = s_side ? grid_.col_comm() : grid_.row_comm();
  const bool alone = (s_side ? grid_.shape().rows : grid_.shape().cols) == 1;
  DenseMatrix& partial = alone ? product.local : product.partial;
  DenseMatrix& corrections_partial = alone ? product.corrections_local : product.corrections_partial;
  timed(phases_.local_products, [&] {
    if (s_side)
      products_.at_x(a_t_rowblock_, partial);
    else
      products_.s_xt(s_colblock_, partial);
  });
  const bool corrects_gram = loss_.corrects_gram();
  timed(phases_.evaluation, [&] {
    if (corrects_gram) corrections_partial.resize(k_ * k_, partial.cols());
    loss_.correct_products(side, s_side ? a_t_rowblock_ : s_colblock_, partial, corrections_partial);
  });
  if (alone) return;
  const std::vector<index_t>& counts = s_side ? s_counts_in_col_ : a_counts_in_row_;
  if (corrects_gram)
    timed(phases_.collectives,
          [&] { collectives_.reduce_scatter(sharing, corrections_partial, counts, product.corrections_local); });
  timed(phases_.collectives, [&] { collectives_.reduce_scatter(sharing, partial, counts, product.local); });
}

void Iteration::product_s_xt() {
  form_product(FactorSide::A);
}

void Iteration::product_at_x() {
  form_product(FactorSide::S);
}

// --- evaluation -------------------------------------------------------------------------------------------------

void Iteration::fill_objective(IterationRecord& record, double x_dot_as, const std::vector<double>& loss_sums) {
  LossValue value;
  timed(phases_.evaluation, [&] {
    const LossInputs inputs{gram_a_replicated_, gram_s_replicated_, x_dot_as, loss_sums, a_t_rowblock_, s_colblock_};
    value = loss_.evaluate(inputs, collectives_);
  });
  if (value.direct) ++direct_evaluations_;
  const Penalties& p = options_.penalties;
  record.evaluated = true;
  record.relative_error = value.relative_error;
  record.heldout_error = value.heldout_error;
  record.objective = 0.5 * value.residual_sq + p.l1_a * sum_a_ + 0.5 * p.l2_a * trace(gram_a_replicated_) +
                     p.l1_s * sum_s_ + 0.5 * p.l2_s * trace(gram_s_replicated_);
  if (!std::isfinite(record.objective))
    NMF_THROW_REPLICATED(ExitCode::failure, "the objective is not finite at iteration " +
                                                std::to_string(record.iteration) +
                                                "; the factors overflowed (try another --seed, a smaller k or "
                                                "penalties)");
}

void Iteration::evaluate_now(IterationRecord& record) {
  product_s_xt();
  std::vector<double> sums{frobenius_dot(s_xt_.local, f_.a_t)};
  const std::vector<double> loss_sums = loss_.local_sums(a_t_rowblock_, s_colblock_);
  sums.insert(sums.end(), loss_sums.begin(), loss_sums.end());
  timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), sums); });
  fill_objective(record, sums[0], std::vector<double>(sums.begin() + 1, sums.end()));
}

double Iteration::projected_gradient() {
  double norm = 0.0;
  timed(phases_.evaluation, [&] {
    const Penalties& p = options_.penalties;
    std::vector<double> rows(static_cast<std::size_t>(k_), 0.0);
    add_projected_gradient_row_norms(penalized(gram_s_replicated_, p.l2_a), shifted(s_xt_.local, p.l1_a), f_.a_t, rows);
    add_projected_gradient_row_norms(penalized(gram_a_replicated_, p.l2_s), shifted(at_x_.local, p.l1_s), f_.s, rows);
    std::vector<double> total{0.0};
    for (double v : rows) total[0] += v;
    timed(phases_.collectives, [&] { collectives_.allreduce_sum(grid_.comm(), total); });
    norm = std::sqrt(total[0]);
  });
  if (pg_initial_ == 0.0) pg_initial_ = norm;
  return pg_initial_ > 0.0 ? norm / pg_initial_ : 0.0;
}

// --- balancing --------------------------------------------------------------------------------------------------

void Iteration::balance_scales() {
  timed(phases_.evaluation, [&] {
    std::vector<double> d(static_cast<std::size_t>(k_), 1.0);
    for (index_t q = 0; q < k_; ++q) {
      const double a = gram_a_replicated_(q, q), s = gram_s_replicated_(q, q);
      if (a > 0.0 && s > 0.0) d[static_cast<std::size_t>(q)] = std::pow(s / a, 0.25);
    }
    std::vector<double> inverse(d.size());
    for (std::size_t q = 0; q < d.size(); ++q) inverse[q] = 1.0 / d[q];
    auto scale_rows = [&](DenseMatrix& m, const std::vector<double>& factor) {
      for (index_t j = 0; j < m.cols(); ++j) {
        double* column = m.col(j);
        for (index_t q = 0; q < k_; ++q) column[q] *= factor[static_cast<std::size_t>(q)];
      }
    };
    scale_rows(f_.a_t, d);
    scale_rows(a_t_rowblock_, d);
    scale_rows(f_.s, inverse);
    scale_rows(s_colblock_, inverse);
    scale_rows(s_xt_.local, inverse);  // S X^T becomes D^-1 S X^T, so <S X^T, A^T> keeps its value
    for (index_t q = 0; q < k_; ++q) {
      for (index_t p = 0; p < k_; ++p) {
        gram_a_replicated_(p, q) *= d[static_cast<std::size_t>(p)] * d[static_cast<std::size_t>(q)];
        gram_s_replicated_(p, q) /= d[static_cast<std::size_t>(p)] * d[static_cast<std::size_t>(q)];
      }
    }
  });
}

}  // namespace nmf::detail
