#include "nmf/distribution/grid.hpp"

#include <climits>
#include <limits>
#include <regex>

namespace nmf {

GridShape parse_grid_shape(const std::string& text) {
  static const std::regex pattern(R"(\s*([0-9]{1,6})\s*[xX]\s*([0-9]{1,6})\s*)");
  std::smatch match;
  if (!std::regex_match(text, match, pattern))
    NMF_THROW(UsageError, "bad --grid '" + text + "': expected PRxPC, for example 4x2");
  GridShape shape{std::stoi(match[1].str()), std::stoi(match[2].str())};
  if (shape.rows < 1 || shape.cols < 1)
    NMF_THROW(UsageError, "bad --grid '" + text + "': both dimensions must be at least 1");
  if (static_cast<index_t>(shape.rows) * shape.cols > INT_MAX)
    NMF_THROW(UsageError, "bad --grid '" + text + "': more ranks than MPI can count");
  return shape;
}

double words_per_iteration(GridShape shape, index_t n, index_t m, int k) {
  const double pr = shape.rows, pc = shape.cols, p = pr * pc;
  // Per rank: all-gather + reduce-scatter of the n/pr x k row block of A among pc ranks, the same for
  // the k x m/pc column block of S among pr ranks, and two all-reduces of k x k Gram matrices.
  const double a_traffic = 2.0 * (pc - 1.0) / pc * (static_cast<double>(n) / pr) * k;
  const double s_traffic = 2.0 * (pr - 1.0) / pr * (static_cast<double>(m) / pc) * k;
  const double gram_traffic = 2.0 * 2.0 * (p - 1.0) / p * k * k;
  return p * (a_traffic + s_traffic + gram_traffic);
}

GridShape choose_grid_shape(int ranks, index_t n, index_t m) {
  GridShape best{0, 0};
  double best_words = std::numeric_limits<double>::infinity();
  for (int pr = ranks; pr >= 1; --pr) {  // ties go to the taller grid, the plain row layout first
    if (ranks % pr != 0) continue;
    const GridShape shape{pr, ranks / pr};
    if (shape.rows > n || shape.cols > m) continue;
    const double words = words_per_iteration(shape, n, m, 1);
    if (words < best_words) {
      best_words = words;
      best = shape;
    }
  }
  if (best.rows == 0)
    NMF_THROW(UsageError, "cannot lay out " + std::to_string(ranks) + " ranks on a " + std::to_string(n) + " x " +
                              std::to_string(m) +
                              " matrix: every grid would have more ranks than rows or columns in one dimension; "
                              "use fewer ranks");
  return best;
}

void validate_grid_shape(GridShape shape, int ranks, index_t n, index_t m) {
  if (static_cast<index_t>(shape.rows) * shape.cols != ranks)
    NMF_THROW(UsageError, "--grid " + shape.str() + " has " + std::to_string(shape.size()) +
                              " ranks, but the job has " + std::to_string(ranks));
  if (shape.rows > n)
    NMF_THROW(UsageError, "--grid " + shape.str() + " has " + std::to_string(shape.rows) +
                              " ranks in the row dimension, more than the " + std::to_string(n) +
                              " rows of the matrix");
  if (shape.cols > m)
    NMF_THROW(UsageError, "--grid " + shape.str() + " has " + std::to_string(shape.cols) +
                              " ranks in the column dimension, more than the " + std::to_string(m) +
                              " columns of the matrix");
}

ProcessGrid::ProcessGrid(MPI_Comm comm, GridShape shape) : shape_(shape) {
  int comm_size = 0;
  NMF_MPI_CHECK(MPI_Comm_size(comm, &comm_size));
  NMF_REQUIRE(comm_size == shape.size(), UsageError,
              "grid " + shape.str() + " needs " + std::to_string(shape.size()) + " ranks, the communicator has " +
                  std::to_string(comm_size));

  int dims[2] = {shape.rows, shape.cols};
  int periods[2] = {0, 0};
  MPI_Comm cart = MPI_COMM_NULL;
  // reorder = 0 keeps grid rank = communicator rank, so rank order is the row-major grid order.
  NMF_MPI_CHECK(MPI_Cart_create(comm, 2, dims, periods, 0, &cart));
  grid_comm_ = Comm::own(cart);
  NMF_MPI_CHECK(MPI_Comm_set_errhandler(cart, MPI_ERRORS_RETURN));
  rank_ = grid_comm_.rank();
  int coords[2] = {0, 0};
  NMF_MPI_CHECK(MPI_Cart_coords(cart, rank_, 2, coords));
  row_ = coords[0];
  col_ = coords[1];

  MPI_Comm sub = MPI_COMM_NULL;
  int keep_cols[2] = {0, 1};
  NMF_MPI_CHECK(MPI_Cart_sub(cart, keep_cols, &sub));
  row_comm_ = Comm::own(sub);
  int keep_rows[2] = {1, 0};
  NMF_MPI_CHECK(MPI_Cart_sub(cart, keep_rows, &sub));
  col_comm_ = Comm::own(sub);
  NMF_MPI_CHECK(MPI_Comm_split(cart, 0, col_ * shape.rows + row_, &sub));
  s_order_comm_ = Comm::own(sub);
  for (MPI_Comm c : {row_comm_.get(), col_comm_.get(), s_order_comm_.get()})
    NMF_MPI_CHECK(MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN));
}

}  // namespace nmf
