// tokenizer.json's "normalizer": a rewrite of each text segment (the input between added
// tokens) before it is cut into pieces. Supported: Sequence, NFC, NFD, NFKC, NFKD,
// Lowercase, Prepend, Replace (a string or a regex), Strip. Anything else is a one-line
// error naming the file, the key and what is supported.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace neft::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string apply(std::string text) const = 0;
};

// Null (no normalizer) for a JSON null.
std::unique_ptr<Normalizer> make_normalizer(const Fields& spec);

}  // namespace neft::tokenizer
