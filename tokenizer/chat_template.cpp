#include "tokenizer/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/json_file.h"
#include "runtime/mapped_file.h"
#include "tokenizer/jinja_shape.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

constexpr const char* kRefusal =
    "chat template not recognised; neft renders ChatML (SmolLM2, Qwen), Llama-3, Llama-2 [INST] "
    "<<SYS>>, Mistral [INST] and Zephyr templates";

// The free part of a recognised template: a literal holding it matches any literal with the
// same text around it.
constexpr std::string_view kSystem = "@SYSTEM@";

// The templates neft renders, as the models' tokenizer_config.json files have them (these are
// those JSON strings), the default system prompt replaced by @SYSTEM@.
// clang-format off: one line per template, as in the JSON files.
const char* const kChatML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
    "}}{% endif %}";
const char* const kChatMLSystem =  // SmolLM2-Instruct, Qwen2-Instruct, Qwen1.5-Chat
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\n@SYSTEM@<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + "
    "'\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\n' }}{% endif %}";
const char* const kQwen25 =
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == "
    "'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- '@SYSTEM@' "
    "}}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to "
    "assist with the user query.\\n\\nYou are provided with function signatures within "
    "<tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" "
    "}}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each "
    "function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
    "\\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- "
    "if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + "
    "messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- "
    "'<|im_start|>system\\n@SYSTEM@<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for "
    "message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" "
    "and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        "
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    "
    "{%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n     "
    "   {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif "
    "%}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function "
    "is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- "
    "endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name "
    "}}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson "
    "}}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' "
    "}}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or "
    "(messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n      "
    "  {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n      "
    "  {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role "
    "!= \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif "
    "%}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' "
    "}}\n{%- endif %}\n";
const char* const kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif "
    "%}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const char* const kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
    "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != "
    "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
    "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
    "endfor %}";
const char* const kMistralV01 =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 "
    "% 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] "
    "' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}";
const char* const kMistralV02 =  // also Mixtral-8x7B-Instruct-v0.1
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 "
    "% 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] "
    "' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}";
const char* const kZephyr =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' "
    "+ message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ "
    "'<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and "
    "add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
// A no-op some ChatML templates start with (Dolphin, DeepSeek).
const char* const kDefinedPrefix =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif "
    "%}";
// clang-format on

Shape shape_of(const char* text) {
  std::optional<Shape> s = jinja_shape(text);
  NEFT_CHECK(s.has_value(), "a built-in chat template has no shape");
  return *s;
}

// `t` has the shape `known`, whose @SYSTEM@ literals all match the same text (put in `system`).
bool matches(const Shape& t, const Shape& known, std::string& system) {
  if (t.size() != known.size()) return false;
  std::optional<std::string> free;
  for (size_t i = 0; i < t.size(); ++i) {
    const size_t hole = known[i].literal ? known[i].text.find(kSystem) : std::string::npos;
    if (hole == std::string::npos) {
      if (!(t[i] == known[i])) return false;
      continue;
    }
    const std::string_view k = known[i].text, x = t[i].text;
    const std::string_view before = k.substr(0, hole), after = k.substr(hole + kSystem.size());
    if (!t[i].literal || x.size() < before.size() + after.size() || !x.starts_with(before) ||
        !x.ends_with(after))
      return false;
    const std::string middle(x.substr(before.size(), x.size() - before.size() - after.size()));
    if (free && *free != middle) return false;
    free = middle;
  }
  system = free.value_or("");
  return true;
}

}  // namespace

std::string special_token(const Fields& config, const std::string& key) {
  if (!config.has(key)) return "";
  const Fields f = config.at(key);
  if (f.value().is_string()) return f.value().get<std::string>();
  if (f.value().is_object() && f.has("content")) return f.str("content");
  f.fail("expected a string or an object with \"content\", got " + json_excerpt(f.value()));
}

