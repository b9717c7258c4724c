#include "nmf/driver/ratings_factorization.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "loss_observed.hpp"
#include "nmf/distribution/collectives.hpp"
#include "nmf/kernels/random.hpp"

namespace nmf {

RatingsSplit ratings_with_test_set(const DistMatrix& x, std::vector<Triplet> test) {
  NMF_REQUIRE(x.block.storage == Storage::sparse, UsageError,
              "the recommender mode needs the ratings stored sparse (drop --storage dense)");
  RatingsSplit split;
  split.train = make_observed_block(x.block.csr);
  split.test = std::move(test);
  return split;
}

RatingsSplit split_ratings_by(const CompressedMatrix& all, const Layout& layout, const ProcessGrid& grid,
                              const std::function<bool(std::uint64_t)>& held_out) {
  const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
  const auto m = static_cast<std::uint64_t>(layout.m);
  CompressedMatrix train;
  train.rows = all.rows;
  train.cols = all.cols;
  train.ptr.assign(static_cast<std::size_t>(all.rows + 1), 0);
  train.index.reserve(static_cast<std::size_t>(all.nnz()));  // no doubling growth on a block of millions
  train.values.reserve(static_cast<std::size_t>(all.nnz()));
  RatingsSplit split;
  for (index_t i = 0; i < all.rows; ++i) {
    for (index_t p = all.ptr[i]; p < all.ptr[i + 1]; ++p) {
      const index_t j = all.index[p];
      if (held_out(static_cast<std::uint64_t>(row0 + i) * m + static_cast<std::uint64_t>(col0 + j))) {
        split.test.push_back({i, j, all.values[p]});
      } else {
        train.index.push_back(j);
        train.values.push_back(all.values[p]);
      }
    }
    train.ptr[i + 1] = static_cast<index_t>(train.index.size());
  }
  split.train = make_observed_block(std::move(train));
  return split;
}

RatingsSplit split_ratings(const DistMatrix& x, const ProcessGrid& grid, double fraction, std::uint64_t seed) {
  NMF_REQUIRE(x.block.storage == Storage::sparse, UsageError,
              "the recommender mode needs the ratings stored sparse (drop --storage dense)");
  return split_ratings_by(x.block.csr, x.layout, grid,
                          [&](std::uint64_t key) { return uniform01(seed, RandomStream::test_set, key) < fraction; });
}

RatingsFactorization::RatingsFactorization(const ProcessGrid& grid, const Layout& layout, RatingsSplit& data,
                                           ObservedSolver& solver, RatingsOptions options)
    : grid_(grid), layout_(layout), data_(data), solver_(solver), options_(options) {}

namespace {

// The state of one run on this rank, and the steps of an iteration.
class RatingsIteration {
 public:
  RatingsIteration(const ProcessGrid& grid, const Layout& layout, RatingsSplit& data, const RatingsOptions& options,
                   int k)
      : grid_(grid), layout_(layout), data_(data), options_(options), k_(k) {
    ObservedBlock& train = data_.train;
    a_own_begin_ =
        layout.a_slices.begin(layout.a_slice_of(grid.row(), grid.col())) - layout.row_blocks.begin(grid.row());
    a_own_count_ = layout.a_slices.size(layout.a_slice_of(grid.row(), grid.col()));
    s_own_begin_ =
        layout.s_slices.begin(layout.s_slice_of(grid.row(), grid.col())) - layout.col_blocks.begin(grid.col());
    s_own_count_ = layout.s_slices.size(layout.s_slice_of(grid.row(), grid.col()));
    a_rowblock_ = DenseMatrix(train.rows, k);
    s_colblock_ = DenseMatrix(train.cols, k);
    row_bias_.assign(static_cast<std::size_t>(train.rows), 0.0);
    col_bias_.assign(static_cast<std::size_t>(train.cols), 0.0);
    a_group_ = sharing_group(grid.shape().cols, grid.col(), [&](int c) {
      return layout.a_slices.begin(layout.a_slice_of(grid.row(), c)) - layout.row_blocks.begin(grid.row());
    });
    s_group_ = sharing_group(grid.shape().rows, grid.row(), [&](int r) {
      return layout.s_slices.begin(layout.s_slice_of(r, grid.col())) - layout.col_blocks.begin(grid.col());
    });
    a_group_.slice_offsets.back() = train.rows;
    s_group_.slice_offsets.back() = train.cols;
    slices_.a_t = DenseMatrix(k, a_own_count_);
    slices_.s = DenseMatrix(k, s_own_count_);
    row_bias_slice_ = DenseMatrix(1, a_own_count_);
    col_bias_slice_ = DenseMatrix(1, s_own_count_);
    for (int r = 0; r < grid.size(); ++r) {
      const int row = r / grid.shape().cols, col = r % grid.shape().cols;
      const int a = layout.a_slice_of(row, col), s = layout.s_slice_of(row, col);
      owned_slices_.push_back(
          {layout.a_slices.begin(a), layout.a_slices.end(a), layout.s_slices.begin(s), layout.s_slices.end(s)});
    }
  }

