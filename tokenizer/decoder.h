// tokenizer.json's "decoder": tokens back to text, as a chain over the list of token
// strings (each step rewrites the list, the result is joined). Supported: Sequence,
// ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace. Anything else is a one-line
// error naming the file and key.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace neft::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> apply(std::vector<std::string> tokens) const = 0;
};

// Null (tokens joined as they are) for a JSON null.
std::unique_ptr<Decoder> make_decoder(const Fields& spec);

}  // namespace neft::tokenizer
