#include "runtime/ops/attention_cached.h"

#include <initializer_list>

#include "runtime/ops/dispatch.h"

namespace neft::ops {

void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t length,
                      const Tensor& key_start, Tensor& out) {
  const char* op = "attention_cached";
  const Device d = common_device(op, {&q, &k_cache, &v_cache, &key_start, &out});
  check_rank(op, "q", q, 4, "[B, t, Hq, D]");
  check_rank(op, "k_cache", k_cache, 4, "[B, capacity, Hkv, D]");
  check_float_for_device(op, "q", q);
  const int64_t B = q.size(0), t = q.size(1), Hq = q.size(2), D = q.size(3);
  const int64_t capacity = k_cache.size(1), Hkv = k_cache.size(2);
  if (k_cache.size(0) != B || k_cache.size(3) != D)
    fail(op, ": k_cache ", k_cache.str(), " does not match q ", q.str());
  if (Hkv <= 0 || Hq % Hkv != 0)
    fail(op, ": ", Hkv, " kv heads do not divide ", Hq, " query heads");
  if (t > length || length > capacity)
    fail(op, ": need t <= length <= capacity, got t=", t, " length=", length,
         " capacity=", capacity);
  check_shape(op, "v_cache", v_cache, k_cache.shape());
  check_shape(op, "out", out, q.shape());
  check_shape(op, "key_start", key_start, {B});
  check_dtype(op, "key_start", key_start, {DType::I32});
  for (const Tensor* x : std::initializer_list<const Tensor*>{&k_cache, &v_cache, &out})
    if (x->dtype() != q.dtype()) fail(op, ": every tensor but key_start must be ", q.str());
  NEFT_DISPATCH(d, attention_cached, q, k_cache, v_cache, length, key_start, out);
}

}  // namespace neft::ops
