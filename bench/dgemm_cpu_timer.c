/* The thread CPU time and wall time a process spends in cblas_dgemm, for comparing the dense products of nmf_mpi
 * with NumPy's on a shared machine (CPU time leaves out the time other processes hold the core). Loaded with
 * LD_PRELOAD, it wraps cblas_dgemm and, at exit, prints to stderr one line
 *   DGEMM notrans_b_cpu S trans_b_cpu S wall S calls N
 * summed over the calls of more than 10^6 multiply-adds, split by whether B is transposed: nmf_mpi's A^T X is
 * dgemm(N, N) and its S X^T dgemm(N, T); NumPy's X.T @ A and X @ S.T on a column-major X are a row-major
 * dgemm(N, N) and dgemm(T, T).
 *
 *   gcc -O2 -shared -fPIC bench/dgemm_cpu_timer.c -o /tmp/dgemm_cpu_timer.so -ldl
 *   mpirun -x LD_PRELOAD=/tmp/dgemm_cpu_timer.so -np 1 build/nmf_mpi -i X.npy -k 20 --iters 19 ...
 *   LD_PRELOAD=/tmp/dgemm_cpu_timer.so /usr/bin/python3 -c "..."
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*,
                         int);

static dgemm_fn real_dgemm;
static double cpu_notrans_b, cpu_trans_b, wall_total;
static long timed_calls;

static double now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void report(void) {
  fprintf(stderr, "DGEMM notrans_b_cpu %.4f trans_b_cpu %.4f wall %.4f calls %ld\n", cpu_notrans_b, cpu_trans_b,
          wall_total, timed_calls);
}

void cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
  if (!real_dgemm) {
    real_dgemm = (dgemm_fn)dlsym(RTLD_NEXT, "cblas_dgemm");
    /* NumPy loads OpenBLAS privately (RTLD_LOCAL), out of RTLD_NEXT's reach. */
    if (!real_dgemm) real_dgemm = (dgemm_fn)dlsym(dlopen("libopenblas.so.0", RTLD_NOW), "cblas_dgemm");
    if (!real_dgemm) abort();
    atexit(report);
  }
  const double wall0 = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_THREAD_CPUTIME_ID);
  real_dgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const double cpu = now(CLOCK_THREAD_CPUTIME_ID) - cpu0, wall = now(CLOCK_MONOTONIC) - wall0;
  if ((double)m * n * k < 1e6) return;
  if (trans_b == 112 /* CblasTrans */)
    cpu_trans_b += cpu;
  else
    cpu_notrans_b += cpu;
  wall_total += wall;
  ++timed_calls;
}
