#include "runtime/ops/document_starts.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

void document_starts(const Tensor& positions, Tensor& starts) {
  const char* op = "document_starts";
  const Device d = common_device(op, {&positions, &starts});
  check_rank(op, "positions", positions, 2, "[B, T]");
  check_dtype(op, "positions", positions, {DType::I32});
  check_shape(op, "starts", starts, positions.shape());
  check_dtype(op, "starts", starts, {DType::I32});
  if (positions.size(0) * positions.size(1) > INT32_MAX)
    fail(op, ": positions ", positions.str(), " has more than 2^31 - 1 tokens");
  NEFT_DISPATCH(d, document_starts, positions, starts);
}

}  // namespace neft::ops
