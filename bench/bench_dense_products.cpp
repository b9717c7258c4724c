// The two dense local products of an iteration, A^T X (k x m) and S X^T (k x n), as nmf_mpi forms them
// (src/kernels/dense.cpp) against the other ways of calling OpenBLAS for them: one dgemm over the whole block,
// the block in slices of columns (A^T X) or rows (S X^T), and the transposed orientations NumPy picks for
// X.T @ A and X @ S.T. Prints, per variant, the median and minimum of the thread's CPU time and of the wall
// time, and whether its result is bit-identical to the whole-block call. The thread CPU time is the figure to
// compare on a shared machine: it leaves out the time other processes hold the core.
//
// Build and run (one BLAS thread, as nmf_mpi runs):
//   g++ -O2 -std=c++17 bench/bench_dense_products.cpp -o /tmp/bench_dense_products -lopenblas
//       -I/usr/include/x86_64-linux-gnu/openblas-pthread    (on one line)
//   OPENBLAS_NUM_THREADS=1 /tmp/bench_dense_products [repeats=9] [n=4000] [m=3000] [k=20]
#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

double seconds(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Variant {
  std::string name;
  bool s_xt;        // result k x n (S X^T) rather than k x m (A^T X)
  bool transposed;  // stores the result's transpose (length x k)
  std::function<void(double* out)> run;
};

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 9;
  const int n = argc > 2 ? std::atoi(argv[2]) : 4000, m = argc > 3 ? std::atoi(argv[3]) : 3000;
  const int k = argc > 4 ? std::atoi(argv[4]) : 20;
  // X as nmf_mpi holds a dense block: column-major, huge pages advised before the first touch.
  std::vector<double> x;
  x.reserve(static_cast<std::size_t>(n) * m);
  madvise(reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(x.data()) & ~std::uintptr_t{4095}),
          x.capacity() * sizeof(double), MADV_HUGEPAGE);
  x.resize(static_cast<std::size_t>(n) * m);
  std::mt19937_64 generator(1);
  std::uniform_real_distribution<double> uniform;
  for (double& v : x) v = uniform(generator);
  std::vector<double> at(static_cast<std::size_t>(k) * n), s(static_cast<std::size_t>(k) * m);
  for (double& v : at) v = uniform(generator);
  for (double& v : s) v = uniform(generator);
  std::vector<double> st(s.size());  // S^T (m x k), the layout NumPy's X @ S.T hands to BLAS
  for (int j = 0; j < m; ++j)
    for (int q = 0; q < k; ++q) st[j + static_cast<std::size_t>(q) * m] = s[q + static_cast<std::size_t>(j) * k];
  const double* X = x.data();

  std::vector<Variant> variants;
  variants.push_back({"A^T X whole, dgemm(N,N)", false, false, [&](double* out) {
                        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, m, n, 1.0, at.data(), k, X, n, 0.0,
                                    out, k);
                      }});
  for (int w : {64, 128, 256, 512, 1024})
    variants.push_back({"A^T X " + std::to_string(w) + " columns per call", false, false, [&, w](double* out) {
                          for (int j = 0; j < m; j += w)
                            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, std::min(w, m - j), n, 1.0,
                                        at.data(), k, X + static_cast<std::size_t>(j) * n, n, 0.0,
                                        out + static_cast<std::size_t>(j) * k, k);
                        }});
  variants.push_back({"A^T X as (X^T A)^T, dgemm(T,T)", false, true, [&](double* out) {
                        cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, m, k, n, 1.0, X, n, at.data(), k, 0.0, out,
                                    m);
                      }});
  variants.push_back({"S X^T whole, dgemm(N,T)", true, false, [&](double* out) {
                        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, k, n, m, 1.0, s.data(), k, X, n, 0.0, out,
                                    k);
                      }});
  for (int w : {256, 512, 1024})
    variants.push_back({"S X^T " + std::to_string(w) + " rows per call", true, false, [&, w](double* out) {
                          for (int i = 0; i < n; i += w)
                            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, k, std::min(w, n - i), m, 1.0,
                                        s.data(), k, X + i, n, 0.0, out + static_cast<std::size_t>(i) * k, k);
                        }});
  variants.push_back({"S X^T with S^T, dgemm(T,T)", true, false, [&](double* out) {
                        cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, k, n, m, 1.0, st.data(), m, X, n, 0.0, out,
                                    k);
                      }});
  variants.push_back({"S X^T as (X S^T)^T, dgemm(N,T)", true, true, [&](double* out) {
                        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, k, m, 1.0, X, n, s.data(), k, 0.0, out,
                                    n);
                      }});

  // Bit-identity against the whole-block call of the same product (the transposed orientations store the
  // transpose, so they are compared after transposing back).
  std::vector<double> out(static_cast<std::size_t>(k) * std::max(n, m)), whole_at_x, whole_s_xt;
  for (const Variant& v : variants) {
    const int length = v.s_xt ? n : m;
    const std::size_t count = static_cast<std::size_t>(k) * length;
    std::fill(out.begin(), out.end(), 0.0);
    v.run(out.data());
    std::vector<double> result(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(count));
    if (v.transposed)
      for (int j = 0; j < length; ++j)
        for (int q = 0; q < k; ++q)
          result[q + static_cast<std::size_t>(j) * k] = out[j + static_cast<std::size_t>(q) * length];
    std::vector<double>& whole = v.s_xt ? whole_s_xt : whole_at_x;
    if (whole.empty()) whole = result;
    std::printf("%-34s bit-identical to the whole call: %s\n", v.name.c_str(),
                std::memcmp(whole.data(), result.data(), count * sizeof(double)) == 0 ? "yes" : "no");
  }

  std::vector<std::vector<double>> cpu(variants.size()), wall(variants.size());
  for (int r = 0; r < repeats; ++r)  // interleaved, so a slow spell of the machine spreads over all variants
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const double c0 = seconds(CLOCK_THREAD_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
      variants[v].run(out.data());
      cpu[v].push_back(seconds(CLOCK_THREAD_CPUTIME_ID) - c0);
      wall[v].push_back(seconds(CLOCK_MONOTONIC) - w0);
    }
  std::printf("n = %d, m = %d, k = %d, %d repeats; ms per product\n", n, m, k, repeats);
  for (std::size_t v = 0; v < variants.size(); ++v) {
    std::sort(cpu[v].begin(), cpu[v].end());
    std::sort(wall[v].begin(), wall[v].end());
    std::printf("%-34s cpu median %6.2f min %6.2f | wall median %6.2f min %6.2f\n", variants[v].name.c_str(),
                1e3 * cpu[v][cpu[v].size() / 2], 1e3 * cpu[v][0], 1e3 * wall[v][wall[v].size() / 2], 1e3 * wall[v][0]);
  }
  return 0;
}
