// Projected randomized Kaczmarz steps for a non-negative least-squares subproblem with many right-hand
// sides: the unknowns are the columns u_c of U (k x ncols), the equations e_r^T u_c = rhs(r, c) share their
// rows e_r (the columns of E, k x neq) across all right-hand sides. A step picks equation r (with
// probability proportional to ||e_r||^2, Strohmer & Vershynin 2009, or uniformly), moves every u_c onto its
// hyperplane and projects onto u_c >= 0:
//   u_c <- max(0, u_c + (rhs(r, c) - e_r^T u_c) / ||e_r||^2 e_r).
// A block step (Needell & Tropp 2014) uses B equations at once through a small least-squares solve on
// BLAS-3. Hand-written: no library offers Kaczmarz; the dense algebra inside a block step is BLAS/LAPACK.
#pragma once

#include <cstdint>

#include "nmf/matrix.hpp"

namespace nmf {

enum class KaczmarzSampling { norm, uniform };

// Where the right-hand sides come from: for equation r, its values over the unknown columns c. Either
// dense (ncols x neq, column r holds equation r's values) or compressed (neq rows, indices = columns c;
// absent entries are zero, and a step reads only the stored ones).
struct KaczmarzRhs {
  const DenseMatrix* dense = nullptr;
  const CompressedMatrix* compressed = nullptr;
};

struct KaczmarzStream {
  std::uint64_t seed = 0;
  std::uint64_t lane = 0;       // e.g. rank and side: independent streams per rank
  std::uint64_t iteration = 0;  // outer iteration: a fresh part of the stream each time
};

// Takes `steps` equation steps (in steps / block block steps when block > 1) on U in place. `relaxation`
// scales every move (1: the full projection; smaller values shrink the noise an inconsistent system leaves).
void kaczmarz_steps(const DenseMatrix& equations, const KaczmarzRhs& rhs, DenseMatrix& unknowns, index_t steps,
                    int block, KaczmarzSampling sampling, const KaczmarzStream& stream, double relaxation = 1.0);

}  // namespace nmf
