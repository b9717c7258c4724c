#include "nmf/driver/initialization.hpp"

#include <cmath>

#include "nmf/kernels/random.hpp"

namespace nmf {

InitMethod parse_init_method(const std::string& text) {
  for (InitMethod method : {InitMethod::random, InitMethod::nndsvd, InitMethod::nndsvda, InitMethod::nndsvdar})
    if (text == init_method_name(method)) return method;
  NMF_THROW(UsageError, "bad --init '" + text + "': expected random, nndsvd, nndsvda or nndsvdar");
}

const char* init_method_name(InitMethod method) {
  switch (method) {
    case InitMethod::random:
      return "random";
    case InitMethod::nndsvd:
      return "nndsvd";
    case InitMethod::nndsvda:
      return "nndsvda";
    case InitMethod::nndsvdar:
      return "nndsvdar";
  }
  return "?";
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

namespace {

// For every row c of `vectors_t` (k x count, one singular vector's entries per row): the squared norms of its
// positive and of its negative part over this rank's entries, at [2c] and [2c + 1].
void add_part_norms(const DenseMatrix& vectors_t, std::vector<double>& sums, std::size_t offset) {
  for (index_t j = 0; j < vectors_t.cols(); ++j)
    for (index_t c = 0; c < vectors_t.rows(); ++c) {
      const double v = vectors_t(c, j);
      sums[offset + static_cast<std::size_t>(2 * c + (v < 0.0 ? 1 : 0))] += v * v;
    }
}

// Row c of the factor becomes scale * (the chosen part of row c of vectors_t), or its absolute value.
void take_part(const DenseMatrix& vectors_t, index_t c, double scale, int part, DenseMatrix& factor_t) {
  for (index_t j = 0; j < vectors_t.cols(); ++j) {
    const double v = vectors_t(c, j);
    const double kept = part > 0 ? std::max(v, 0.0) : part < 0 ? std::max(-v, 0.0) : std::abs(v);
    factor_t(c, j) = scale * kept;
  }
}

}  // namespace

Factors nndsvd_factors(const DistMatrix& x, const ProcessGrid& grid, const TruncatedSvd& svd, InitMethod method,
                       std::uint64_t fill_seed) {
  const index_t k = static_cast<index_t>(svd.sigma.size());
  const auto k_size = static_cast<std::size_t>(k);
  // Squared norms of the parts: u's (positive, negative) per vector, then v's.
  std::vector<double> norms(4 * k_size, 0.0);
  add_part_norms(svd.u_t_local, norms, 0);
  add_part_norms(svd.v_t_local, norms, 2 * k_size);
  NMF_MPI_CHECK(
      MPI_Allreduce(MPI_IN_PLACE, norms.data(), static_cast<int>(norms.size()), MPI_DOUBLE, MPI_SUM, grid.comm()));

  Factors f{DenseMatrix(k, svd.u_t_local.cols()), DenseMatrix(k, svd.v_t_local.cols())};
  for (index_t c = 0; c < k; ++c) {
    const auto u = static_cast<std::size_t>(c);
    const double sigma = std::max(svd.sigma[u], 0.0);
    if (c == 0) {  // the leading pair can be taken non-negative (Perron-Frobenius): |u_0|, |v_0|
      take_part(svd.u_t_local, c, std::sqrt(sigma), 0, f.a_t);
      take_part(svd.v_t_local, c, std::sqrt(sigma), 0, f.s);
      continue;
    }
    const double xp = std::sqrt(norms[2 * u]), xn = std::sqrt(norms[2 * u + 1]);
    const double yp = std::sqrt(norms[2 * k_size + 2 * u]), yn = std::sqrt(norms[2 * k_size + 2 * u + 1]);
    const bool positive = xp * yp > xn * yn;  // ties go to the negative parts, as in scikit-learn
    const double x_norm = positive ? xp : xn, y_norm = positive ? yp : yn, product = x_norm * y_norm;
    if (!(product > 0.0)) continue;  // both pairs of parts are zero: a zero column (filled below)
    const double lambda = std::sqrt(sigma * product);
    const int part = positive ? 1 : -1;
    take_part(svd.u_t_local, c, lambda / x_norm, part, f.a_t);
    take_part(svd.v_t_local, c, lambda / y_norm, part, f.s);
  }

  const Layout& layout = x.layout;
  const double mean = x.stats.sum / (static_cast<double>(layout.n) * static_cast<double>(layout.m));
  const int a_slice = layout.a_slice_of(grid.row(), grid.col()), s_slice = layout.s_slice_of(grid.row(), grid.col());
  const auto k64 = static_cast<std::uint64_t>(k);
  // Zeros (below kNndsvdZero) set to zero, then filled: index = the entry's global index in the fill stream.
  auto settle = [&](DenseMatrix& factor_t, std::uint64_t first_global) {
    for (index_t j = 0; j < factor_t.cols(); ++j)
      for (index_t c = 0; c < k; ++c) {
        double& v = factor_t(c, j);
        if (v >= kNndsvdZero) continue;
        const std::uint64_t index =
            (first_global + static_cast<std::uint64_t>(j)) * k64 + static_cast<std::uint64_t>(c);
        switch (method) {
          case InitMethod::nndsvda:
            v = mean;
            break;
          case InitMethod::nndsvdar:
            v = std::abs(mean * standard_normal(fill_seed, RandomStream::init_fill, index) / 100.0);
            break;
          default:
            v = 0.0;
        }
      }
  };
  settle(f.a_t, static_cast<std::uint64_t>(layout.a_slices.begin(a_slice)));
  settle(f.s, static_cast<std::uint64_t>(layout.n + layout.s_slices.begin(s_slice)));
  return f;
}

}  // namespace nmf
