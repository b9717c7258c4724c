// Internal to the readers: wall and CPU seconds of the phases of one read, printed by rank 0 to stderr when
// the environment variable NMF_READ_PHASES is set (for bench/bench_read.py and profiling; silent otherwise).
// CPU time is this process's (all its threads), so on a loaded machine it says what the phase itself cost.
// Every rank also prints its peak resident set so far (getrusage), to tell the reader's peak from the fit's.
#pragma once

#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace nmf::detail {

class ReadPhases {
 public:
  explicit ReadPhases(MPI_Comm comm) : enabled_(std::getenv("NMF_READ_PHASES") != nullptr) {
    if (!enabled_) return;
    MPI_Comm_rank(comm, &rank_);
    last_wall_ = MPI_Wtime();
    last_cpu_ = cpu_seconds();
  }

  // Ends the phase that began at the previous mark (or at construction) and names it; the times of phases
  // with the same name (one per round) add up.
  void mark(const char* name) {
    if (!enabled_) return;
    const double wall = MPI_Wtime(), cpu = cpu_seconds();
    auto same = std::find_if(phases_.begin(), phases_.end(), [&](const Phase& p) { return p.name == name; });
    if (same == phases_.end()) same = phases_.insert(same, Phase{name, 0.0, 0.0});
    same->wall += wall - last_wall_;
    same->cpu += cpu - last_cpu_;
    last_wall_ = wall;
    last_cpu_ = cpu;
  }

  ~ReadPhases() {
    if (!enabled_) return;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::fprintf(stderr, "read phases (rank %d): peak RSS so far %.1f MiB\n", rank_,
                 static_cast<double>(usage.ru_maxrss) / 1024.0);
    if (rank_ != 0) return;
    std::string line = "read phases (rank 0, wall/cpu s):";
    double wall = 0, cpu = 0;
    for (const Phase& p : phases_) {
      char text[128];
      std::snprintf(text, sizeof text, " %s=%.4f/%.4f", p.name, p.wall, p.cpu);
      line += text;
      wall += p.wall;
      cpu += p.cpu;
    }
    char total[96];
    std::snprintf(total, sizeof total, " total=%.4f/%.4f", wall, cpu);
    line += total;
    std::fprintf(stderr, "%s\n", line.c_str());
  }

  ReadPhases(const ReadPhases&) = delete;
  ReadPhases& operator=(const ReadPhases&) = delete;

 private:
  struct Phase {
    const char* name;
    double wall, cpu;
  };
  static double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  }
  bool enabled_;
  int rank_ = 0;
  double last_wall_ = 0, last_cpu_ = 0;
  std::vector<Phase> phases_;
};

}  // namespace nmf::detail