  // Collective: the counts per row and column (over the grid row and column), the global mean and range of the
  // training ratings, the initial factors, and the residuals x - mu.
  void start() {
    ObservedBlock& train = data_.train;
    count_ratings(train, row_counts_, col_counts_);
    sum_over(FactorSide::A, row_counts_);
    sum_over(FactorSide::S, col_counts_);
    double totals[2] = {0, static_cast<double>(train.entries())};
    double range[2] = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    for (double x : train.csr.values) {
      totals[0] += x;
      range[0] = std::min(range[0], x);
      range[1] = std::min(range[1], -x);
    }
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, totals, 2, MPI_DOUBLE, MPI_SUM, grid_.comm()));
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_DOUBLE, MPI_MIN, grid_.comm()));
    if (totals[1] == 0)
      NMF_THROW_REPLICATED(ExitCode::bad_input, "no training ratings are left (every rating is in the test set)");
    train_ratings_ = static_cast<index_t>(totals[1]);
    mu_ = totals[0] / totals[1];
    if (options_.clip) {
      low_ = range[0];
      high_ = -range[1];
    }
    for (double& r : train.residual) r -= mu_;
    // A: uniform on [0, 1/sqrt(k)) keyed by (seed, global row), so the same on every rank of a grid row and for
    // any number of ranks; rows without training ratings stay 0 (cold starts). S = 0: CCD++ starts with S.
    const index_t row0 = layout_.row_blocks.begin(grid_.row());
    const double scale = 1.0 / std::sqrt(static_cast<double>(k_));
    const auto k64 = static_cast<std::uint64_t>(k_);
    for (index_t i = 0; i < a_rowblock_.rows(); ++i) {
      if (row_counts_[i] == 0) continue;
      const auto row = static_cast<std::uint64_t>(row0 + i);
      for (index_t f = 0; f < k_; ++f)
        a_rowblock_(i, f) =
            scale * uniform01(options_.seed, RandomStream::factor_A, row * k64 + static_cast<std::uint64_t>(f));
    }
  }

  // Collective over the grid row (side A) or column (side S): sums `values` in place.
  void sum_over(FactorSide side, std::vector<double>& values) {
    const double t0 = MPI_Wtime();
    const MPI_Comm comm = side == FactorSide::A ? grid_.row_comm() : grid_.col_comm();
    const int ranks = side == FactorSide::A ? grid_.shape().cols : grid_.shape().rows;
    if (ranks > 1) {
      NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data(), mpi_count(static_cast<index_t>(values.size()), "sums"),
                                  MPI_DOUBLE, MPI_SUM, comm));
      bytes_ += 8.0 * 2.0 * (ranks - 1) / ranks * static_cast<double>(values.size());  // as FactorCollectives counts
    }
    collective_seconds_ += MPI_Wtime() - t0;
  }

  // Collective: b_i = sum_j (r_ij + b_i) / (lambda_bias + n_i) over the grid row, then c_j likewise over the grid
  // column; the residuals follow. A row without ratings keeps 0 (0 / lambda_bias, or 0 when lambda_bias is 0).
  void update_biases() {
    ObservedBlock& train = data_.train;
    update_bias(
        FactorSide::A, row_bias_, row_counts_, [&](double* sums) { row_residual_sums(train, sums); },
        [&](const double* shift) { shift_rows(train, shift); });
    update_bias(
        FactorSide::S, col_bias_, col_counts_, [&](double* sums) { column_residual_sums(train, sums); },
        [&](const double* shift) { shift_columns(train, shift); });
  }

  ObservedUpdate update_inputs() {
    ObservedUpdate u{data_.train,
                     a_rowblock_,
                     s_colblock_,
                     row_counts_,
                     col_counts_,
                     options_.lambda,
                     options_.lambda,
                     mu_,
                     row_bias_,
                     col_bias_,
                     a_group_,
                     s_group_,
                     layout_.row_blocks.begin(grid_.row()),
                     layout_.col_blocks.begin(grid_.col()),
                     layout_.m,
                     layout_.n,
                     grid_.rank(),
                     grid_.size(),
                     owned_slices_,
                     [this](FactorSide side, std::vector<double>& values) { sum_over(side, values); },
                     [this](FactorSide side, const std::vector<double>& send, const std::vector<index_t>& send_counts,
                            std::vector<double>& received, const std::vector<index_t>& recv_counts) {
                       exchange(side, send, send_counts, received, recv_counts);
                     },
                     [this](FactorSide side, std::vector<double>& values, const std::vector<index_t>& counts) {
                       gather(side, values, counts);
                     },
                     [this](const std::vector<double>& send, const std::vector<index_t>& send_counts,
                            std::vector<double>& received, const std::vector<index_t>& recv_counts) {
                       exchange_in(grid_.comm(), grid_.rank(), send, send_counts, received, recv_counts);
                     },
                     [this](const std::vector<double>& send, std::vector<double>& received, index_t incoming) {
                       shift_ring(send, received, incoming);
                     }};
    return u;
  }

  // Collective over the grid row (side A) or column (side S), see exchange_in.
  void exchange(FactorSide side, const std::vector<double>& send, const std::vector<index_t>& send_counts,
                std::vector<double>& received, const std::vector<index_t>& recv_counts) {
    const bool rows = side == FactorSide::A;
    exchange_in(rows ? grid_.row_comm() : grid_.col_comm(), (rows ? a_group_ : s_group_).position, send, send_counts,
                received, recv_counts);
  }

  // Collective over `comm`, where this rank is `position`: nmf::alltoallv (an MPI_Alltoallv, split into rounds on
  // every rank when a count past MPI's int appears on any). Counted as the values received from the other ranks
  // (summed over the ranks, the words moved); the agreement on the plan is not counted.
  void exchange_in(MPI_Comm comm, int position, const std::vector<double>& send,
                   const std::vector<index_t>& send_counts, std::vector<double>& received,
                   const std::vector<index_t>& recv_counts) {
    const double t0 = MPI_Wtime();
    const std::vector<index_t> send_displs = packed_displacements(send_counts);
    const std::vector<index_t> recv_displs = packed_displacements(recv_counts);
    received.resize(static_cast<std::size_t>(recv_displs.back() + recv_counts.back()));
    alltoallv(comm, send.data(), send_counts, send_displs, received.data(), recv_counts, recv_displs, MPI_DOUBLE);
    bytes_ += 8.0 * static_cast<double>(received.size() - static_cast<std::size_t>(recv_counts[position]));
    collective_seconds_ += MPI_Wtime() - t0;
  }

  // Collective over the grid: MPI_Sendrecv to grid rank - 1 from grid rank + 1, counted as the values received.
  void shift_ring(const std::vector<double>& send, std::vector<double>& received, index_t incoming) {
    const double t0 = MPI_Wtime();
    const int ranks = grid_.size(), rank = grid_.rank();
    received.resize(static_cast<std::size_t>(incoming));
    NMF_MPI_CHECK(MPI_Sendrecv(send.data(), mpi_count(static_cast<index_t>(send.size()), "shifted values"), MPI_DOUBLE,
                               (rank + ranks - 1) % ranks, 0, received.data(), mpi_count(incoming, "shifted values"),
                               MPI_DOUBLE, (rank + 1) % ranks, 0, grid_.comm(), MPI_STATUS_IGNORE));
    bytes_ += 8.0 * static_cast<double>(incoming);
    collective_seconds_ += MPI_Wtime() - t0;
  }

  // Collective over the grid row (side A) or column (side S): nmf::allgatherv in place (split likewise), counted
  // as the values received from the other ranks.
  void gather(FactorSide side, std::vector<double>& values, const std::vector<index_t>& counts) {
    const double t0 = MPI_Wtime();
    const SharingGroup& group = side == FactorSide::A ? a_group_ : s_group_;
    const std::vector<index_t> displs = packed_displacements(counts);
    NMF_REQUIRE(static_cast<std::size_t>(displs.back() + counts.back()) == values.size(), Error,
                "gather: counts and length");
    if (group.ranks > 1) {
      allgatherv(side == FactorSide::A ? grid_.row_comm() : grid_.col_comm(), MPI_IN_PLACE, values.data(), counts,
                 displs, MPI_DOUBLE);
      bytes_ += 8.0 * static_cast<double>(values.size() - static_cast<std::size_t>(counts[group.position]));
    }
    collective_seconds_ += MPI_Wtime() - t0;
  }

  // Collective over the grid: rank 0's clock, and with `evaluate` the loss (one all-reduce either way).
  void finish_record(IterationRecord& record, bool evaluate) {
    const double t0 = MPI_Wtime();
    std::vector<double> sums;
    if (evaluate) sums = detail::observed_local_sums(model());
    sums.push_back(grid_.rank() == 0 ? MPI_Wtime() - start_time_ : 0.0);
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums.data(), mpi_count(static_cast<index_t>(sums.size()), "sums"),
                                MPI_DOUBLE, MPI_SUM, grid_.comm()));
    bytes_ += 8.0 * 2.0 * (grid_.size() - 1) / grid_.size() * static_cast<double>(sums.size());
    record.seconds = sums.back();
    record.evaluated = evaluate;
    if (evaluate) {
      sums.pop_back();
      const detail::ObservedLossValue value = detail::observed_loss(sums);
      record.objective = value.objective;
      record.relative_error = value.relative_error;
      record.rmse_train = value.rmse_train;
      record.rmse_test = value.rmse_test;
      record.mae_test = value.mae_test;
      mae_train_ = value.mae_train;
    }
    evaluation_seconds_ += MPI_Wtime() - t0;
  }

  // Local: the blocks cut to this rank's slices (nmf/factors.hpp, nmf/biases.hpp).
  Factors factors() {
    pack_slices();
    return slices_;
  }
  Biases biases() const {
    Biases b;
    b.mean = mu_;
    b.rows.assign(row_bias_.begin() + a_own_begin_, row_bias_.begin() + a_own_begin_ + a_own_count_);
    b.cols.assign(col_bias_.begin() + s_own_begin_, col_bias_.begin() + s_own_begin_ + s_own_count_);
    b.low = low_;
    b.high = high_;
    return b;
  }

  // What a checkpoint keeps after `record` (nmf/driver/checkpoint.hpp), in plain NMF's format: A's rows and S's
  // columns of this rank's slices in global order (k doubles each), the biases of the same rows and columns, the
  // global mean, and the residual of every training rating, a grid array (this grid's rank order): with it a
  // resumed run on the same grid continues with the same bits; on another grid it is recomputed from the factors
  // and biases (the same values up to rounding). The slices are copied out of the blocks only when one is
  // written (`prepare`).
  LoopState checkpoint_state(const IterationRecord& record, std::vector<IterationRecord>& history) {
    const index_t a_first = layout_.row_blocks.begin(grid_.row()) + a_own_begin_;
    const index_t s_first = layout_.col_blocks.begin(grid_.col()) + s_own_begin_;
    LoopState state;
    state.iteration = record.iteration;
    state.seconds = record.seconds;
    state.arrays = {{"A", layout_.n, k_, a_first, a_own_count_, slices_.a_t.data()},
                    {"S", layout_.m, k_, s_first, s_own_count_, slices_.s.data()},
                    {"bias_rows", layout_.n, 1, a_first, a_own_count_, row_bias_slice_.data()},
                    {"bias_cols", layout_.m, 1, s_first, s_own_count_, col_bias_slice_.data()}};
    state.replicated[kMean] = {mu_};
    state.grid_arrays = {
        {"residual", train_ratings_, 1, residual_first_, data_.train.entries(), data_.train.residual.data()}};
    state.history = &history;
    state.prepare = [this] { pack_slices(); };
    return state;
  }

  // Collective: with --resume, the state of a checkpoint in place of the initial one (after start(), which
  // counts the ratings and sets the clipping range as the run that wrote it did); false to start afresh.
  bool restore(IterationEndHook& hook, IterationRecord& record, std::vector<IterationRecord>& history) {
    LoopState state = checkpoint_state(record, history);
    if (!hook.restore(state)) return false;
    mu_ = state.replicated.at(kMean).at(0);
    unpack_slices();
    if (!state.grid_arrays_restored) recompute_residuals();
    start_time_ = grid_.rank() == 0 ? MPI_Wtime() - state.seconds : 0.0;
    record = IterationRecord{};
    record.iteration = state.iteration;
    record.seconds = state.seconds;
    if (!history.empty() && history.back().iteration == state.iteration) record = history.back();
    return true;
  }

  // Collective: the test ratings predicted as cold starts (see RatingsResult).
  void count_cold_starts(RatingsResult& result) const {
    index_t counts[5] = {static_cast<index_t>(data_.test.size()), 0, 0, 0, 0};
    for (const Triplet& t : data_.test) {
      if (t.row < 0 || row_counts_[t.row] == 0) ++counts[1];
      if (t.col < 0 || col_counts_[t.col] == 0) ++counts[2];
      if (t.row < 0) ++counts[3];
      if (t.col < 0) ++counts[4];
    }
    NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, counts, 5, MPI_INT64_T, MPI_SUM, grid_.comm()));
    result.test_ratings = counts[0];
    result.cold_row_tests = counts[1];
    result.cold_col_tests = counts[2];
    result.unseen_row_tests = counts[3];
    result.unseen_col_tests = counts[4];
  }

  // Collective: where this rank's ratings start in the rank order of the grid (the residual's grid array).
  void locate_residuals() {
    auto entries = static_cast<long long>(data_.train.entries());
    long long before = 0;
    NMF_MPI_CHECK(MPI_Exscan(&entries, &before, 1, MPI_LONG_LONG, MPI_SUM, grid_.comm()));
    residual_first_ = grid_.rank() == 0 ? 0 : static_cast<index_t>(before);
  }

  void start_clock() {
    start_time_ = MPI_Wtime();
    NMF_MPI_CHECK(MPI_Bcast(&start_time_, 1, MPI_DOUBLE, 0, grid_.comm()));  // only rank 0's clock is read
    start_time_ = grid_.rank() == 0 ? start_time_ : 0.0;
  }
  void reset_counters() {
    bytes_ = 0;
    collective_seconds_ = evaluation_seconds_ = 0;
  }
  double bytes_moved() const { return bytes_; }
  double collective_seconds() const { return collective_seconds_; }
  double evaluation_seconds() const { return evaluation_seconds_; }
  index_t train_ratings() const { return train_ratings_; }
  double mae_train() const { return mae_train_; }

 private:
  template <class ResidualSums, class Shift>
  void update_bias(FactorSide side, std::vector<double>& bias, const std::vector<double>& counts, ResidualSums sums_of,
                   Shift shift_by) {
    std::vector<double> sums(bias.size());
    sums_of(sums.data());
    sum_over(side, sums);
    for (std::size_t t = 0; t < bias.size(); ++t) {
      const double scale = options_.lambda_bias + counts[t];
      const double updated = scale > 0 ? (sums[t] + counts[t] * bias[t]) / scale : 0.0;
      sums[t] = updated - bias[t];  // the shift of the residuals
      bias[t] = updated;
    }
    shift_by(sums.data());
  }

  static constexpr const char* kMean = "mean";

  // Local: the own rows of the blocks (A's, S's, the biases') into the slice buffers, whose storage stays put
  // (a LoopState points into it).
  void pack_slices() {
    for (index_t r = 0; r < a_own_count_; ++r) {
      for (index_t q = 0; q < k_; ++q) slices_.a_t(q, r) = a_rowblock_(a_own_begin_ + r, q);
      row_bias_slice_(0, r) = row_bias_[static_cast<std::size_t>(a_own_begin_ + r)];
    }
    for (index_t j = 0; j < s_own_count_; ++j) {
      for (index_t q = 0; q < k_; ++q) slices_.s(q, j) = s_colblock_(s_own_begin_ + j, q);
      col_bias_slice_(0, j) = col_bias_[static_cast<std::size_t>(s_own_begin_ + j)];
    }
  }

  // Collective: the blocks from the slice buffers: A's row block and its biases gathered over the grid row (whose
  // ranks hold its slices in order), S's column block and its biases over the grid column.
  void unpack_slices() {
    std::vector<index_t> a_counts, s_counts;
    for (int j = 0; j < grid_.shape().cols; ++j)
      a_counts.push_back(layout_.a_slices.size(layout_.a_slice_of(grid_.row(), j)));
    for (int i = 0; i < grid_.shape().rows; ++i)
      s_counts.push_back(layout_.s_slices.size(layout_.s_slice_of(i, grid_.col())));
    FactorCollectives gather;
    DenseMatrix gathered;
    gather.allgather(grid_.row_comm(), slices_.a_t, a_counts, gathered);  // k x n_I
    for (index_t i = 0; i < a_rowblock_.rows(); ++i)
      for (index_t q = 0; q < k_; ++q) a_rowblock_(i, q) = gathered(q, i);
    gather.allgather(grid_.row_comm(), row_bias_slice_, a_counts, gathered);
    row_bias_.assign(gathered.data(), gathered.data() + gathered.size());
    gather.allgather(grid_.col_comm(), slices_.s, s_counts, gathered);  // k x m_J
    for (index_t j = 0; j < s_colblock_.rows(); ++j)
      for (index_t q = 0; q < k_; ++q) s_colblock_(j, q) = gathered(q, j);
    gather.allgather(grid_.col_comm(), col_bias_slice_, s_counts, gathered);
    col_bias_.assign(gathered.data(), gathered.data() + gathered.size());
  }

  // Local: r_ij = x_ij - mu - b_i - c_j - a_i . s_j for every training rating (a checkpoint of another grid).
  void recompute_residuals() {
    ObservedBlock& train = data_.train;
    const CompressedMatrix& x = train.csr;
    for (index_t i = 0; i < x.rows; ++i) {
      for (index_t p = x.ptr[i]; p < x.ptr[i + 1]; ++p) {
        const index_t j = x.index[p];
        double prediction = mu_ + row_bias_[static_cast<std::size_t>(i)] + col_bias_[static_cast<std::size_t>(j)];
        for (index_t q = 0; q < k_; ++q) prediction += a_rowblock_(i, q) * s_colblock_(j, q);
        train.residual[static_cast<std::size_t>(p)] = x.values[p] - prediction;
      }
    }
  }

  detail::ObservedModel model() const {
    return detail::ObservedModel{data_.train,  data_.test,      a_rowblock_,          s_colblock_,  row_bias_,
                                 col_bias_,    row_counts_,     col_counts_,          mu_,          low_,
                                 high_,        options_.lambda, options_.lambda_bias, a_own_begin_, a_own_count_,
                                 s_own_begin_, s_own_count_};
  }

  // The ranks of a grid row or column and where each one's slice of the shared block begins.
  template <class SliceBegin>
  static SharingGroup sharing_group(int ranks, int position, SliceBegin slice_begin) {
    SharingGroup group;
    group.ranks = ranks;
    group.position = position;
    group.slice_offsets.assign(static_cast<std::size_t>(ranks + 1), 0);
    for (int r = 0; r < ranks; ++r) group.slice_offsets[static_cast<std::size_t>(r)] = slice_begin(r);
    return group;
  }

  const ProcessGrid& grid_;
  const Layout& layout_;
  RatingsSplit& data_;
  const RatingsOptions& options_;
  const index_t k_;
  SharingGroup a_group_, s_group_;         // the grid row and the grid column
  std::vector<OwnedSlices> owned_slices_;  // every grid rank's slices of A and S
  index_t a_own_begin_ = 0, a_own_count_ = 0, s_own_begin_ = 0, s_own_count_ = 0;
  DenseMatrix a_rowblock_;                       // n_I x k, feature-major, replicated over the grid row
  DenseMatrix s_colblock_;                       // m_J x k, replicated over the grid column
  std::vector<double> row_bias_, col_bias_;      // b and c of the block's rows and columns
  Factors slices_;                               // this rank's slices of A and S (nmf/factors.hpp)
  DenseMatrix row_bias_slice_, col_bias_slice_;  // 1 x count: the biases of those rows and columns
  index_t residual_first_ = 0;                   // this rank's first rating in the grid's rank order
  std::vector<double> row_counts_, col_counts_;  // n_i, m_j (whole rows and columns of X)
  double mu_ = 0;
  double low_ = -std::numeric_limits<double>::infinity(), high_ = std::numeric_limits<double>::infinity();
  index_t train_ratings_ = 0;
  double mae_train_ = 0;
  double bytes_ = 0, collective_seconds_ = 0, evaluation_seconds_ = 0, start_time_ = 0;
};

