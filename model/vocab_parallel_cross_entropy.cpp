#include "model/vocab_parallel_cross_entropy.h"

#include <cmath>
#include <vector>

#include "runtime/ops/cross_entropy.h"

namespace neft::model {

void vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& targets, int64_t vocab_start,
                                  const TensorParallel& tp, Tensor& losses, Tensor& lse,
                                  int32_t ignore_index) {
  const int64_t N = logits.size(0);
  const Device d = logits.device();
  Tensor row_max = Tensor::empty({N}, DType::F32, d), sum_exp = Tensor::empty({N}, DType::F32, d);
  Tensor target_logit = Tensor::empty({N}, DType::F32, d);
  ops::cross_entropy_stats(logits, targets, vocab_start, row_max, sum_exp, target_logit);

  Tensor global_max = row_max.clone();
  tp.comm->all_reduce(global_max, parallel::ReduceOp::Max);
  // Each rank's sum of exponentials, rescaled from its own maximum to the global one. These
  // are N numbers a step, so the host does it (a device kernel is not worth it here).
  const std::vector<float> m = row_max.to_floats(), g = global_max.to_floats();
  std::vector<float> s = sum_exp.to_floats();
  for (int64_t i = 0; i < N; ++i) s[size_t(i)] *= std::exp(m[size_t(i)] - g[size_t(i)]);
  Tensor rescaled = Tensor::from_floats(s, {N}, DType::F32, d);
  tp.comm->all_reduce(rescaled);
  tp.comm->all_reduce(target_logit);  // only the rank owning the target contributes

  const std::vector<float> total = rescaled.to_floats(), target = target_logit.to_floats();
  const std::vector<int32_t> t = targets.to_ints();
  std::vector<float> out_lse(static_cast<size_t>(N)), out_loss(static_cast<size_t>(N));
  for (size_t i = 0; i < size_t(N); ++i) {
    out_lse[i] = g[i] + std::log(total[i]);
    out_loss[i] = t[i] == ignore_index ? 0.0f : out_lse[i] - target[i];
  }
  lse.copy_from(Tensor::from_floats(out_lse, {N}, DType::F32, d));
  losses.copy_from(Tensor::from_floats(out_loss, {N}, DType::F32, d));
}

}  // namespace neft::model
