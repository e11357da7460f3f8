#include "runtime/ops/cross_entropy.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {
// logits [N, V] of a float dtype the device supports, targets [N] i32; returns N.
int64_t check_logits(const char* op, const Tensor& logits, const Tensor& targets) {
  check_float_for_device(op, "logits", logits);
  check_rank(op, "logits", logits, 2, "[N, V]");
  const int64_t n = logits.size(0);
  check_shape(op, "targets", targets, {n});
  check_dtype(op, "targets", targets, {DType::I32});
  return n;
}

void check_row_stat(const char* op, const char* name, const Tensor& t, int64_t n) {
  check_shape(op, name, t, {n});
  check_dtype(op, name, t, {DType::F32});
}
}  // namespace

void cross_entropy_stats(const Tensor& logits, const Tensor& targets, int64_t vocab_start,
                         Tensor& row_max, Tensor& sum_exp, Tensor& target_logit) {
  const char* op = "cross_entropy_stats";
  const Device d = common_device(op, {&logits, &targets, &row_max, &sum_exp, &target_logit});
  const int64_t n = check_logits(op, logits, targets);
  if (vocab_start < 0) fail(op, ": vocab_start ", vocab_start, " is negative");
  check_row_stat(op, "row_max", row_max, n);
  check_row_stat(op, "sum_exp", sum_exp, n);
  check_row_stat(op, "target_logit", target_logit, n);
  NEFT_DISPATCH(d, cross_entropy_stats, logits, targets, vocab_start, row_max, sum_exp,
                target_logit);
}

void cross_entropy_forward(const Tensor& logits, const Tensor& targets, int32_t ignore_index,
                           Tensor& losses, Tensor& lse) {
  const char* op = "cross_entropy_forward";
  const Device d = common_device(op, {&logits, &targets, &losses, &lse});
  const int64_t n = check_logits(op, logits, targets);
  check_row_stat(op, "losses", losses, n);
  check_row_stat(op, "lse", lse, n);
  NEFT_DISPATCH(d, cross_entropy_forward, logits, targets, ignore_index, losses, lse);
}

void cross_entropy_backward(const Tensor& dlosses, const Tensor& logits, const Tensor& targets,
                            const Tensor& lse, int64_t vocab_start, int32_t ignore_index,
                            Tensor& dlogits) {
  const char* op = "cross_entropy_backward";
  const Device d = common_device(op, {&dlosses, &logits, &targets, &lse, &dlogits});
  const int64_t n = check_logits(op, logits, targets);
  if (vocab_start < 0) fail(op, ": vocab_start ", vocab_start, " is negative");
  check_row_stat(op, "dlosses", dlosses, n);
  check_row_stat(op, "lse", lse, n);
  check_float_for_device(op, "dlogits", dlogits);
  check_shape(op, "dlogits", dlogits, logits.shape());
  NEFT_DISPATCH(d, cross_entropy_backward, dlosses, logits, targets, lse, vocab_start, ignore_index,
                dlogits);
}

}  // namespace neft::ops
