// CPU thread pools. Our loops run on OpenMP and GEMM on OpenBLAS's own threads. With
// libgomp's default active wait, each pool's idle threads spin while the other pool
// works, which halves throughput on a small machine (measured by neft_op_bench's
// "thread interplay" rows). libgomp reads OMP_WAIT_POLICY once, when it loads, so a
// program has to start with it set.
#pragma once

namespace neft {

// Call first thing in main (before MPI_Init or any OpenMP region): unless the user chose a
// policy, re-executes the program once with OMP_WAIT_POLICY=passive. Returns normally when
// the policy is already set or re-execution is impossible.
void ensure_passive_openmp_wait(char** argv);

}  // namespace neft
