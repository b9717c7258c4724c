// Large buffers that are filled right after they are allocated (the readers' entries, the compressed block):
// asking for transparent huge pages before the first touch replaces 512 page faults by one per 2 MiB. On the
// development machine (a VM, transparent_hugepage=madvise) a fault costs microseconds: reading a
// 10^7-entry file at P = 1 took 217,000 faults and 40% of its CPU time in them, 5,000 with huge pages.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <vector>

namespace nmf {

// Advises the kernel to back the whole 2 MiB pages inside [data, data + bytes) with huge pages. Only a hint:
// where transparent huge pages are off, or for buffers under a few MiB, nothing changes.
inline void advise_huge_pages(void* data, std::size_t bytes) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  if (bytes < 2 * kHuge) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // a hint: errors ignored
}

// Reserves room for `count` elements in an empty vector and advises huge pages for it, before anything
// touches the memory (a later resize or push_back then faults in huge pages).
template <class T>
void reserve_huge(std::vector<T>& v, std::size_t count) {
  v.reserve(count);
  advise_huge_pages(v.data(), v.capacity() * sizeof(T));
}

}  // namespace nmf
