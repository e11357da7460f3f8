// A piece of the input on its way from text to tokens: normalizers rewrite it,
// pre-tokenizers cut it into smaller pieces, and the model spells each final piece in
// tokens. `at_start` says the piece begins where the whole input begins (Metaspace's
// prepend_scheme "first" asks).
#pragma once
#include <string>
#include <vector>

namespace neft::tokenizer {

struct Piece {
  std::string text;
  bool at_start = false;
};

using Pieces = std::vector<Piece>;

}  // namespace neft::tokenizer
