// The leading k singular triplets of the distributed X by a randomized range finder (Halko, Martinsson and
// Tropp, "Finding structure with randomness", SIAM Review 53(2), 2011, Algorithms 4.4 and 5.1):
//   sketch   Y = X Omega, Omega m x l Gaussian (l = k + oversampling), drawn by global column index, so the
//            same seed gives the same Omega on any number of ranks
//   power    q times: Q = qr(Y), Z = qr(X^T Q), Y = X Z  (re-orthonormalized between the products)
//   range    Q = qr(Y) (n x l), B = Q^T X (l x m)
//   small    B^T = Q_B R (a second tall-skinny QR), so B = R^T Q_B^T and the SVD of the l x l R^T = U_R Sigma W^T
//            gives X ~ (Q U_R) Sigma (Q_B W)^T
// Only the driver's distributed products touch X (nmf/linalg/slice_products.hpp), so dense and sparse X are
// the same to it. The QRs (nmf/linalg/tall_skinny_qr.hpp) are communication-avoiding, one small all-reduce per
// pass: one CholeskyQR pass between the power iterations (only the range matters there, not Q's
// orthonormality), CholeskyQR2 for the final Q and for B^T, each falling back to TSQR when the sketch is too
// ill-conditioned. ScaLAPACK's pdgeqrf + pdorgqr for the final Q (scalapack_range_qr) make a few collectives
// per column: on Fashion-MNIST (k = 20) they alone cost up to a third of 5 hals iterations at P = 4, which
// is the budget of the whole SVD (README, Initialization). The l x l SVD runs with LAPACK on
// rank 0 (broadcast) up to l = lapack_limit, with ScaLAPACK's pdgesvd on the pr x pc grid above it.
#pragma once

#include <cstdint>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

struct RandomizedSvdOptions {
  int oversample = 10;  // p: l = min(k + p, n, m) columns in the sketch
  int power_iterations = 2;
  std::uint64_t seed = 1;
  // LAPACK's dgesvd on one rank takes about 20 l^3 flops: for l = 1000 a few seconds. Above it, pdgesvd.
  index_t lapack_limit = 1000;
  // The QR of the final sketch Y with ScaLAPACK's pdgeqrf + pdorgqr instead of CholeskyQR2 (same result up to
  // rounding and signs; slower above one rank).
  bool scalapack_range_qr = false;
};

struct TruncatedSvd {
  std::vector<double> sigma;   // k singular values, non-increasing
  DenseMatrix u_t_local;       // k x rows of this rank's A slice: the left singular vectors' rows, transposed
  DenseMatrix v_t_local;       // k x columns of this rank's S slice: the right singular vectors' rows, transposed
  bool scalapack_svd = false;  // whether the small SVD ran with pdgesvd
};

// Collective over grid.comm(). 1 <= k <= min(n, m).
TruncatedSvd randomized_svd(const ProcessGrid& grid, const DistMatrix& x, int k, const RandomizedSvdOptions& options);

}  // namespace nmf
