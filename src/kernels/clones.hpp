// Internal to the kernels: a portable build (the default: CMake defines NMF_KERNEL_CLONES) compiles the hottest
// kernels three times, for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3) and the build's baseline, and the loader
// picks the best the CPU has (GCC target_clones, an ifunc). A -march=native build needs no clones. Measured
// without clones on an AVX-512 machine: the sparse gathers 3.7 times slower, Kaczmarz steps 1.3-1.6 times.
#pragma once

#if defined(NMF_KERNEL_CLONES)
#define NMF_KERNEL_CLONES_ATTRIBUTE __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NMF_KERNEL_CLONES_ATTRIBUTE
#endif
