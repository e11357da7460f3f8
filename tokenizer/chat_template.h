// Chat templates: a conversation rendered as transformers' apply_chat_template renders the
// model's Jinja template, without a Jinja interpreter. A template is recognised, then its family
// is rendered natively.
//
// Recognised means: the template's shape (jinja_shape.h: its tokens once whitespace, quote
// style, escapes, x['k'] and x.k, literals split or joined, data between tags and the like are
// made one) equals the shape of one of these templates, as the models' own files have them:
//   chatml   generic ChatML (OpenHermes-2.5): '<|im_start|>' + message['role'] + '\n' +
//            message['content'] + '<|im_end|>' + '\n' for every message, any role
//            SmolLM2-Instruct, Qwen2-Instruct, Qwen1.5-Chat: the same, after a default system
//            turn '<|im_start|>system\n' + D + '<|im_end|>\n' when messages[0] is not a system
//            one; D is any literal text (SmolLM2's, Qwen2's, or another model's)
//            Qwen2.5-Instruct (the template with tools; neft passes none): the same with a
//            default D, roles system, user, assistant and tool, consecutive tool messages in
//            one user turn as <tool_response> blocks
//   llama3   Meta-Llama-3-Instruct (3.0): bos_token + '<|start_header_id|>' + role +
//            '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>', any role
//   llama2   Llama-2-chat: bos_token + '[INST] ' + content.strip() + ' [/INST]', a first
//            system message as <<SYS>>\n...\n<</SYS>>\n\n in the first user turn, answers
//            ' ' + content.strip() + ' ' + eos_token; roles must alternate
//   mistral  Mistral-7B-Instruct v0.1 (answers content + eos_token + ' ') and v0.2 / Mixtral
//            (content + eos_token): bos_token, then '[INST] ' + content + ' [/INST]'; user and
//            assistant only, alternating
//   zephyr   zephyr-7b-beta: '<|user|>\n' + content + eos_token + '\n' (system, assistant
//            alike), '<|assistant|>\n' as the generation prompt
// and optionally the prefix {% if not add_generation_prompt is defined %}{% set
// add_generation_prompt = false %}{% endif %} (a no-op: transformers always defines it).
// Why this is safe: two templates of one shape render the same text for every conversation of
// string messages, so the native renderer of that shape is exact; a template with anything
// more, less or different (another default prompt is the only free part) has another shape
// and is refused, naming the file. The recognised templates and the renderers are held to
// transformers by tests/golden/chat_templates/ (make_chat_template_fixtures.py there).
//
// Rendering follows each template, Jinja's trim and Python's str.strip() included (they strip
// str.isspace characters: Unicode White_Space and U+001C..U+001F). Where the template raises
// (roles that do not alternate, Mistral's system message) render fails; where it would drop a
// message silently (a role it has no branch for) render fails too, so that no conversation is
// trained with a turn missing. transformers refuses a conversation with no messages; so does
// render.
//
// Spans: for the assistant message at index i, begin is where render(messages[:i],
// add_generation_prompt=true) ends and end where render(messages[:i+1], false) ends, less the
// whitespace after it: what training learns (ChatML: "content<|im_end|>", Llama-2:
// " content </s>"). The first is a prefix of the second in these families for i >= 1; a first
// message from the assistant spans from the end of its header.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace neft::tokenizer {

class Fields;

// A special token of tokenizer_config.json (`key` "bos_token", "eos_token", ...) as it writes
// them: "text" or {"content": "text", ...}; "" when absent. Fails naming the file and key when
// it is neither.
std::string special_token(const Fields& config, const std::string& key);

struct ChatMessage {
  std::string role, content;
};

struct RenderedChat {
  std::string text;
  // Byte ranges [begin, end) of `text` that an assistant turn adds (see "Spans" above), in
  // order.
  std::vector<std::pair<size_t, size_t>> assistant_spans;
};

class ChatTemplate {
 public:
  // model_dir/chat_template.jinja if present, else tokenizer_config.json's "chat_template"
  // (a string, or a list of {"name", "template"} from which "default" is taken); bos_token and
  // eos_token from tokenizer_config.json (a string or {"content": ...}; absent = "").
  static ChatTemplate load(const std::string& model_dir);
  // `source` names the file in error messages.
  static ChatTemplate recognise(const std::string& template_text, const std::string& source,
                                std::string bos_token, std::string eos_token);
  const std::string& family() const { return family_; }  // "chatml", "llama3", "llama2", ...
  // Fails without naming a file (the caller says where): see above.
  RenderedChat render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  enum class Kind { kChatML, kChatMLSystem, kQwen25, kLlama3, kLlama2, kMistral, kZephyr };
  Kind kind_ = Kind::kChatML;
  std::string family_, bos_, eos_;
  std::string default_system_;  // kChatMLSystem, kQwen25
  std::string after_answer_;    // kMistral: " " (v0.1) or ""
};

}  // namespace neft::tokenizer
