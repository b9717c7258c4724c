#include "nmf/driver/factorization.hpp"

#include <cmath>

#include "nmf/distribution/collectives.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/products.hpp"
#include "nmf/kernels/random.hpp"

namespace nmf {

std::optional<std::string> MaxIterations::check(const IterationRecord& current) const {
  if (current.iteration >= limit_) return std::string("max_iterations");
  return std::nullopt;
}

std::optional<std::string> ErrorChangeBelow::check(const IterationRecord& current) const {
  if (current.iteration >= 1 && std::abs(current.change) < tol_) return std::string("tolerance");
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

// Everything one run keeps between phases. Names say how each matrix is distributed.
struct AlternatingFactorization::Workspace {
  std::vector<index_t> a_counts_in_row;  // rows of A held by each rank of this grid row
  std::vector<index_t> s_counts_in_col;  // columns of S held by each rank of this grid column
  DenseMatrix a_t_rowblock;              // k x n_i: A's row block i, gathered over the grid row
  DenseMatrix s_colblock;                // k x m_j: S's column block j, gathered over the grid column
  DenseMatrix product_partial;           // k x m_j or k x n_i: this block's share of A^T X or S X^T
  DenseMatrix cross_local;               // k x count: A^T X for this rank's S columns, or S X^T for its A rows
  DenseMatrix gram_a_replicated;         // A^T A
  DenseMatrix gram_s_replicated;         // S S^T
  std::vector<double> reduce_buffer;     // k*k Gram + extra scalars in one all-reduce
  FactorCollectives collectives;
  PhaseSeconds phases;
};

namespace {

double elapsed_since(double start) {
  return MPI_Wtime() - start;
}

// Runs f() and adds its wall time to `seconds`.
template <class F>
void timed(double& seconds, F&& f) {
  const double start = MPI_Wtime();
  f();
  seconds += elapsed_since(start);
}

}  // namespace

AlternatingFactorization::AlternatingFactorization(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver)
    : grid_(grid), x_(x), solver_(solver) {}

FactorizationResult AlternatingFactorization::run(Factors initial, const std::vector<std::unique_ptr<StopRule>>& rules,
                                                  IterationObserver* observer) {
  const Layout& layout = x_.layout;
  const GridShape shape = grid_.shape();
  const index_t k = initial.a_t.rows();
  Workspace w;
  for (int j = 0; j < shape.cols; ++j)
    w.a_counts_in_row.push_back(layout.a_slices.size(layout.a_slice_of(grid_.row(), j)));
  for (int i = 0; i < shape.rows; ++i)
    w.s_counts_in_col.push_back(layout.s_slices.size(layout.s_slice_of(i, grid_.col())));

  FactorizationResult result;
  result.factors = std::move(initial);
  Factors& f = result.factors;

  // Gram matrix of a factor slice, summed over all ranks, with `extra` local scalars summed alongside.
  auto all_reduce_gram = [&](const DenseMatrix& slice, DenseMatrix& gram_replicated, std::vector<double> extra) {
    timed(w.phases.gram, [&] { gram(slice, gram_replicated); });
    w.reduce_buffer.assign(gram_replicated.values().begin(), gram_replicated.values().end());
    w.reduce_buffer.insert(w.reduce_buffer.end(), extra.begin(), extra.end());
    timed(w.phases.collectives, [&] { w.collectives.allreduce_sum(grid_.comm(), w.reduce_buffer); });
    std::copy(w.reduce_buffer.begin(), w.reduce_buffer.begin() + k * k, gram_replicated.values().begin());
    return std::vector<double>(w.reduce_buffer.begin() + k * k, w.reduce_buffer.end());
  };
  auto gather_s = [&] {
    timed(w.phases.collectives,
          [&] { w.collectives.allgather(grid_.col_comm(), f.s, w.s_counts_in_col, w.s_colblock); });
    all_reduce_gram(f.s, w.gram_s_replicated, {});
  };
  auto cross_for_a = [&] {  // S X^T for this rank's rows of A
    timed(w.phases.local_products, [&] { multiply_s_xt(w.s_colblock, x_.block, w.product_partial); });
    timed(w.phases.collectives,
          [&] { w.collectives.reduce_scatter(grid_.row_comm(), w.product_partial, w.a_counts_in_row, w.cross_local); });
  };
  auto cross_for_s = [&] {  // A^T X for this rank's columns of S
    timed(w.phases.local_products, [&] { multiply_at_x(w.a_t_rowblock, x_.block, w.product_partial); });
    timed(w.phases.collectives,
          [&] { w.collectives.reduce_scatter(grid_.col_comm(), w.product_partial, w.s_counts_in_col, w.cross_local); });
  };
  // Gathers A, forms A^T A and returns the relative error of (A, S), given cross_local = S X^T.
  auto gather_a_and_error = [&] {
    timed(w.phases.collectives,
          [&] { w.collectives.allgather(grid_.row_comm(), f.a_t, w.a_counts_in_row, w.a_t_rowblock); });
    const double cross_dot_local = frobenius_dot(w.cross_local, f.a_t);
    const double cross_dot = all_reduce_gram(f.a_t, w.gram_a_replicated, {cross_dot_local})[0];
    const double residual_sq =
        x_.stats.frobenius_sq - 2.0 * cross_dot + frobenius_dot(w.gram_a_replicated, w.gram_s_replicated);
    // Round-off can push a tiny residual below zero.
    return std::sqrt(std::max(residual_sq, 0.0)) / std::sqrt(x_.stats.frobenius_sq);
  };
  auto update = [&](FactorSide side, const DenseMatrix& gram_replicated, DenseMatrix& factor, int iteration) {
    timed(w.phases.update, [&] {
      collectively(grid_.comm(), [&] { solver_.update({side, gram_replicated, w.cross_local, iteration}, factor); });
    });
  };

  // Iteration 0: the error of the initial factors.
  gather_s();
  cross_for_a();
  IterationRecord record{0, gather_a_and_error(), 0.0, 0.0};
  result.history.push_back(record);
  if (observer) observer->on_iteration(record);
  const double bytes_before = w.collectives.bytes_moved();
  w.phases = PhaseSeconds{};

  const double start = MPI_Wtime();
  std::optional<std::string> stop;
  for (const auto& rule : rules)
    if (!stop) stop = rule->check(record);
  while (!stop) {
    const int iteration = record.iteration + 1;
    cross_for_s();
    update(FactorSide::S, w.gram_a_replicated, f.s, iteration);
    gather_s();
    cross_for_a();
    update(FactorSide::A, w.gram_s_replicated, f.a_t, iteration);
    const double error = gather_a_and_error();
    if (!std::isfinite(error))
      NMF_THROW_REPLICATED(ExitCode::failure, "the relative error is not finite at iteration " +
                                                  std::to_string(iteration) +
                                                  "; the factors overflowed (try another --seed or a smaller k)");
    record = IterationRecord{iteration, error, record.relative_error - error, elapsed_since(start)};
    result.history.push_back(record);
    if (observer) observer->on_iteration(record);
    for (const auto& rule : rules)
      if (!stop) stop = rule->check(record);
  }

  result.iterations = record.iteration;
  result.stop_reason = *stop;
  result.relative_error = record.relative_error;
  result.seconds = elapsed_since(start);
  result.phases = w.phases;
  result.ridges = solver_.ridges_added();
  double bytes_local = w.collectives.bytes_moved() - bytes_before, bytes_total = 0;
  NMF_MPI_CHECK(MPI_Allreduce(&bytes_local, &bytes_total, 1, MPI_DOUBLE, MPI_SUM, grid_.comm()));
  result.comm_bytes_per_iteration = result.iterations > 0 ? bytes_total / result.iterations : 0.0;
  return result;
}

}  // namespace nmf
