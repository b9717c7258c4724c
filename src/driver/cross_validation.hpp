// Internal to the driver: choosing k by cross-validation. Every (k, fold, restart) is a job on the subgroups;
// each fold's best restart (by training objective) gives the fold's training and held-out errors, and
// nmf/driver/rank_selection.hpp turns them into one score per k and the chosen k.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "job_runner.hpp"
#include "nmf/driver/rank_selection.hpp"

namespace nmf::detail {

struct RankChoice {
  int k = 0;
  std::vector<RankScore> scores;
  int folds = 0;
};

// Whether the options ask to choose k (several k, or --cv-folds).
bool cross_validating(const Options& options);

// Collective over `world`: runs the sweep and chooses k (throws the same CollectiveError everywhere if every
// fit failed). Prints the table on rank 0 when `talk`.
RankChoice choose_rank_by_cross_validation(const Options& options, MPI_Comm world, const SubGroups& groups,
                                           JobRunner& runner, bool talk);

// PREFIX_rank_selection.csv, and the summary's rank_selection object.
// `header` names the columns: the score's k, folds, means and standard deviations, and whether it was chosen.
std::string rank_selection_csv(
    const RankChoice& choice,
    const std::string& header = "k,folds,train_error,train_std,heldout_error,heldout_std,chosen");
nlohmann::ordered_json rank_selection_json(const RankChoice& choice, const Options& options);

}  // namespace nmf::detail
