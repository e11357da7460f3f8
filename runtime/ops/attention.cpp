#include "runtime/ops/attention.h"

#include <utility>

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {

// Checks q, k, v and returns the kv shape [B, T, Hkv, D] and the lse shape [B, Hq, T].
void check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, Shape* kv_shape,
               Shape* lse_shape) {
  check_defined(op, "q", q);
  check_defined(op, "k", k);
  if (q.dim() != 4) fail(op, ": q must be [B, T, Hq, D], got ", q.str());
  if (k.dim() != 4) fail(op, ": k must be [B, T, Hkv, D], got ", k.str());
  const int64_t B = q.size(0), T = q.size(1), Hq = q.size(2), D = q.size(3), Hkv = k.size(2);
  if (Hq < 1 || D < 1) fail(op, ": q ", q.str(), " has no heads or a zero head dim");
  *kv_shape = {B, T, Hkv, D};
  check_shape(op, "k", k, *kv_shape);
  check_shape(op, "v", v, *kv_shape);
  if (Hkv < 1 || Hq % Hkv != 0)
    fail(op, ": query heads (", Hq, ") must be a multiple of kv heads (", Hkv, ")");
  *lse_shape = {B, Hq, T};
  check_float_for_device(op, "q", q);
  check_dtype(op, "k", k, {q.dtype()});
  check_dtype(op, "v", v, {q.dtype()});
}

}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                       Tensor& lse) {
  const char* op = "attention_forward";
  const Device d = common_device(op, {&q, &k, &v, &out, &lse});
  Shape kv_shape, lse_shape;
  check_qkv(op, q, k, v, &kv_shape, &lse_shape);
  check_shape(op, "out", out, q.shape());
  check_dtype(op, "out", out, {q.dtype()});
  check_shape(op, "lse", lse, lse_shape);
  check_dtype(op, "lse", lse, {DType::F32});
  NEFT_DISPATCH(d, attention_forward, q, k, v, out, lse);
}

void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, Tensor& dq, Tensor& dk, Tensor& dv) {
  const char* op = "attention_backward";
  const Device d = common_device(op, {&dout, &q, &k, &v, &out, &lse, &dq, &dk, &dv});
  Shape kv_shape, lse_shape;
  check_qkv(op, q, k, v, &kv_shape, &lse_shape);
  for (auto [name, t] :
       {std::pair<const char*, const Tensor*>{"dout", &dout}, {"out", &out}, {"dq", &dq}}) {
    check_shape(op, name, *t, q.shape());
    check_dtype(op, name, *t, {q.dtype()});
  }
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"dk", &dk}, {"dv", &dv}}) {
    check_shape(op, name, *t, kv_shape);
    check_dtype(op, name, *t, {q.dtype()});
  }
  check_shape(op, "lse", lse, lse_shape);
  check_dtype(op, "lse", lse, {DType::F32});
  NEFT_DISPATCH(d, attention_backward, dout, q, k, v, out, lse, dq, dk, dv);
}

}  // namespace neft::ops
