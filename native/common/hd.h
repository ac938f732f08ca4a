// Qualifiers for code that both nvcc (host and device) and the host C++
// compiler build: the CPU backend and the CUDA kernels share these helpers so
// that both backends compute bit-identical conversions.
#pragma once

#if defined(__CUDACC__)
#define MOEKIT_HD __host__ __device__ __forceinline__
#define MOEKIT_HOST_DEVICE __host__ __device__
#else
#define MOEKIT_HD inline
#define MOEKIT_HOST_DEVICE
#endif
