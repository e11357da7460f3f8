// Chat templates against transformers' apply_chat_template
// (tests/golden/chat_templates/make_chat_template_fixtures.py): for every shipped template and
// every conversation, with and without the generation prompt, the text and the assistant
// spans byte for byte, and an error wherever transformers raises or drops a message. Then what
// recognition accepts (other spellings of a known template) and refuses (templates that
// render a little differently), and the errors of load.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/error_of.h"
#include "tests/unit/jsonl.h"
#include "tests/unit/temp_dir.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja_shape.h"

namespace neft::tokenizer {
namespace {

using ::neft::testing::error_of;
using ::neft::testing::read_jsonl;
using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;

std::string fixtures() { return std::string(NEFT_SOURCE_DIR) + "/tests/golden/chat_templates"; }

std::map<std::string, std::vector<ChatMessage>> conversations() {
  std::map<std::string, std::vector<ChatMessage>> all;
  for (const nlohmann::json& c : read_jsonl(fixtures() + "/conversations.jsonl"))
    for (const nlohmann::json& m : c["messages"])
      all[c["name"]].push_back({m["role"], m["content"]});
  return all;
}

// The template of a fixture folder, as its file holds it.
std::string template_of(const std::string& name) {
  const std::string dir = fixtures() + "/" + name;
  if (std::filesystem::exists(dir + "/chat_template.jinja"))
    return read_text(dir + "/chat_template.jinja");
  return nlohmann::json::parse(read_text(dir + "/tokenizer_config.json"))["chat_template"];
}

struct Fixture {
  std::string name, family;
};
void PrintTo(const Fixture& f, std::ostream* os) { *os << f.name; }

class ChatTemplateFixtures : public ::testing::TestWithParam<Fixture> {};

TEST_P(ChatTemplateFixtures, RenderAsTransformers) {
  const std::string dir = fixtures() + "/" + GetParam().name;
  const ChatTemplate t = ChatTemplate::load(dir);
  EXPECT_EQ(t.family(), GetParam().family);
  const auto convs = conversations();
  const std::vector<nlohmann::json> expected = read_jsonl(dir + "/expected.jsonl");
  ASSERT_EQ(expected.size(), 2 * convs.size());
  int errors = 0;
  for (const nlohmann::json& e : expected) {
    const std::vector<ChatMessage>& messages = convs.at(e["conversation"]);
    const bool generation = e["add_generation_prompt"];
    const std::string what =
        e["conversation"].get<std::string>() + (generation ? " with the generation prompt" : "");
    if (e.contains("error")) {
      ++errors;
      const std::string message = error_of([&] { t.render(messages, generation); });
      EXPECT_NE(message, "") << what << ": " << e["why"];
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      continue;
    }
    RenderedChat r;
    ASSERT_NO_THROW(r = t.render(messages, generation)) << what;
    EXPECT_EQ(r.text, e["text"].get<std::string>()) << what;
    std::vector<std::pair<size_t, size_t>> spans;
    for (const nlohmann::json& s : e["assistant_spans"]) spans.push_back({s[0], s[1]});
    EXPECT_EQ(r.assistant_spans, spans) << what;
  }
  std::printf("%s: %zu cases, %d of them errors\n", GetParam().name.c_str(), expected.size(),
              errors);
}

INSTANTIATE_TEST_SUITE_P(ChatTemplate, ChatTemplateFixtures,
                         ::testing::Values(Fixture{"chatml", "chatml"},
                                           Fixture{"smollm2", "chatml"}, Fixture{"qwen2", "chatml"},
                                           Fixture{"qwen2.5", "chatml"},
                                           Fixture{"llama3", "llama3"}, Fixture{"llama2", "llama2"},
                                           Fixture{"mistral-v0.1", "mistral"},
                                           Fixture{"mistral-v0.2", "mistral"},
                                           Fixture{"zephyr", "zephyr"}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n)
                             if (!std::isalnum(uint8_t(c))) c = '_';
                           return n;
                         });

const std::vector<ChatMessage> kTurn = {{"user", " Hi "}, {"assistant", " Hello. "}};

std::string rendered(const std::string& text, const std::vector<ChatMessage>& m = kTurn) {
  return ChatTemplate::recognise(text, "t.jinja", "<s>", "</s>").render(m, true).text;
}

// The fixtures hold each default system prompt; the prompt is read from the template, not
// known by family.
TEST(ChatTemplate, DefaultSystemPromptComesFromTheTemplate) {
  std::string smollm2 = template_of("smollm2");
  EXPECT_NE(rendered(smollm2).find("named SmolLM, trained by Hugging Face<|im_end|>"),
            std::string::npos);
  const std::string name = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
  smollm2.replace(smollm2.find(name), name.size(), "Be brief.");
  EXPECT_EQ(rendered(smollm2),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n"
            "<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>assistant\n");
  // Qwen2.5 has it twice (with and without tools): both must say the same.
  std::string qwen = template_of("qwen2.5");
  const std::string qwen_prompt = "You are Qwen, created by Alibaba Cloud.";
  qwen.replace(qwen.find(qwen_prompt), qwen_prompt.size(), "You are Wen.");
  EXPECT_NE(error_of([&] { rendered(qwen); }), "");
}

// Other spellings of the same templates: the same text.
TEST(ChatTemplate, AcceptsOtherSpellingsOfAKnownTemplate) {
  const std::string want = rendered(template_of("smollm2"));
  const char* const spellings[] = {
      // message.x, double quotes, other spaces, joined literals, \n as an escape
      "{%for message in messages%}{%if loop.first and messages[0].role!=\"system\"%}"
      "{{\"<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\\n\"}}{%endif%}{{ \"<|im_start|>\" + message.role + \"\\n\" + "
      "message.content + \"<|im_end|>\\n\" }}{%endfor%}"
      "{%if add_generation_prompt%}{{\"<|im_start|>assistant\\n\"}}{%endif%}",
      // a file laid out on lines: whitespace control, text between tags, a comment, and the
      // final newline Jinja drops
      "{# SmolLM2 #}\n{%- for message in messages %}\n"
      "  {%- if loop.first and messages[0]['role'] != 'system' %}\n"
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n"
      "  {% endif %}\n"
      "  {{- '<|im_start|>' + message['role'] + '\\n' }}{{ message['content'] }}<|im_end|>\n"
      "{% endfor %}\n"
      "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}\n",
      // the no-op prefix
      "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}"
      "{% endif %}{% for message in messages %}{% if loop.first and messages[0]['role'] != "
      "'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained "
      "by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|im_start|>assistant\\n' }}{% endif %}",
  };
  for (const char* s : spellings) EXPECT_EQ(rendered(s), want) << s;
}

// Templates that render a little differently from a known one: refused, not rendered as it.
TEST(ChatTemplate, RefusesTemplatesThatRenderDifferently) {
  struct Edit {
    const char *name, *from, *to;
  };
  const Edit edits[] = {
      {"smollm2", "message['content'] + '<|im_end|>'", "message['content'] | trim + '<|im_end|>'"},
      {"chatml", "'<|im_end|>' + '\n'", "'<|im_end|>' + '\n\n'"},
      {"chatml", "{% for message in messages %}", "{{ bos_token }}{% for message in messages %}"},
      {"llama3", "message['content'] | trim", "message['content']"},
      {"llama3", "{% if loop.index0 == 0 %}", "{% if loop.index0 == 1 %}"},
      {"llama2", "' [/INST]'", "' [/INST] '"},
      {"llama2", "content.strip()", "content"},
      {"mistral-v0.2", "eos_token}}", "eos_token + '\n'}}"},
      {"mistral-v0.1", "{{ bos_token }}", ""},
      {"zephyr", "{{ '<|assistant|>' }}\n", "{{ '<|assistant|>' }}"},
      {"zephyr", "{% for message in messages %}\n", "{% for message in messages %} \n"},
      {"qwen2.5", "(message.role == \"system\" and not loop.first) or ", ""},
  };
  for (const Edit& e : edits) {
    std::string text = template_of(e.name);
    const size_t at = text.find(e.from);
    ASSERT_NE(at, std::string::npos) << e.name << ": " << e.from;
    text.replace(at, std::string(e.from).size(), e.to);
    EXPECT_EQ(error_of([&] { ChatTemplate::recognise(text, "dir/t.jinja", "<s>", "</s>"); }),
              "dir/t.jinja: chat template not recognised; neft renders ChatML (SmolLM2, Qwen), "
              "Llama-3, Llama-2 [INST] <<SYS>>, Mistral [INST] and Zephyr templates")
        << e.name << ": " << e.from << " -> " << e.to;
  }
}

TEST(ChatTemplate, UnknownTemplateIsOneLineNamingTheFile) {
  const std::string dir = fixtures() + "/unknown";
  EXPECT_EQ(error_of([&] { ChatTemplate::load(dir); }),
            dir +
                "/tokenizer_config.json: chat template not recognised; neft renders ChatML "
                "(SmolLM2, Qwen), Llama-3, Llama-2 [INST] <<SYS>>, Mistral [INST] and Zephyr "
                "templates");
  for (const char* text : {"", "{{ messages", "{% raw %}x{% endraw %}", "{{ 'a\\q' }}", "\xff"})
    EXPECT_NE(error_of([&] { ChatTemplate::recognise(text, "t", "", ""); }).find("t: chat "),
              std::string::npos)
        << text;
}

TEST(ChatTemplate, LoadErrors) {
  TempDir dir;
  EXPECT_EQ(error_of([&] { ChatTemplate::load(dir.path().string()); }),
            dir.path().string() +
                ": no chat template (tokenizer_config.json has no \"chat_template\" and there is "
                "no chat_template.jinja)");
  write_text(dir.file("tokenizer_config.json"), R"({"chat_template": 3})");
  EXPECT_EQ(error_of([&] { ChatTemplate::load(dir.path().string()); }),
            dir.file("tokenizer_config.json") +
                ": key 'chat_template': expected a string or a list of {\"name\", \"template\"}, "
                "got 3");
  write_text(dir.file("tokenizer_config.json"),
             R"({"chat_template": [{"name": "tool_use", "template": "x"}]})");
  EXPECT_EQ(error_of([&] { ChatTemplate::load(dir.path().string()); }),
            dir.file("tokenizer_config.json") +
                ": key 'chat_template': no template named \"default\" in the list");
  write_text(dir.file("tokenizer_config.json"), R"({"eos_token": 2, "chat_template": "x"})");
  EXPECT_EQ(error_of([&] { ChatTemplate::load(dir.path().string()); }),
            dir.file("tokenizer_config.json") +
                ": key 'eos_token': expected a string or an object with \"content\", got 2");
  EXPECT_NE(error_of([&] { ChatTemplate::load(dir.file("missing")); }), "");
}

// A list of named templates (transformers' older form for several): "default" is taken.
TEST(ChatTemplate, ListFormTakesTheDefault) {
  TempDir dir;
  const nlohmann::json config = {
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "{{ tools }}"}},
        {{"name", "default"}, {"template", template_of("llama3")}}}},
      {"bos_token", {{"__type", "AddedToken"}, {"content", "<|begin_of_text|>"}}}};
  write_text(dir.file("tokenizer_config.json"), config.dump());
  const ChatTemplate t = ChatTemplate::load(dir.path().string());
  EXPECT_EQ(t.family(), "llama3");
  EXPECT_EQ(t.render({{"user", " Hi\n"}}, false).text,
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  // chat_template.jinja, when there is one, is the template (as in transformers).
  write_text(dir.file("chat_template.jinja"), template_of("zephyr"));
  EXPECT_EQ(ChatTemplate::load(dir.path().string()).family(), "zephyr");
}

