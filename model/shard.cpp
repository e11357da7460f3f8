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

Tensor read_shard(const Checkpoint& checkpoint, const std::string& name, const Parameter& p,
                  DType dtype, Device device) {
  if (!checkpoint.has(name)) fail(checkpoint.path(), ": no tensor '", name, "'");
  const TensorInfo& info = checkpoint.info(name);
  if (info.shape != p.full_shape)
    fail(checkpoint.file_of(name).path(), ": tensor '", name, "' has shape ", shape_str(info.shape),
         ", the model expects ", shape_str(p.full_shape));
  if (p.shard_dim < 0) return checkpoint.read(name, dtype, device);
  const int64_t n = p.value.size(p.shard_dim);
  return p.shard_dim == 0 ? checkpoint.read_rows(name, p.shard_offset, n, dtype, device)
                          : checkpoint.read_cols(name, p.shard_offset, n, dtype, device);
}

}  // namespace neft::model
