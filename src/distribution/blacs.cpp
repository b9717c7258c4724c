#include "nmf/distribution/blacs.hpp"

extern "C" {
// The BLACS C interface (ScaLAPACK ships no header for it).
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int* context, const char* order, int rows, int cols);
void Cblacs_gridinfo(int context, int* rows, int* cols, int* row, int* col);
void Cblacs_gridexit(int context);
int numroc_(const int* n, const int* nb, const int* iproc, const int* isrcproc, const int* nprocs);
}

namespace nmf {

BlacsGrid::BlacsGrid(const ProcessGrid& grid) : BlacsGrid(grid, grid.shape()) {}

BlacsGrid::BlacsGrid(const ProcessGrid& grid, GridShape shape) {
  NMF_REQUIRE(shape.size() == grid.size(), Error, "a BLACS grid must use every rank of the process grid");
  system_handle_ = Csys2blacs_handle(grid.comm());
  context_ = system_handle_;
  // Row-major order, like the Cartesian grid: BLACS process (r, c) is rank r * cols + c of grid.comm(), so with
  // the grid's own shape the BLACS coordinates equal the grid's (row, col).
  Cblacs_gridinit(&context_, "Row", shape.rows, shape.cols);
  Cblacs_gridinfo(context_, &rows_, &cols_, &row_, &col_);
  NMF_REQUIRE(rows_ == shape.rows && cols_ == shape.cols && row_ * cols_ + col_ == grid.rank(), Error,
              "BLACS grid does not match the process grid");
}

BlacsGrid::~BlacsGrid() {
  if (context_ >= 0) Cblacs_gridexit(context_);
  if (system_handle_ >= 0) Cfree_blacs_system_handle(system_handle_);
}

index_t blacs_local_extent(index_t extent, index_t block, int index, int processes) {
  const int n = blas_int(extent, "distributed extent"), nb = blas_int(block, "block size"), source = 0;
  return numroc_(&n, &nb, &index, &source, &processes);
}

}  // namespace nmf