TEST(ChatTemplate, RenderErrors) {
  const ChatTemplate llama2 = ChatTemplate::load(fixtures() + "/llama2");
  EXPECT_EQ(error_of([&] { llama2.render({}, true); }), "a conversation with no messages");
  EXPECT_EQ(
      error_of([&] {
        llama2.render({{"user", "q"}, {"tool", "t"}}, true);
      }),
      "messages[1]: role \"tool\" is not one this template renders (system, user, assistant)");
  EXPECT_EQ(error_of([&] {
              llama2.render({{"user", "q"}, {"user", "q"}}, true);
            }),
            "messages[1]: roles must alternate user/assistant/user/assistant/... after an "
            "optional system message (the template raises otherwise)");
  const ChatTemplate mistral = ChatTemplate::load(fixtures() + "/mistral-v0.2");
  EXPECT_EQ(error_of([&] {
              mistral.render({{"system", "s"}, {"user", "q"}}, true);
            }),
            "messages[0]: role \"system\" is not one this template renders (user, assistant)");
  EXPECT_EQ(error_of([&] {
              mistral.render({{"user", "\xc3"}}, true);
            }),
            "messages[0]: not UTF-8 text");
}

// Python's str.isspace, not Rust's char::is_whitespace: U+001C..U+001F are stripped too.
TEST(ChatTemplate, StripIsPythons) {
  EXPECT_EQ(python_strip("\x1c\x1f \xe3\x80\x80\xc2\xa0x y\xe2\x80\xa8\t\n\x0b\x0c\r\xc2\x85"),
            "x y");
  EXPECT_EQ(python_strip("\xe2\x80\x8bx\xef\xbb\xbf"), "\xe2\x80\x8bx\xef\xbb\xbf");  // ZWSP, BOM
  for (char32_t c = 0; c < 0x3100; ++c) {
    const bool python = (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 ||
                        c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
                        c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    EXPECT_EQ(is_python_space(c), python) << std::hex << uint32_t(c);
  }
}

}  // namespace
}  // namespace neft::tokenizer
