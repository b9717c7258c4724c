// Distributed dense linear algebra on the factors' own layout: the thin QR of a tall matrix whose rows are split
// into contiguous slices over the ranks (a factor A, S^T, or a sketch of X).
//
// Three routes, with the same result up to rounding and the signs of Q's columns (R's diagonal):
//  - tall_skinny_qr: ScaLAPACK's pdgeqrf + pdorgqr (below). Householder QR column by column: every column costs
//    a few collectives (its norm, the reflector applied to the rest of its panel), several l per factorization
//    and as many again to form Q. The --ls qr route's QR of a factor (nmf/driver), and the randomized SVD's QR
//    of the final sketch with RandomizedSvdOptions::scalapack_range_qr.
//  - cholesky_qr: CholeskyQR / CholeskyQR2, one all-reduce of an l x l Gram matrix per pass, all Level-3 BLAS.
//    The randomized SVD's QRs (its sketches are well-conditioned); it falls back to
//  - local_tsqr: communication-avoiding TSQR (Demmel, Grigori, Hoemmen and Langou, SIAM J. Sci. Comput. 34(1),
//    2012): a Householder QR of each rank's own rows (LAPACK), one all-gather of the P small R factors, and the
//    QR of their stack. One collective whatever l is, and as stable as Householder QR (no Gram matrix, so no
//    squared condition number, and a rank-deficient T still gives an orthonormal Q), at about twice
//    CholeskyQR2's local time (Householder's Level-2 panels against syrk and trsm).
//
// Such a matrix T (N x l, N large, l small) is held as the factors are: each rank keeps T^T's columns for its
// slice of rows, l x count, column-major. For tall_skinny_qr: ScaLAPACK wants block-cyclic descriptors, and contiguous
// slices of varying size are not block-cyclic, so the rows are moved with one MPI_Alltoallv into a block distribution
// (block-cyclic with one block per process) on a P x 1 BLACS grid over the same ranks, factored with
// pdgeqrf + pdorgqr, and moved back. Why not Cpdgemr2d: it redistributes between two block-cyclic
// descriptors, and the source layout is not one; and why P x 1: with l columns (tens) there is nothing to
// split among process columns, while every process row takes a share of the rows.
#pragma once

#include <vector>

#include "nmf/distribution/grid.hpp"
#include "nmf/distribution/layout.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

// How the rows of a tall matrix are split over the ranks of a grid: contiguous parts, part_of_rank[r] being
// the part grid rank r holds.
struct RowSlices {
  BlockPartition parts;
  std::vector<int> part_of_rank;
  int part_of(int rank) const { return part_of_rank[static_cast<std::size_t>(rank)]; }
};

// A's rows (the A slices) and S's columns (the S slices, i.e. the rows of S^T) as RowSlices.
RowSlices a_row_slices(const Layout& layout);
RowSlices s_row_slices(const Layout& layout);

struct ThinQr {
  DenseMatrix q_t_local;     // l x count: Q^T's columns for this rank's rows (Q is N x l, orthonormal columns)
  DenseMatrix r_replicated;  // l x l, upper triangular, the same on every rank
};

// T = Q R for the tall N x l matrix T whose rows this rank holds as t_local (l x count, the transpose of rows
// slices.parts.begin(part) .. end(part)). Needs N >= l. Collective over grid.comm(). Throws the same Error
// everywhere if ScaLAPACK reports a failure.
ThinQr tall_skinny_qr(const ProcessGrid& grid, const RowSlices& slices, const DenseMatrix& t_local);

// The same factorization by TSQR: any split of T's rows over the ranks (each rank's rows in t_local, l x count,
// count may be 0 or below l), Q in the same split. The stacked R factors (P l x l) are factored on every rank from
// the same gathered bits, so R is the same everywhere without a broadcast. Collective over grid.comm(); throws
// the same Error everywhere if LAPACK reports a failure.
ThinQr local_tsqr(const ProcessGrid& grid, const DenseMatrix& t_local);

// The same factorization by CholeskyQR (passes = 1) or CholeskyQR2 (passes = 2; Fukaya, Nakatsukasa, Yanagisawa
// and Yamamoto 2014): per pass the Gram matrix T^T T by one all-reduce, its Cholesky factor R, Q^T = R^-T T^T.
// Level-3 BLAS on the slices as they are stored and one small collective per pass: for a well-conditioned T
// (a sketch re-orthonormalized at every step) the fastest route. One pass gives a basis of T's range whose
// Q^T Q is I to eps cond(T)^2 (enough between power iterations), two an orthonormal Q. Falls back to local_tsqr
// when T is rank-deficient or too ill-conditioned for it (see the .cpp). Collective over grid.comm(); any split
// of the rows, as local_tsqr. Q is formed in t_local's storage: pass it with std::move to reuse that memory
// (the randomized SVD does; no new l x count matrix to allocate and touch).
ThinQr cholesky_qr(const ProcessGrid& grid, DenseMatrix t_local, int passes);

}  // namespace nmf
