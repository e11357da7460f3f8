#include "runtime/ops/cast.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

void cast(const Tensor& src, Tensor& dst) {
  const Device d = common_device("cast", {&src, &dst});
  check_dtype("cast", "src", src, {DType::F32, DType::BF16, DType::F16});
  check_dtype("cast", "dst", dst, {DType::F32, DType::BF16, DType::F16});
  if (src.numel() != dst.numel())
    fail("cast: src ", src.str(), " and dst ", dst.str(), " differ in element count");
  NEFT_DISPATCH(d, cast, src, dst);
}

}  // namespace neft::ops
