// Internal to the driver: a whole run of the recommender mode (README, "Recommending"), called by
// run_factorization once the input is read: the train/test split, the fit (nmf/driver/ratings_factorization.hpp),
// the log, and the outputs (factors, biases, id maps, summary) committed as a set.
#pragma once

#include "nmf/driver/jobs.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output_set.hpp"
#include "nmf/options.hpp"

namespace nmf::detail {

// Whether the run is in the recommender mode: --missing unobserved, or auto with a ratings file.
bool recommender_mode(const Options& options, const InputSource& source);

// The bias file of one side ("row" or "column"): a Matrix Market array (count x 1) of which this rank holds
// `values`, pieces in the order of `writers`; rank 0's piece carries the header, with the global mean in a comment
// ("% nmf_mpi column biases; global mean MU"), which the recommender fold-in reads back.
std::string bias_piece(MPI_Comm writers, const std::vector<double>& values, index_t count, const char* side,
                       double mean);

// Collective over `world`; `grid` is this rank's subgroup's, which runs its share of the cross-validation fits and
// restarts (ratings_selection.hpp). X's block is released once the training and test ratings are taken from it
// (the fit keeps its own copy).
void run_recommender(const Options& options, MPI_Comm world, const SubGroups& groups, const ProcessGrid& grid,
                     DistMatrix& x, InputSource& source, double read_seconds, OutputSet* outputs, double start);

}  // namespace nmf::detail
