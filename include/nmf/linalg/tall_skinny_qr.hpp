// Distributed dense linear algebra on the factors' own layout, through ScaLAPACK: the thin QR of a tall
// matrix whose rows are split into contiguous slices over the ranks (a factor A, S^T, or a sketch of X).
//
// Such a matrix T (N x l, N large, l small) is held as the factors are: each rank keeps T^T's columns for its
// slice of rows, l x count, column-major. ScaLAPACK wants block-cyclic descriptors, and contiguous slices of
// varying size are not block-cyclic, so the rows are moved with one MPI_Alltoallv into a block distribution
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

}  // namespace nmf
