// The initial factors: reproducible random ones, or NNDSVD (Boutsidis and Gallopoulos, "SVD based
// initialization: A head start for nonnegative matrix factorization", Pattern Recognition 41(4), 2008) from the
// leading singular triplets of X (nmf/linalg/randomized_svd.hpp), in the variants scikit-learn implements
// (sklearn.decomposition.NMF, init='nndsvd' | 'nndsvda' | 'nndsvdar').
#pragma once

#include <cstdint>
#include <string>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/factors.hpp"
#include "nmf/linalg/randomized_svd.hpp"

namespace nmf {

enum class InitMethod {
  random,    // random_factors
  nndsvd,    // NNDSVD, the zeros it leaves stay zero (multiplicative updates can never move them)
  nndsvda,   // NNDSVD with its zeros set to mean(X)
  nndsvdar,  // NNDSVD with its zeros set to |mean(X) g / 100|, g standard normal from the seeded stream
};

// "random", "nndsvd", "nndsvda", "nndsvdar"; throws UsageError on anything else.
InitMethod parse_init_method(const std::string& text);
const char* init_method_name(InitMethod method);
inline bool uses_svd(InitMethod method) {
  return method != InitMethod::random;
}

// Reproducible random factors: A(i, c) and S(c, j) come from a counter-based generator keyed by
// (seed, global index), uniform on [0, scale) with scale = 2 sqrt(mean(X) / k) so that A S has the mean
// of X. The same seed gives the same factors on any number of ranks and any grid.
Factors random_factors(const DistMatrix& x, const ProcessGrid& grid, int k, std::uint64_t seed);

// Entries of NNDSVD's factors below this are set to zero (scikit-learn's eps, 1e-6), then filled per variant.
constexpr double kNndsvdZero = 1e-6;

// NNDSVD's factors from the k leading singular triplets of X (k = svd.sigma.size()): column j of A and row j of
// S are sqrt(sigma_j sigma') times the unit positive (or negative) parts of u_j and v_j, whichever pair has the
// larger product of norms sigma' (for j = 0, the Perron pair |u_0|, |v_0| with sigma' = 1). This choice makes
// the result independent of the signs of the singular vectors. A pair whose parts are both zero (a zero
// singular value: k above the rank of X) gives a zero column. `fill_seed` keys nndsvdar's random fill by
// global index. Collective over grid.comm() (one all-reduce of 4k norms).
Factors nndsvd_factors(const DistMatrix& x, const ProcessGrid& grid, const TruncatedSvd& svd, InitMethod method,
                       std::uint64_t fill_seed);

}  // namespace nmf
