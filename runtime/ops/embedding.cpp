#include "runtime/ops/embedding.h"

#include "runtime/ops/dispatch.h"

namespace neft::ops {

namespace {
void check_tokens(const char* op, const Tensor& tokens) {
  check_rank(op, "tokens", tokens, 1, "[N]");
  check_dtype(op, "tokens", tokens, {DType::I32});
}
void check_2d(const char* op, const char* name, const Tensor& t) {
  check_rank(op, name, t, 2, "[rows, C]");
  check_float_for_device(op, name, t);
}
}  // namespace

void embedding_forward(const Tensor& tokens, const Tensor& table, int64_t vocab_start,
                       Tensor& out) {
  const char* op = "embedding_forward";
  const Device d = common_device(op, {&tokens, &table, &out});
  check_tokens(op, tokens);
  check_2d(op, "table", table);
  check_shape(op, "out", out, {tokens.size(0), table.size(1)});
  check_dtype(op, "out", out, {table.dtype()});
  NEFT_DISPATCH(d, embedding_forward, tokens, table, vocab_start, out);
}

void embedding_backward(const Tensor& dout, const Tensor& tokens, int64_t vocab_start,
                        Tensor& dtable) {
  const char* op = "embedding_backward";
  const Device d = common_device(op, {&dout, &tokens, &dtable});
  check_tokens(op, tokens);
  check_2d(op, "dtable", dtable);
  check_2d(op, "dout", dout);
  check_shape(op, "dout", dout, {tokens.size(0), dtable.size(1)});
  if (dtable.size(0) >= (int64_t(1) << 31))
    fail(op, ": argument 'dtable' has ", dtable.size(0), " rows, more than int32 ids can index");
  NEFT_DISPATCH(d, embedding_backward, dout, tokens, vocab_start, dtable);
}

}  // namespace neft::ops
