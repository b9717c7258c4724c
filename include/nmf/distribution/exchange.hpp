// Moving matrix entries to the ranks that own them.
#pragma once

#include <functional>
#include <vector>

#include "nmf/matrix.hpp"
#include "nmf/mpi.hpp"

namespace nmf {

// MPI datatype of Triplet (two int64 and a double), committed once per call site's lifetime.
const Datatype& triplet_datatype();

// Collective over `comm`: sends every triplet of `outgoing` to rank owner(triplet) with one
// MPI_Alltoallv and returns the triplets this rank receives. `outgoing` is released. Callers bound
// `outgoing` (the parallel readers send one chunk of the file per call), so the send buffer stays bounded,
// and keep what they receive as a list of chunks, so it never needs one growing array.
std::vector<Triplet> route_to_owners(MPI_Comm comm, std::vector<Triplet>& outgoing,
                                     const std::function<int(const Triplet&)>& owner);

}  // namespace nmf
