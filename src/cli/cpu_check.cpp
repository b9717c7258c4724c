// Start-up check that this CPU has the instruction-set extensions libnmf was compiled for.
//
// A binary built with -DNMF_NATIVE_ARCH=ON (-march=native) on a new machine would otherwise die with SIGILL, at
// some arbitrary point of the run, on an older compute node. CMake lists the extensions the library's flags
// enable (the compiler's predefined macros __AVX2__, __AVX512F__, ...) in NMF_ARCH_FEATURES; this file is compiled
// WITHOUT those flags, and its check runs as a high-priority constructor of nmf_mpi, before libnmf's static
// initialisers and before MPI_Init, so nothing built for the newer CPU has run yet. On a mismatch every process
// prints one line naming the host, the extensions built for and the missing ones, and exits 2.
//
// NMF_TEST_CPU_LACKS=avx2,fma (comma-separated) makes the check treat those extensions as absent: for the tests.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef NMF_ARCH_FEATURES
#define NMF_ARCH_FEATURES ""
#endif
#ifndef NMF_ARCH_FLAGS
#define NMF_ARCH_FLAGS ""
#endif

namespace {

// __builtin_cpu_supports takes only a string literal, so every extension CMake may list is spelled out here.
#define NMF_CPU_FEATURE(name) {name, [] { return __builtin_cpu_supports(name) != 0; }}
struct KnownFeature {
  const char* name;
  bool (*present)();
};
const KnownFeature kKnown[] = {
    NMF_CPU_FEATURE("sse3"),         NMF_CPU_FEATURE("ssse3"),        NMF_CPU_FEATURE("sse4.1"),
    NMF_CPU_FEATURE("sse4.2"),       NMF_CPU_FEATURE("popcnt"),       NMF_CPU_FEATURE("avx"),
    NMF_CPU_FEATURE("avx2"),         NMF_CPU_FEATURE("fma"),          NMF_CPU_FEATURE("bmi"),
    NMF_CPU_FEATURE("bmi2"),         NMF_CPU_FEATURE("avx512f"),      NMF_CPU_FEATURE("avx512dq"),
    NMF_CPU_FEATURE("avx512cd"),     NMF_CPU_FEATURE("avx512bw"),     NMF_CPU_FEATURE("avx512vl"),
    NMF_CPU_FEATURE("avx512vbmi"),   NMF_CPU_FEATURE("avx512ifma"),   NMF_CPU_FEATURE("avx512vnni"),
    NMF_CPU_FEATURE("avx512vbmi2"),  NMF_CPU_FEATURE("avx512bitalg"), NMF_CPU_FEATURE("avx512vpopcntdq"),
    NMF_CPU_FEATURE("avx512bf16"),
};
#undef NMF_CPU_FEATURE

// Whether `name` is an item of the comma-separated `list`.
bool listed(const char* list, const std::string& name) {
  if (list == nullptr) return false;
  const std::string items = std::string(",") + list + ",";
  return items.find("," + name + ",") != std::string::npos;
}

bool present(const std::string& name) {
  if (listed(std::getenv("NMF_TEST_CPU_LACKS"), name)) return false;
  for (const KnownFeature& known : kKnown)
    if (name == known.name) return known.present();
  return true;  // not one this check knows: nothing to say
}

__attribute__((constructor(101))) void check_cpu_supports_build() {
  __builtin_cpu_init();  // required before __builtin_cpu_supports in a constructor
  const std::string built = NMF_ARCH_FEATURES;
  std::string missing;
  std::size_t begin = 0;
  while (begin < built.size()) {
    std::size_t end = built.find(',', begin);
    if (end == std::string::npos) end = built.size();
    const std::string name = built.substr(begin, end - begin);
    if (!name.empty() && !present(name)) missing += (missing.empty() ? "" : ",") + name;
    begin = end + 1;
  }
  if (missing.empty()) return;
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  const bool native = std::strstr(NMF_ARCH_FLAGS, "native") != nullptr;
  std::fprintf(stderr, "nmf_mpi: error: nmf_mpi was built for %s (%s%s) but this CPU (host %s) lacks %s; rebuild with %s\n",
               built.c_str(), NMF_ARCH_FLAGS, native ? " on the build machine" : "", host, missing.c_str(),
               native ? "-DNMF_NATIVE_ARCH=OFF" : "-DNMF_PORTABLE_ARCH= (plain x86-64)");
  std::fflush(stderr);
  _exit(2);  // before MPI_Init and before any static destructor: nothing to clean up
}

}  // namespace

#endif
