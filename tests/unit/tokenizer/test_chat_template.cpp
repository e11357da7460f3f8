// Each shipped family's chat template against transformers' apply_chat_template on the same
// conversations (tests/golden/chat_templates/make_chat_template_fixtures.py): the rendered
// text and the assistant spans byte for byte, and an error wherever the template raises. neft
// is stricter in one way only: a role other than system, user and assistant is refused
// (some templates silently drop it, others render it); fixtures with such a role may differ
// by that refusal alone. An unknown template is a one-line error naming the file.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/error_of.h"
#include "tests/unit/temp_dir.h"
#include "tokenizer/chat_template.h"

namespace neft::tokenizer {
namespace {

std::string fixtures() { return std::string(NEFT_SOURCE_DIR) + "/tests/golden/chat_templates"; }

struct Family {
  std::string dir, family;
};

class ChatTemplateFixture : public ::testing::TestWithParam<Family> {};

std::map<std::string, std::vector<ChatMessage>> conversations() {
  std::map<std::string, std::vector<ChatMessage>> all;
  std::ifstream in(fixtures() + "/conversations.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    for (const auto& m : j["messages"]) all[j["name"]].push_back({m["role"], m["content"]});
  }
  return all;
}

TEST_P(ChatTemplateFixture, RendersAsTransformers) {
  const std::string dir = fixtures() + "/" + GetParam().dir;
  const ChatTemplate t = ChatTemplate::load(dir);
  EXPECT_EQ(t.family(), GetParam().family);
  const auto convs = conversations();
  std::ifstream in(dir + "/expected.jsonl");
  ASSERT_TRUE(in.good()) << dir;
  int cases = 0;
  for (std::string line; std::getline(in, line); ++cases) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const std::vector<ChatMessage>& messages = convs.at(j["conversation"]);
    const bool generation = j["add_generation_prompt"];
    const std::string what = j["conversation"].get<std::string>() + (generation ? " +gen" : "");
    if (j.value("error", false)) {
      EXPECT_THROW(t.render(messages, generation), Error) << what;
      continue;
    }
    const RenderedChat r = t.render(messages, generation);
    EXPECT_EQ(r.text, j["text"].get<std::string>()) << what;
    std::vector<std::pair<size_t, size_t>> spans;
    for (const auto& s : j["assistant_spans"]) spans.push_back({s[0], s[1]});
    EXPECT_EQ(r.assistant_spans, spans) << what;
  }
  EXPECT_GE(cases, 30);
}

INSTANTIATE_TEST_SUITE_P(Families, ChatTemplateFixture,
                         ::testing::Values(Family{"chatml", "chatml"}, Family{"smollm2", "chatml"},
                                           Family{"qwen2", "chatml"}, Family{"qwen2.5", "chatml"},
                                           Family{"llama3", "llama3"}, Family{"llama2", "llama2"},
                                           Family{"mistral-v0.1", "mistral"},
                                           Family{"mistral-v0.2", "mistral"},
                                           Family{"zephyr", "zephyr"}),
                         [](const auto& info) {
                           std::string n = info.param.dir;
                           for (char& c : n)
                             if (c == '.' || c == '-') c = '_';
                           return n;
                         });

TEST(ChatTemplate, AnUnknownTemplateIsAOneLineErrorNamingTheFile) {
  const std::string dir = fixtures() + "/unknown";
  const std::string e = testing::error_of([&] { ChatTemplate::load(dir); });
  EXPECT_NE(e.find(dir + "/tokenizer_config.json: chat template not recognised"), std::string::npos)
      << e;
  EXPECT_NE(e.find("ChatML"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(ChatTemplate, NoTemplateAndTheListForm) {
  testing::TempDir d;
  { std::ofstream(d.file("tokenizer_config.json")) << R"({"eos_token": "</s>"})"; }
  EXPECT_NE(
      testing::error_of([&] { ChatTemplate::load(d.path().string()); }).find("no chat template"),
      std::string::npos);
  {
    std::ofstream(d.file("tokenizer_config.json"))
        << R"({"eos_token": {"content": "<|im_end|>"}, "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"}]})";
  }
  const ChatTemplate t = ChatTemplate::load(d.path().string());
  EXPECT_EQ(t.family(), "chatml");
  EXPECT_EQ(t.render({{"user", "hi"}}, false).text, "<|im_start|>user\nhi<|im_end|>\n");
}

// A default system prompt that differs by one character renders differently: the test above
// would catch a wrong one.
TEST(ChatTemplate, TheDefaultSystemPromptIsTheTemplates) {
  const ChatTemplate t = ChatTemplate::recognise(
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
      "'<|im_start|>system\\nBe brief!<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
      "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
      "t", "", "<|im_end|>");
  EXPECT_EQ(t.render({{"user", "x"}}, false).text,
            "<|im_start|>system\nBe brief!<|im_end|>\n<|im_start|>user\nx<|im_end|>\n");
}

}  // namespace
}  // namespace neft::tokenizer
