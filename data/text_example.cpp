// Text lines into examples (see text_example.h).
#include "data/text_example.h"

#include <algorithm>
#include <filesystem>

#include "runtime/error.h"
#include "runtime/json_file.h"
#include "tokenizer/json_fields.h"

namespace neft::data {

namespace {

namespace fs = std::filesystem;

// The eos id text examples end with, as TRL appends tokenizer.eos_token: tokenizer_config.json's
// eos_token, else config.json's eos_token_id (the first, where it lists several).
int32_t eos_of(const fs::path& dir, const tokenizer::Tokenizer& tok) {
  if (const fs::path p = dir / "tokenizer_config.json"; fs::exists(p)) {
    const std::string eos = tokenizer::special_token(
        tokenizer::Fields(read_json_file(p.string()), p.string()), "eos_token");
    if (!eos.empty())
      if (const auto id = tok.token_to_id(eos)) return *id;
  }
  if (const fs::path p = dir / "config.json"; fs::exists(p)) {
    nlohmann::json e = read_json_file(p.string()).value("eos_token_id", nlohmann::json());
    if (e.is_array() && !e.empty()) e = e[0];
    if (e.is_number_integer() && e.get<int64_t>() >= 0 && e.get<int64_t>() < tok.vocab_size())
      return int32_t(e.get<int64_t>());
  }
  return -1;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return size_t(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

MaskedIds with_eos(MaskedIds m, const TextFormat& f) {
  if (f.eos < 0)
    fail("the text needs an eos token to end with, and ", f.model,
         " names none (no eos_token in tokenizer_config.json, no eos_token_id in config.json)");
  if (m.ids.empty() || m.ids.back() != f.eos) {
    m.ids.push_back(f.eos);
    m.learned.push_back(1);
  }
  return m;
}

}  // namespace

TextFormat TextFormat::for_model(const std::string& model) {
  TextFormat f;
  f.model = model;
  const fs::path dir(model);
  if (!fs::is_directory(dir) || !fs::exists(dir / "tokenizer.json")) {
    f.no_tokenizer = model.empty() ? "the model is a preset, with no tokenizer.json"
                     : fs::is_directory(dir)
                         ? model + " has no tokenizer.json"
                         : "--model " + model + " is a preset, with no tokenizer";
    f.no_chat = f.no_tokenizer;
    return f;
  }
  f.tokenizer = tokenizer::Tokenizer::load((dir / "tokenizer.json").string());
  f.eos = eos_of(dir, *f.tokenizer);
  // A model without a (recognised) chat template still reads text and prompt/completion
  // lines; the reason is given to the first conversation.
  try {
    f.chat = std::make_shared<tokenizer::ChatTemplate>(tokenizer::ChatTemplate::load(model));
  } catch (const Error& e) {
    f.no_chat = e.what();
  }
  return f;
}

const tokenizer::Tokenizer& TextFormat::need_tokenizer() const {
  if (!tokenizer) fail("text needs the model's tokenizer: ", no_tokenizer);
  return *tokenizer;
}

const tokenizer::ChatTemplate& TextFormat::need_chat() const {
  need_tokenizer();
  if (!chat) fail("\"messages\" need the model's chat template: ", no_chat);
  return *chat;
}

std::vector<tokenizer::ChatMessage> messages_of(const nlohmann::json& v, const char* key) {
  if (!v.is_array() || v.empty())
    fail("\"", key, "\" must be a non-empty list of {\"role\", \"content\"} messages");
  std::vector<tokenizer::ChatMessage> messages;
  for (size_t i = 0; i < v.size(); ++i) {
    const nlohmann::json& m = v[i];
    const bool ok = m.is_object() && m.contains("role") && m["role"].is_string() &&
                    m.contains("content") && m["content"].is_string();
    if (!ok)
      fail("\"", key, "\"[", i, "] must be {\"role\": string, \"content\": string}, got ",
           json_excerpt(m));
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

MaskedIds encode_masked(const tokenizer::Tokenizer& tok, std::string_view text,
                        const ByteSpans& spans, bool add_special_tokens) {
  MaskedIds m;
  m.ids = tok.encode(text, add_special_tokens);
  m.learned.assign(m.ids.size(), 0);
  auto shared_up_to = [&](size_t byte) {
    return byte >= text.size()
               ? m.ids.size()
               : common_prefix(m.ids, tok.encode(text.substr(0, byte), add_special_tokens));
  };
  for (const auto& [begin, end] : spans) {
    NEFT_CHECK(begin <= end && end <= text.size(), "span [", begin, ", ", end, ") of a text of ",
               text.size(), " bytes");
    const size_t first = shared_up_to(begin), last = shared_up_to(end);
    for (size_t i = first; i < last; ++i) m.learned[i] = 1;
  }
  return m;
}

Example example_of(const MaskedIds& m) {
  const auto first = std::find(m.learned.begin() + (m.ids.empty() ? 0 : 1), m.learned.end(), 1);
  if (first == m.learned.end()) fail("nothing to learn: no token of it is trained on");
  const size_t n = size_t(first - m.learned.begin());
  Example e;
  e.prompt.assign(m.ids.begin(), m.ids.begin() + long(n));
  e.response.assign(m.ids.begin() + long(n), m.ids.end());
  e.learned.assign(m.learned.begin() + long(n), m.learned.end());
  // All learned: the compact form every other source uses.
  if (std::all_of(e.learned.begin(), e.learned.end(), [](uint8_t x) { return x != 0; }))
    e.learned.clear();
  return e;
}

Example chat_example(const TextFormat& f, const std::vector<tokenizer::ChatMessage>& messages,
                     size_t learn_from, bool last_turn_only) {
  const tokenizer::RenderedChat chat = f.need_chat().render(messages, false);
  // The template gives one span per assistant message, in order.
  const size_t skipped = size_t(std::count_if(
      messages.begin(), messages.begin() + long(std::min(learn_from, messages.size())),
      [](const tokenizer::ChatMessage& m) { return m.role == "assistant"; }));
  ByteSpans spans(
      chat.assistant_spans.begin() + long(std::min(skipped, chat.assistant_spans.size())),
      chat.assistant_spans.end());
  if (spans.empty()) fail("no assistant turn to learn from");
  if (last_turn_only) spans.erase(spans.begin(), spans.end() - 1);
  return example_of(encode_masked(f.need_tokenizer(), chat.text, spans, false));
}

Example completion_example(const TextFormat& f, std::string_view prompt,
                           std::string_view completion) {
  if (completion.empty()) fail("\"completion\" is empty");
  const std::string text = std::string(prompt) + std::string(completion);
  return example_of(
      with_eos(encode_masked(f.need_tokenizer(), text, {{prompt.size(), text.size()}}, true), f));
}

Example text_example(const TextFormat& f, std::string_view text) {
  if (text.empty()) fail("\"text\" is empty");
  return example_of(with_eos(encode_masked(f.need_tokenizer(), text, {{0, text.size()}}, true), f));
}

std::vector<int32_t> chat_prompt_ids(const TextFormat& f,
                                     const std::vector<tokenizer::ChatMessage>& messages) {
  return f.need_tokenizer().encode(f.need_chat().render(messages, true).text, false);
}

std::vector<int32_t> text_prompt_ids(const TextFormat& f, std::string_view text) {
  return f.need_tokenizer().encode(text, true);
}

}  // namespace neft::data
