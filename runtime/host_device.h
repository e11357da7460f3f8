// NEFT_HD marks functions shared by the CPU and CUDA backends (compiled by both g++ and nvcc).
#pragma once
#ifdef __CUDACC__
#define NEFT_HD __host__ __device__ __forceinline__
#else
#define NEFT_HD inline
#endif
