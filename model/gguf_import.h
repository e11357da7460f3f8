// A llama.cpp GGUF model as a Hugging Face model directory, the form every neft command
// takes: config.json from the llama.* keys, the weights dequantized (F32, F16, BF16, Q8_0,
// Q4_0, Q4_1) under their HF names with llama.cpp's q/k row permutation undone, and the
// tokenizer rebuilt from the tokenizer.ggml.* keys as tokenizer.json, tokenizer_config.json
// (with the chat template) and generation_config.json. Tensors are dequantized one shard at
// a time: memory holds one shard (max_shard_bytes) and the file's map, never the whole model.
#pragma once
#include <cstddef>
#include <string>

#include "runtime/dtype.h"

namespace neft::model {

struct GgufImportOptions {
  DType dtype = DType::F32;                  // of the written weights: f32 (exact) or bf16
  size_t max_shard_bytes = size_t(2) << 30;  // 2 GiB, as transformers shards
};

// Writes `out_dir` atomically (absent or whole); fails naming the file and the key or tensor.
void import_gguf(const std::string& gguf_path, const std::string& out_dir,
                 const GgufImportOptions& options = {});

}  // namespace neft::model
