// tokenizer.json's "pre_tokenizer": cuts each normalized segment into the pieces the model
// spells one at a time. Supported: Sequence, Split (a string or a regex; behaviours Removed,
// Isolated, MergedWithPrevious, MergedWithNext, Contiguous; invert), ByteLevel (GPT-2's
// regex or none, add_prefix_space; maps bytes to its alphabet), Digits, Metaspace,
// Whitespace, WhitespaceSplit. Anything else is a one-line error naming the file and key.
#pragma once
#include <memory>

#include "tokenizer/json_fields.h"
#include "tokenizer/piece.h"

namespace neft::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual Pieces apply(Pieces pieces) const = 0;
};

// Null (no pre-tokenizer: each segment is one piece) for a JSON null.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Fields& spec);

}  // namespace neft::tokenizer
