// Internal to the linalg layer: the ScaLAPACK and LAPACK routines it calls (Debian's libscalapack-openmpi ships
// no C header; the Fortran interfaces are declared here once), and a block-cyclic descriptor.
#pragma once

#include "nmf/distribution/blacs.hpp"

extern "C" {
void descinit_(int* desc, const int* m, const int* n, const int* mb, const int* nb, const int* irsrc, const int* icsrc,
               const int* ictxt, const int* lld, int* info);
void pdgeqrf_(const int* m, const int* n, double* a, const int* ia, const int* ja, const int* desca, double* tau,
              double* work, const int* lwork, int* info);
void pdorgqr_(const int* m, const int* n, const int* k, double* a, const int* ia, const int* ja, const int* desca,
              const double* tau, double* work, const int* lwork, int* info);
void pdgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* ia, const int* ja,
              const int* desca, double* s, double* u, const int* iu, const int* ju, const int* descu, double* vt,
              const int* ivt, const int* jvt, const int* descvt, double* work, const int* lwork, int* info);
void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* info);
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work, const int* lwork,
             int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau, double* work,
             const int* lwork, int* info);
void dsyrk_(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha, const double* a,
            const int* lda, const double* beta, double* c, const int* ldc);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrcon_(const char* norm, const char* uplo, const char* diag, const int* n, const double* a, const int* lda,
             double* rcond, double* work, int* iwork, int* info);
void dtrsm_(const char* side, const char* uplo, const char* transa, const char* diag, const int* m, const int* n,
            const double* alpha, const double* a, const int* lda, double* b, const int* ldb);
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
void dtrtrs_(const char* uplo, const char* trans, const char* diag, const int* n, const int* nrhs, const double* a,
             const int* lda, double* b, const int* ldb, int* info);
}

namespace nmf::linalg_detail {

// A ScaLAPACK array descriptor for a rows x cols matrix in row_block x col_block blocks on `blacs`, with the
// sizes of this process's local part (column-major, leading dimension lld >= 1).
struct Descriptor {
  int desc[9] = {};
  index_t local_rows = 0, local_cols = 0;
  int lld = 1;
};

inline Descriptor make_descriptor(const BlacsGrid& blacs, index_t rows, index_t cols, index_t row_block,
                                  index_t col_block) {
  Descriptor d;
  d.local_rows = blacs_local_extent(rows, row_block, blacs.row(), blacs.rows());
  d.local_cols = blacs_local_extent(cols, col_block, blacs.col(), blacs.cols());
  d.lld = blas_int(d.local_rows > 0 ? d.local_rows : 1, "local leading dimension");
  const int m = blas_int(rows, "rows"), n = blas_int(cols, "columns"), mb = blas_int(row_block, "row block"),
            nb = blas_int(col_block, "column block"), zero = 0, context = blacs.context();
  int info = 0;
  descinit_(d.desc, &m, &n, &mb, &nb, &zero, &zero, &context, &d.lld, &info);
  NMF_REQUIRE(info == 0, Error, "descinit failed with info " + std::to_string(info));
  return d;
}

// C = op(A) op(B) for column-major matrices (alpha = 1, beta = 0).
inline void gemm(char ta, char tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb, double* c,
                 int ldc) {
  const double one = 1.0, zero = 0.0;
  if (m == 0 || n == 0) return;
  dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc);
}

}  // namespace nmf::linalg_detail