namespace {

std::string template_text(const Fields& t) {
  if (t.value().is_string()) return t.value().get<std::string>();
  if (t.value().is_array()) {
    for (size_t i = 0; i < t.size(); ++i)
      if (t.at(i).value().is_object() && t.at(i).opt_str("name") == "default")
        return t.at(i).str("template");
    t.fail("no template named \"default\" in the list");
  }
  t.fail("expected a string or a list of {\"name\", \"template\"}, got " + json_excerpt(t.value()));
}

bool is_role(const ChatMessage& m, const char* role) { return m.role == role; }

[[noreturn]] void unrendered_role(size_t i, const ChatMessage& m, const char* roles) {
  fail("messages[", i, "]: role \"", m.role, "\" is not one this template renders (", roles, ")");
}

// The text so far, and the spans of the answers in it.
struct Writer {
  RenderedChat r;
  void add(std::string_view s) { r.text += s; }
  size_t at() const { return r.text.size(); }
  // The answer that began at `begin` has been written, and what follows it in its turn.
  void answered(size_t begin) {
    r.assistant_spans.push_back({begin, std::max(begin, python_rstrip(r.text).size())});
  }
};

}  // namespace

ChatTemplate ChatTemplate::load(const std::string& model_dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(model_dir))
    fail(model_dir, ": not a directory (a Hugging Face model directory is needed)");
  const std::string config_file = (fs::path(model_dir) / "tokenizer_config.json").string();
  const std::string jinja_file = (fs::path(model_dir) / "chat_template.jinja").string();
  const nlohmann::json config =
      fs::exists(config_file) ? read_json_file(config_file) : nlohmann::json::object();
  const Fields root(config, config_file);
  if (!config.is_object()) root.fail("expected a JSON object");
  std::string text, source;
  if (fs::exists(jinja_file)) {
    const MappedFile file(jinja_file);
    text.assign(reinterpret_cast<const char*>(file.data()), file.size());
    source = jinja_file;
  } else if (root.has("chat_template")) {
    text = template_text(root.at("chat_template"));
    source = config_file;
  } else {
    fail(model_dir,
         ": no chat template (tokenizer_config.json has no \"chat_template\" and there is no "
         "chat_template.jinja)");
  }
  return recognise(text, source, special_token(root, "bos_token"),
                   special_token(root, "eos_token"));
}

ChatTemplate ChatTemplate::recognise(const std::string& template_text, const std::string& source,
                                     std::string bos_token, std::string eos_token) {
  struct Known {
    Kind kind;
    const char* family;
    Shape shape;
    const char* after_answer;
  };
  static const std::vector<Known> known = {
      {Kind::kChatML, "chatml", shape_of(kChatML), ""},
      {Kind::kChatMLSystem, "chatml", shape_of(kChatMLSystem), ""},
      {Kind::kQwen25, "chatml", shape_of(kQwen25), ""},
      {Kind::kLlama3, "llama3", shape_of(kLlama3), ""},
      {Kind::kLlama2, "llama2", shape_of(kLlama2), ""},
      {Kind::kMistral, "mistral", shape_of(kMistralV01), " "},
      {Kind::kMistral, "mistral", shape_of(kMistralV02), ""},
      {Kind::kZephyr, "zephyr", shape_of(kZephyr), ""},
  };
  static const Shape prefix = shape_of(kDefinedPrefix);

  std::optional<Shape> shape = jinja_shape(template_text);
  if (!shape) fail(source, ": ", kRefusal);
  if (shape->size() > prefix.size() && std::equal(prefix.begin(), prefix.end(), shape->begin()))
    shape->erase(shape->begin(), shape->begin() + prefix.size());
  for (const Known& k : known) {
    ChatTemplate t;
    if (!matches(*shape, k.shape, t.default_system_)) continue;
    t.kind_ = k.kind;
    t.family_ = k.family;
    t.after_answer_ = k.after_answer;
    t.bos_ = std::move(bos_token);
    t.eos_ = std::move(eos_token);
    return t;
  }
  fail(source, ": ", kRefusal);
}

