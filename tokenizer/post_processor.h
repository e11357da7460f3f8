// tokenizer.json's "post_processor", for encode with add_special_tokens: the special tokens
// a model wants around one sequence (Llama's <s>, Llama-3's <|begin_of_text|>). Supported:
// TemplateProcessing (its "single" template), ByteLevel (changes offsets only, so nothing
// here), RobertaProcessing / BertProcessing (cls ... sep), Sequence.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "tokenizer/json_fields.h"

namespace neft::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual std::vector<int32_t> apply(std::vector<int32_t> ids) const = 0;
};

// Null (ids unchanged) for a JSON null.
std::unique_ptr<PostProcessor> make_post_processor(const Fields& spec);

}  // namespace neft::tokenizer