std::optional<std::string> first_stop(const StopRules& rules, const IterationRecord& record) {
  for (const auto& rule : rules)
    if (auto reason = rule->check(record)) return reason;
  return std::nullopt;
}

}  // namespace

namespace {

// Iteration 0: the initial state evaluated, or with --resume where a checkpoint left off (its history restored);
// returns the record the loop goes on from.
IterationRecord begin(RatingsIteration& it, ObservedSolver& solver, IterationEndHook* hook, FactorizationResult& fit,
                      IterationObserver* observer) {
  it.start();
  {
    ObservedUpdate inputs = it.update_inputs();
    solver.prepare(inputs);  // its words are not the iterations': the loop resets the counters after begin()
  }
  it.locate_residuals();
  it.start_clock();
  IterationRecord record;
  if (hook && it.restore(*hook, record, fit.history)) return record;
  it.finish_record(record, true);
  fit.history.push_back(record);
  if (observer) observer->on_iteration(record);
  return record;
}

// Local: the result of a loop that stopped after `record` for `reason`.
void fill_result(RatingsResult& result, RatingsIteration& it, const IterationRecord& record, const std::string& reason,
                 double update_seconds) {
  FactorizationResult& fit = result.fit;
  fit.factors = it.factors();
  result.biases = it.biases();
  fit.iterations = record.iteration;
  fit.stop_reason = reason;
  fit.relative_error = record.relative_error;
  fit.objective = record.objective;
  fit.seconds = record.seconds;
  fit.phases.collectives = it.collective_seconds();
  fit.phases.update = update_seconds - it.collective_seconds();
  fit.phases.evaluation = it.evaluation_seconds();
  result.rmse_train = record.rmse_train;
  result.mae_train = it.mae_train();
  result.rmse_test = record.rmse_test;
  result.mae_test = record.mae_test;
  result.train_ratings = it.train_ratings();
}

}  // namespace

