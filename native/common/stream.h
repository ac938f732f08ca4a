// cudaStream_t without the CUDA headers, so parameter headers shared with the
// CPU backend compile with the host compiler alone. Same declaration as the
// CUDA runtime's, so including both is fine.
#pragma once

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;
