#include "model/shard.h"

#include <numeric>
#include <vector>

#include "runtime/error.h"
#include "runtime/ops/gather_scatter.h"

namespace neft::model {

void copy_shard(const Tensor& full, Parameter& p) {
  NEFT_CHECK(full.shape() == p.full_shape, p.name, ": whole tensor is ", full.str(), ", expected ",
             shape_str(p.full_shape));
  if (p.shard_dim < 0) {
    p.value.copy_from(full);
  } else if (p.shard_dim == 0) {
    p.value.copy_from(full.rows(p.shard_offset, p.value.size(0)));
  } else {
    std::vector<int32_t> cols(size_t(p.value.size(1)));
    std::iota(cols.begin(), cols.end(), int32_t(p.shard_offset));
    const Tensor idx = Tensor::from_ints(cols, {int64_t(cols.size())}, full.device());
    ops::gather_cols(full, idx, p.value);
  }
}

}  // namespace neft::model
