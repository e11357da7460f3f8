#include "parallel/grad_sync.h"

#include <vector>

namespace neft::parallel {

namespace {
void reduce_bucket(const std::vector<Parameter*>& bucket, int64_t numel, Communicator& dp) {
  if (bucket.empty()) return;
  if (bucket.size() == 1) {  // nothing to pack
    dp.all_reduce(bucket.front()->grad);
    return;
  }
  Tensor flat = Tensor::empty({numel}, DType::F32, bucket.front()->grad.device());
  int64_t offset = 0;
  for (Parameter* p : bucket) {
    flat.rows(offset, p->grad.numel()).copy_from(p->grad);
    offset += p->grad.numel();
  }
  dp.all_reduce(flat);
  offset = 0;
  for (Parameter* p : bucket) {
    p->grad.copy_from(flat.rows(offset, p->grad.numel()));
    offset += p->grad.numel();
  }
}
}  // namespace

void all_reduce_gradients(const ParameterList& params, Communicator& dp, size_t bucket_bytes) {
  std::vector<Parameter*> bucket;
  int64_t numel = 0;
  for (Parameter* p : params) {
    if (!p->grad.defined()) continue;
    bucket.push_back(p);
    numel += p->grad.numel();
    if (size_t(numel) * sizeof(float) >= bucket_bytes) {
      reduce_bucket(bucket, numel, dp);
      bucket.clear();
      numel = 0;
    }
  }
  reduce_bucket(bucket, numel, dp);
}

}  // namespace neft::parallel