RenderedChat ChatTemplate::render(const std::vector<ChatMessage>& m,
                                  bool add_generation_prompt) const {
  if (m.empty()) fail("a conversation with no messages");
  for (size_t i = 0; i < m.size(); ++i)
    if (utf8_valid_prefix(m[i].role) != m[i].role.size() ||
        utf8_valid_prefix(m[i].content) != m[i].content.size())
      fail("messages[", i, "]: not UTF-8 text");
  Writer w;
  // A ChatML turn: header, content, end; an assistant's content and end are its answer.
  const auto chatml_turn = [&](const ChatMessage& x) {
    w.add("<|im_start|>" + x.role + "\n");
    const size_t begin = w.at();
    w.add(x.content + "<|im_end|>\n");
    if (is_role(x, "assistant")) w.answered(begin);
  };
  switch (kind_) {
    case Kind::kChatML:
    case Kind::kChatMLSystem:
      if (kind_ == Kind::kChatMLSystem && !is_role(m[0], "system"))
        w.add("<|im_start|>system\n" + default_system_ + "<|im_end|>\n");
      for (const ChatMessage& x : m) chatml_turn(x);
      if (add_generation_prompt) w.add("<|im_start|>assistant\n");
      break;
    case Kind::kQwen25:
      w.add("<|im_start|>system\n" + (is_role(m[0], "system") ? m[0].content : default_system_) +
            "<|im_end|>\n");
      for (size_t i = 0; i < m.size(); ++i) {
        if (is_role(m[i], "user") || is_role(m[i], "assistant") ||
            (is_role(m[i], "system") && i > 0)) {
          chatml_turn(m[i]);
        } else if (is_role(m[i], "tool")) {
          // Consecutive tool results share one user turn.
          if (i == 0 || !is_role(m[i - 1], "tool")) w.add("<|im_start|>user");
          w.add("\n<tool_response>\n" + m[i].content + "\n</tool_response>");
          if (i + 1 == m.size() || !is_role(m[i + 1], "tool")) w.add("<|im_end|>\n");
        } else if (!is_role(m[i], "system")) {
          unrendered_role(i, m[i], "system, user, assistant, tool");
        }
      }
      if (add_generation_prompt) w.add("<|im_start|>assistant\n");
      break;
    case Kind::kLlama3:
      for (size_t i = 0; i < m.size(); ++i) {
        if (i == 0) w.add(bos_);
        w.add("<|start_header_id|>" + m[i].role + "<|end_header_id|>\n\n");
        const size_t begin = w.at();
        w.add(python_strip(m[i].content) + "<|eot_id|>");
        if (is_role(m[i], "assistant")) w.answered(begin);
      }
      if (add_generation_prompt) w.add("<|start_header_id|>assistant<|end_header_id|>\n\n");
      break;
    case Kind::kLlama2: {
      // A first system message goes into the first user turn; the rest alternate from there.
      const size_t first = is_role(m[0], "system") ? 1 : 0;
      for (size_t i = first; i < m.size(); ++i) {
        if (is_role(m[i], "system"))
          fail("messages[", i, "]: this template renders a system message only first");
        if (!is_role(m[i], "user") && !is_role(m[i], "assistant"))
          unrendered_role(i, m[i], "system, user, assistant");
        if (is_role(m[i], "user") != ((i - first) % 2 == 0))
          fail("messages[", i, "]: roles must alternate user/assistant/user/assistant/... after ",
               "an optional system message (the template raises otherwise)");
        std::string content = m[i].content;
        if (first == 1 && i == 1) content = "<<SYS>>\n" + m[0].content + "\n<</SYS>>\n\n" + content;
        if (is_role(m[i], "user")) {
          w.add(bos_ + "[INST] " + python_strip(content) + " [/INST]");
        } else {
          const size_t begin = w.at();
          w.add(" " + python_strip(content) + " " + eos_);
          w.answered(begin);
        }
      }
      break;
    }
    case Kind::kMistral:
      w.add(bos_);
      for (size_t i = 0; i < m.size(); ++i) {
        if (!is_role(m[i], "user") && !is_role(m[i], "assistant"))
          unrendered_role(i, m[i], "user, assistant");
        if (is_role(m[i], "user") != (i % 2 == 0))
          fail("messages[", i, "]: roles must alternate user/assistant/user/assistant/... ",
               "(the template raises otherwise)");
        if (is_role(m[i], "user")) {
          w.add("[INST] " + m[i].content + " [/INST]");
        } else {
          const size_t begin = w.at();
          w.add(m[i].content + eos_ + after_answer_);
          w.answered(begin);
        }
      }
      break;
    case Kind::kZephyr:
      for (size_t i = 0; i < m.size(); ++i) {
        if (!is_role(m[i], "user") && !is_role(m[i], "assistant") && !is_role(m[i], "system"))
          unrendered_role(i, m[i], "system, user, assistant");
        w.add("<|" + m[i].role + "|>\n");
        const size_t begin = w.at();
        w.add(m[i].content + eos_ + "\n");
        if (is_role(m[i], "assistant")) w.answered(begin);
        if (i + 1 == m.size() && add_generation_prompt) w.add("<|assistant|>\n");
      }
      break;
  }
  return std::move(w.r);
}

}  // namespace neft::tokenizer