RatingsResult RatingsFactorization::run(const StopRules& rules, IterationObserver* observer, IterationEndHook* hook) {
  for (const auto& rule : rules)
    NMF_REQUIRE(!rule->needs_projected_gradient(), UsageError,
                "--tol-pg is not available in the recommender mode (its loss covers the observed ratings only)");
  NMF_REQUIRE(options_.eval_every >= 1, Error, "eval_every must be at least 1");
  RatingsResult result;
  FactorizationResult& fit = result.fit;
  RatingsIteration it(grid_, layout_, data_, options_, options_.k);
  IterationRecord record = begin(it, solver_, hook, fit, observer);
  it.reset_counters();
  double update_seconds = 0;
  const int first_iteration = record.iteration;

  std::optional<std::string> stop = first_stop(rules, record);
  if (stop && first_iteration > 0) {  // a resumed run with nothing left to do: its last iterate evaluated here
    const bool recorded = record.evaluated;
    it.finish_record(record, true);  // (again if it was: the training MAE is not in the history)
    if (recorded)
      fit.history.back() = record;
    else
      fit.history.push_back(record);
  }
  while (!stop) {
    const int iteration = record.iteration + 1;
    const double t0 = MPI_Wtime();
    if (options_.bias) it.update_biases();
    ObservedUpdate inputs = it.update_inputs();
    solver_.update(inputs, iteration);
    update_seconds += MPI_Wtime() - t0;
    // The end of an iteration, in one place: the clock and the evaluation, the stop rules, the history, the
    // checkpoint.
    const double previous_objective = fit.history.back().objective;
    record = IterationRecord{};
    record.iteration = iteration;
    it.finish_record(record, iteration % options_.eval_every == 0);
    if (record.evaluated) record.objective_change = (previous_objective - record.objective) / previous_objective;
    stop = first_stop(rules, record);
    if (!stop && hook) stop = hook->stop_requested(iteration);  // collective: a signal or the time limit
    if (stop && !record.evaluated) {                            // the last iterate is always evaluated
      it.finish_record(record, true);
      record.objective_change = (previous_objective - record.objective) / previous_objective;
    }
    if (record.evaluated) {
      fit.history.push_back(record);
      if (observer) observer->on_iteration(record);
    }
    if (hook) hook->iteration_ended(it.checkpoint_state(record, fit.history), stop.value_or(""));
  }

  fill_result(result, it, record, *stop, update_seconds);
  double bytes = it.bytes_moved();
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &bytes, 1, MPI_DOUBLE, MPI_SUM, grid_.comm()));
  const int done = fit.iterations - first_iteration;  // in this run (a resumed run did the others)
  fit.comm_bytes_per_iteration = done > 0 ? bytes / done : 0.0;
  it.count_cold_starts(result);
  return result;
}

}  // namespace nmf
