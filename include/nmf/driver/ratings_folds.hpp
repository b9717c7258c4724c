// The recommender mode's cross-validation folds (README, "Choosing k and restarts in the recommender mode"): the
// training ratings cut into F folds by a decision per rating from its global (i, j) and the seed, so the folds are
// the same on any number of ranks and grid. Choosing k fits on all folds but one and scores the one left out.
#pragma once

#include <cstdint>

#include "nmf/driver/ratings_factorization.hpp"

namespace nmf {

// The fold of the rating with key i m + j (global indices): floor(folds u), u = uniform01(seed, ratings_fold, key).
int ratings_fold_of(std::uint64_t seed, std::uint64_t key, int folds);

// Local: this rank's training ratings `train` (its block of `layout` on `grid`) split into fold `fold`'s ratings
// (the test set, block-local indices) and the other folds' (the training block of the new split).
RatingsSplit ratings_fold_split(const ObservedBlock& train, const Layout& layout, const ProcessGrid& grid, int folds,
                                int fold, std::uint64_t seed);

}  // namespace nmf
