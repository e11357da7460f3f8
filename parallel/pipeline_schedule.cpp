#include "parallel/pipeline_schedule.h"

#include <algorithm>
#include <deque>

namespace neft::parallel {

int max_in_flight(int stage, int stages, int micro_batches) {
  return std::min(stages - stage, micro_batches);
}

void run_1f1b(Communicator& pp, int micro_batches, const PipelineStep& step) {
  const int stage = pp.rank(), stages = pp.size();
  const bool first = stage == 0, last = stage == stages - 1;
  const bool takes = !last && step.takes_output_grad, gives = !first && step.gives_input_grad;
  const int prev = stage - 1, next = stage + 1;
  const int warmup = std::min(stages - stage - 1, micro_batches);
  const int steady = micro_batches - warmup;

  Tensor input = first ? Tensor() : step.make_activation();
  Tensor doutput = takes ? step.make_activation() : Tensor();
  auto recv_forward = [&]() -> const Tensor* {
    if (first) return nullptr;
    pp.recv(input, prev);
    return &input;
  };
  int forwarded = 0, backwarded = 0;
  auto run_forward = [&](const Tensor* in) -> const Tensor& {
    return step.forward(forwarded++, in);
  };
  auto run_backward = [&](const Tensor* dout) -> const Tensor& {
    return step.backward(backwarded++, dout);
  };

  for (int i = 0; i < warmup; ++i) {
    const Tensor& out = run_forward(recv_forward());
    if (!last) pp.send(out, next);
  }
  const Tensor* in = steady > 0 ? recv_forward() : nullptr;
  for (int i = 0; i < steady; ++i) {
    Tensor out = run_forward(in);  // shares the stage's buffer: sent before the next forward
    const Tensor* dout = nullptr;
    if (takes) {  // send this output and receive the gradient of the oldest one in flight
      pp.batch_p2p({{P2POp::Send, &out, next}, {P2POp::Recv, &doutput, next}});
      dout = &doutput;
    } else if (!last) {
      pp.send(out, next);
    }
    Tensor din = run_backward(dout);
    if (!gives) {
      if (i + 1 < steady) in = recv_forward();
    } else if (i + 1 < steady) {  // send the gradient back and receive the next input
      pp.batch_p2p({{P2POp::Send, &din, prev}, {P2POp::Recv, &input, prev}});
      in = &input;
    } else {
      pp.send(din, prev);
    }
  }
  for (int i = 0; i < warmup; ++i) {
    const Tensor* dout = nullptr;
    if (takes) {
      pp.recv(doutput, next);
      dout = &doutput;
    }
    const Tensor& din = run_backward(dout);
    if (gives) pp.send(din, prev);
  }
}

void run_forward_only(Communicator& pp, int micro_batches,
                      const std::function<const Tensor&(int mb, const Tensor* input)>& forward,
                      const std::function<Tensor(int mb)>& make_activation) {
  const int stage = pp.rank(), stages = pp.size();
  const bool first = stage == 0, last = stage == stages - 1;
  for (int mb = 0; mb < micro_batches; ++mb) {
    Tensor input;
    if (!first) {
      input = make_activation(mb);
      pp.recv(input, stage - 1);
    }
    const Tensor& out = forward(mb, first ? nullptr : &input);
    if (!last) pp.send(out, stage + 1);
  }
}

}  // namespace neft::parallel
