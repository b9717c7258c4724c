// Internal to the driver: choosing k and random restarts in the recommender mode (README, Recommending), on the
// observed-entries loss of nmf/driver/ratings_factorization.hpp, never on plain NMF's masked cross-validation
// path (loss_held_out.cpp moves and stores k^2 numbers per column).
//
// Choosing k: the training ratings (the test set of --test / --test-fraction is never seen here) are cut into F
// folds, rating (i, j) going to fold floor(F u) with u = uniform01(seed, ratings_fold, i m + j): a decision per
// rating from its global indices, the same on any number of ranks and grid. Every (k, fold) is a job on the
// subgroups (nmf/driver/jobs.hpp): a fit on the other folds whose test set is the fold, so the fold's RMSE is the
// loop's own test RMSE (clipped, cold starts predicted from the mean and the biases). Each fit moves the words of
// one recommender fit, O(k (n/PR + m/PC)) per iteration. The k with the lowest mean validation RMSE is chosen.
//
// Restarts: restart r starts A from restart_seed(seed, r) (restart 0: the run's seed) on the same training
// ratings; the restart with the lowest final training objective (never the test RMSE) is kept, as in plain NMF.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cross_validation.hpp"
#include "nmf/driver/ratings_factorization.hpp"
#include "nmf/driver/ratings_folds.hpp"
#include "restarts.hpp"

namespace nmf::detail {

// One fit of the recommender loop with the job's k and seed on `data` (collective over the subgroup's grid);
// `log` shows its iterations. The fit starts from data.train's residuals as make_observed_block leaves them.
using RatingsFit = std::function<RatingsResult(const Job& job, RatingsSplit& data, bool log)>;

// Refuses (replicated options only) what choosing k in this mode does not take: one fold, --cv-fraction.
void check_ratings_selection_options(const Options& options);

// Collective over `world`: every (k, fold) fit on the subgroups and the k with the lowest mean validation RMSE
// (RankScore: train_error and heldout_error hold the mean training and validation RMSE). Prints the table on
// world rank 0 when `talk`. Throws the same CollectiveError everywhere if every fit failed or a signal stopped it.
RankChoice choose_ratings_rank(const Options& options, MPI_Comm world, const SubGroups& groups, const ProcessGrid& grid,
                               const Layout& layout, const RatingsSplit& data, const RatingsFit& fit, bool talk);

// The summary's rank_selection object and PREFIX_rank_selection.csv of this mode.
nlohmann::ordered_json ratings_rank_selection_json(const RankChoice& choice);
std::string ratings_rank_selection_csv(const RankChoice& choice);

struct RatingsFinalFit {
  RatingsResult best;  // on the winning subgroup: the kept restart
  FinalFit runs;       // which restart won, whether this subgroup ran it, every restart's outcome (runs.best unused)
};

// Collective over `world`: --restarts fits of options.k on the subgroups; the lowest training objective wins.
// One restart on one subgroup is a plain fit that logs its iterations and throws its own errors.
RatingsFinalFit fit_ratings_with_restarts(const Options& options, MPI_Comm world, const SubGroups& groups,
                                          RatingsSplit& data, const RatingsFit& fit);

// Prints the restart table (world rank 0), with each restart's training objective and test RMSE, and warnings
// for the restarts that failed.
void print_ratings_restarts(const RatingsFinalFit& fit);

}  // namespace nmf::detail
