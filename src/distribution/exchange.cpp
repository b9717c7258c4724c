#include "nmf/distribution/exchange.hpp"

#include <cstddef>

namespace nmf {

namespace {
MPI_Datatype make_triplet_datatype() {
  int lengths[3] = {1, 1, 1};
  MPI_Aint displacements[3] = {offsetof(Triplet, row), offsetof(Triplet, col), offsetof(Triplet, value)};
  MPI_Datatype types[3] = {MPI_INT64_T, MPI_INT64_T, MPI_DOUBLE};
  MPI_Datatype raw = MPI_DATATYPE_NULL, resized = MPI_DATATYPE_NULL;
  NMF_MPI_CHECK(MPI_Type_create_struct(3, lengths, displacements, types, &raw));
  NMF_MPI_CHECK(MPI_Type_create_resized(raw, 0, sizeof(Triplet), &resized));
  NMF_MPI_CHECK(MPI_Type_free(&raw));
  NMF_MPI_CHECK(MPI_Type_commit(&resized));
  return resized;
}
}  // namespace

const Datatype& triplet_datatype() {
  static const Datatype type(make_triplet_datatype());
  return type;
}

}  // namespace nmf
