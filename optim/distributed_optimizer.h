// The distributed optimizer's two collectives (ZeRO-1, as Megatron-core's
// DistributedOptimizer): after backward each data-parallel rank needs the summed gradient of
// the rows it owns (optim/state_partition.h) and nothing else, so the gradients are
// reduce-scattered rather than all-reduced; after its AdamW update of those rows it sends
// their new values to the other ranks, an all-gather. Together they move what the all-reduce
// moved ((S-1)/S of the f32 gradients, then of the values in their dtype), and every rank
// keeps f32 master rows and moments for 1/S of the rows: 6 + 12/S bytes a bf16 parameter
// instead of 18 (weights 2, gradient 4, master and moments 12).
//
// Both run over buckets of consecutive parameters (state_buckets), each one collective on a
// flat buffer of S blocks, rank r's pieces of every parameter of the bucket packed into block
// r, padded to the largest share.
#pragma once
#include <cstddef>

#include "optim/state_partition.h"
#include "parallel/communicator.h"
#include "parallel/grad_sync.h"
#include "runtime/parameter.h"

namespace neft::optim {

// Every parameter with a gradient: its rows owned by this rank of `dp` get the sum over the
// group; its other rows keep this rank's own gradient, which nothing reads.
void reduce_scatter_gradients(const ParameterList& params, parallel::Communicator& dp,
                              size_t bucket_bytes = parallel::kDefaultBucketBytes);

// Every parameter with a gradient: the rows (a neuron-level parameter: the selected neurons,
// rows or columns of the weight) the other ranks of `dp` own are overwritten with their
// values, which their updates wrote.
void all_gather_parameters(const ParameterList& params, parallel::Communicator& dp,
                           size_t bucket_bytes = parallel::kDefaultBucketBytes);

}  // namespace neft::optim
