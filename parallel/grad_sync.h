// Data-parallel gradient synchronisation: the gradients summed over the DP group in
// buckets, each a flat f32 buffer packed from consecutive gradients, all-reduced in one
// collective and unpacked, so a step makes a few large collectives rather than one per
// parameter. (Overlapping the buckets with the backward pass on CUDA is still to come.)
#pragma once
#include <cstddef>

#include "parallel/communicator.h"
#include "runtime/parameter.h"

namespace neft::parallel {

constexpr size_t kDefaultBucketBytes = size_t(25) << 20;  // Megatron's and PyTorch DDP's size

void all_reduce_gradients(const ParameterList& params, Communicator& dp,
                          size_t bucket_bytes = kDefaultBucketBytes);

}  // namespace neft::parallel
