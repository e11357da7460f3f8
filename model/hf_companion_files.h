// The files of a Hugging Face model directory besides its weights and config.json: the
// tokenizer's (tokenizer.json, tokenizer_config.json, special_tokens_map.json, a chat template,
// the slow tokenizer's vocabularies) and generation_config.json. A model neft writes (a
// run's model/, each checkpoint, `neft merge`'s output) carries those of the model it came
// from, so that transformers' AutoTokenizer and generate() work on it as on its source.
#pragma once
#include <string>
#include <vector>

#include "model/config.h"

namespace neft::model {

// The names copied, where the source has them.
const std::vector<std::string>& tokenizer_file_names();

// The directory whose companion files a model built from (`model`, `init`) carries: init
// when it is a directory holding any, else model when it is; "" when neither is.
std::string companion_source(const std::string& model, const std::string& init);

// Copies the tokenizer files `source` has into `dir`, and writes dir/generation_config.json:
// the source's own, else one from config's bos/eos/pad ids (none when it has no ids).
// source "" copies nothing.
void write_companion_files(const std::string& source, const LlamaConfig& config,
                           const std::string& dir);

}  // namespace neft::model
