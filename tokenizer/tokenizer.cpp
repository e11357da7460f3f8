#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "runtime/error.h"
#include "runtime/json_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) {
    file = (std::filesystem::path(path) / "tokenizer.json").string();
    if (!std::filesystem::exists(file))
      fail(path, ": no tokenizer.json in this directory (a Hugging Face tokenizer is needed)");
  }
  const nlohmann::json j = read_json_file(file);
  const Fields root(j, file);
  if (!j.is_object()) root.fail("expected a JSON object (a Hugging Face tokenizer.json)");
  std::unique_ptr<Tokenizer> t(new Tokenizer);
  t->path_ = file;

  const Fields model = root.at("model");
  const std::string type = model.has("type") ? model.type() : model.has("merges") ? "BPE" : "";
  if (type != "BPE")
    model.fail("model type '" + type + "' is not supported (supported: BPE, as the Llama, " +
               "Mistral, Qwen, SmolLM2 and GPT-2 families use)");
  t->model_ = std::make_unique<Bpe>(model);
  if (root.has("added_tokens")) t->added_ = AddedTokens(root.at("added_tokens"));
  if (root.has("normalizer")) t->normalizer_ = make_normalizer(root.at("normalizer"));
  if (root.has("pre_tokenizer")) t->pre_tokenizer_ = make_pre_tokenizer(root.at("pre_tokenizer"));
  if (root.has("post_processor"))
    t->post_processor_ = make_post_processor(root.at("post_processor"));
  if (root.has("decoder")) t->decoder_ = make_decoder(root.at("decoder"));
  return t;
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::encode_text(std::string_view text, bool at_start, std::vector<int32_t>& ids) const {
  const std::string normalized =
      normalizer_ ? normalizer_->apply(std::string(text)) : std::string(text);
  for (const Segment& s : added_.split(normalized, /*normalized=*/true)) {
    if (s.id >= 0) {
      ids.push_back(s.id);
      continue;
    }
    Pieces pieces{{std::string(s.text), at_start && s.begin == 0}};
    if (pre_tokenizer_) pieces = pre_tokenizer_->apply(std::move(pieces));
    for (const Piece& p : pieces) model_->encode(p.text, ids);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const size_t valid = utf8_valid_prefix(text);
  if (valid != text.size())
    fail("tokenizer: the text is not UTF-8 (byte ", valid, " is 0x", std::hex,
         int(uint8_t(text[valid])), ")");
  std::vector<int32_t> ids;
  for (const Segment& s : added_.split(text, /*normalized=*/false)) {
    if (s.id >= 0)
      ids.push_back(s.id);
    else
      encode_text(s.text, s.begin == 0, ids);
  }
  if (add_special_tokens && post_processor_) ids = post_processor_->apply(std::move(ids));
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* a = added_.by_id(id)) {
      if (!(skip_special_tokens && a->special)) tokens.push_back(a->content);
      continue;
    }
    const std::string& t = model_->id_to_token(id);
    if (t.empty())
      fail("tokenizer ", path_, ": token id ", id, " is not in the vocabulary (ids 0..",
           vocab_size() - 1, ")");
    tokens.push_back(t);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  std::string out;
  for (const std::string& t : decoder_->apply(std::move(tokens))) out += t;
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* a = added_.by_content(token)) return a->id;
  return model_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* a = added_.by_id(id)) return a->content;
  return model_->id_to_token(id);
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* a = added_.by_id(id);
  return a && a->special;
}

int32_t Tokenizer::vocab_size() const {
  int32_t n = model_->size();
  for (const AddedToken& a : added_.all()) n = std::max(n, a.id + 1);
  return n;
}

}  // namespace neft::tokenizer
