// A Hugging Face tokenizer (tokenizer.json) read and run: encode text to ids and decode ids
// to text as transformers' tokenizers does, for the BPE models of the Llama families
// (byte-level: GPT-2, Llama-3, SmolLM2, Qwen; SentencePiece-style with byte fallback:
// Llama-2, Mistral). The pipeline per call, as in tokenizers:
//   added tokens are found in the raw text; each run of text between them is normalized,
//   searched for normalized added tokens, cut into pieces by the pre-tokenizer and spelt by
//   the BPE model; with add_special_tokens the post-processor adds its template's tokens.
//   decode maps ids to token strings (added tokens as their content) and runs the decoder.
// Anything the file holds that is not supported, or holds wrongly, is a one-line error
// naming the file and the key. Encoding is safe from several threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"

namespace neft::tokenizer {

class Bpe;
class Normalizer;
class PreTokenizer;
class PostProcessor;
class Decoder;

class Tokenizer {
 public:
  // `path`: a tokenizer.json, or a directory holding one.
  static std::unique_ptr<Tokenizer> load(const std::string& path);
  ~Tokenizer();

  // `text` must be UTF-8 (else a one-line error saying at which byte it stops being so).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // Fails on an id that is neither the model's nor an added token.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Added tokens first, then the model's vocabulary.
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Empty for an id the tokenizer does not have.
  std::string id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // One past the largest id, added tokens included.
  int32_t vocab_size() const;
  const AddedTokens& added_tokens() const { return added_; }
  const std::string& path() const { return path_; }

 private:
  Tokenizer() = default;
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& ids) const;

  std::string path_;
  AddedTokens added_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Bpe> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace neft::tokenizer
