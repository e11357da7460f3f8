// The 1F1B pipeline schedule (PipeDream-flush, as Megatron's non-interleaved schedule): each
// stage runs (stages - stage - 1) warm-up forwards, then alternates one forward and one
// backward, then drains the remaining backwards. At most `stages` micro-batches are in
// flight on the first stage. Activations go forward and gradients backward point-to-point
// over the pipeline group; a forward's send and the matching backward's receive are posted
// together (batch_p2p) so neighbouring stages never wait on each other in a cycle.
#pragma once
#include <functional>

#include "parallel/communicator.h"

namespace neft::parallel {

struct PipelineStep {
  // Runs micro-batch `mb` forward. `input` is the previous stage's output (null on the
  // first stage); returns this stage's output to send on (ignored on the last stage).
  std::function<const Tensor&(int mb, const Tensor* input)> forward;
  // Runs micro-batch `mb` backward. `doutput` is the next stage's gradient (null on the last
  // stage); returns the gradient of this stage's input to send back (ignored on the first).
  std::function<const Tensor&(int mb, const Tensor* doutput)> backward;
  // A buffer of the activation shape and dtype, to receive into.
  std::function<Tensor()> make_activation;
  // Whether this stage's backward takes the next stage's gradient (ignored on the last
  // stage) and gives one back (ignored on the first). Where nothing before a boundary trains
  // no gradient crosses it: neighbouring stages must agree (the model's backward floor).
  bool takes_output_grad = true, gives_input_grad = true;
};

// Runs `micro_batches` micro-batches through the pipeline group `pp` (this rank is stage
// pp.rank() of pp.size()). Backwards run in micro-batch order on every stage, so gradients
// accumulate in the same order as on one rank.
void run_1f1b(Communicator& pp, int micro_batches, const PipelineStep& step);

// The most micro-batches run_1f1b holds in flight on `stage` (forwarded, not yet backwarded):
// its warm-up forwards and the steady phase's one, at most every micro-batch.
int max_in_flight(int stage, int stages, int micro_batches);

// Forward only (evaluation): every stage runs the micro-batches in order, receiving each one's
// input from the previous stage and sending its output on, so the micro-batches stream
// through the stages (stage s runs micro-batch mb while stage s + 1 runs mb - 1). `forward`
// is PipelineStep's; `make_activation(mb)` a buffer of micro-batch mb's activation shape, to
// receive into (micro-batches may differ in shape here).
void run_forward_only(Communicator& pp, int micro_batches,
                      const std::function<const Tensor&(int mb, const Tensor* input)>& forward,
                      const std::function<Tensor(int mb)>& make_activation);

}  // namespace neft::parallel
