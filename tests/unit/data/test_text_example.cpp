// Text lines into examples with a real tokenizer and chat template (the SmolLM2-style
// tokenizer.json and template of the fixtures): a conversation's ids are exactly those of
// its rendered text, and the learned ones exactly the tokens of its assistant turns
// (content and <|im_end|>); prompt/completion learns the completion and an appended eos;
// text learns everything; an evaluation view learns the last turn only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/sft.h"
#include "data/text_example.h"
#include "tests/unit/data/data_testing.h"
#include "tests/unit/temp_dir.h"

namespace neft::data {
namespace {

namespace fs = std::filesystem;

std::string model_dir(const neft::testing::TempDir& d) {
  const std::string src = std::string(NEFT_SOURCE_DIR) + "/tests/golden/";
  fs::copy_file(src + "tokenizers/smollm2/tokenizer.json", d.file("tokenizer.json"));
  fs::copy_file(src + "chat_templates/smollm2/tokenizer_config.json",
                d.file("tokenizer_config.json"));
  return d.path().string();
}

// The ids of the whole example, and the learned ones (the targets of their predecessors).
std::vector<int32_t> all_ids(const Example& e) {
  std::vector<int32_t> ids = e.prompt;
  ids.insert(ids.end(), e.response.begin(), e.response.end());
  return ids;
}
std::vector<int32_t> learned_ids(const Example& e) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < e.response.size(); ++i)
    if (e.learns(i)) ids.push_back(e.response[i]);
  return ids;
}

TEST(TextExample, AConversationLearnsItsAssistantTurnsExactly) {
  neft::testing::TempDir d;
  const TextFormat f = TextFormat::for_model(model_dir(d));
  ASSERT_TRUE(f.chat && f.tokenizer);
  const std::vector<tokenizer::ChatMessage> m = {{"user", "What is 12 + 35?"},
                                                 {"assistant", "47"},
                                                 {"user", "And 1 + 1?"},
                                                 {"assistant", "2, of course."}};
  const Example e = chat_example(f, m);
  const tokenizer::RenderedChat r = f.chat->render(m, false);
  EXPECT_EQ(all_ids(e), f.tokenizer->encode(r.text));
  std::vector<int32_t> want;
  for (const auto& [b, end] : r.assistant_spans) {
    const auto part = f.tokenizer->encode(r.text.substr(b, end - b));
    want.insert(want.end(), part.begin(), part.end());
  }
  EXPECT_EQ(learned_ids(e), want);
  const int32_t im_end = *f.tokenizer->token_to_id("<|im_end|>");
  EXPECT_EQ(learned_ids(e).back(), im_end);
  // The evaluation view: only the last answer.
  const Example last = chat_example(f, m, 0, true);
  EXPECT_EQ(learned_ids(last), f.tokenizer->encode("2, of course.<|im_end|>"));
  // Its prompt is what generation is given, up to the assistant's header.
  const std::vector<int32_t> prompt = chat_prompt_ids(f, {m[0], m[1], m[2]}), ids = all_ids(last);
  ASSERT_GT(ids.size(), prompt.size());
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + long(prompt.size())), prompt);
}

TEST(TextExample, PromptCompletionAndText) {
  neft::testing::TempDir d;
  const TextFormat f = TextFormat::for_model(model_dir(d));
  const int32_t eos = *f.tokenizer->token_to_id("<|im_end|>");
  EXPECT_EQ(f.eos, eos);
  const Example pc = completion_example(f, "The capital of France is", " Paris.");
  std::vector<int32_t> want = f.tokenizer->encode("The capital of France is Paris.", true);
  want.push_back(eos);
  EXPECT_EQ(all_ids(pc), want);
  std::vector<int32_t> completion = f.tokenizer->encode(" Paris.");
  completion.push_back(eos);
  EXPECT_EQ(learned_ids(pc), completion);
  const Example t = text_example(f, "Hello world");
  want = f.tokenizer->encode("Hello world", true);
  want.push_back(eos);
  EXPECT_EQ(all_ids(t), want);
  EXPECT_EQ(learned_ids(t), std::vector<int32_t>(want.begin() + 1, want.end()));
}

TEST(TextExample, JsonlLinesOfEveryFormatAndTheirErrors) {
  neft::testing::TempDir d;
  const std::string model = model_dir(d), path = d.file("data.jsonl");
  std::ofstream(path)
      << R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "task": "chat"})"
      << "\n"
      << R"({"prompt": "2+2=", "completion": "4"})"
      << "\n"
      << R"({"text": "plain text"})"
      << "\n"
      << R"({"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]})"
      << "\n"
      << R"({"prompt": [1, 2], "response": [3]})"
      << "\n"
      << R"({"prompt": "Sky is", "choices": [" blue", " green"], "answer": 0})"
      << "\n";
  const SftDataset e = load_sft_jsonl(path, {0, model, true});
  EXPECT_EQ(e.examples.size(), 5u);
  ASSERT_EQ(e.choices.size(), 1u);
  EXPECT_EQ(e.choices[0].options.size(), 2u);
  EXPECT_EQ(e.task_names, std::vector<std::string>{"chat"});
  // In training a multiple-choice item is an error naming its line.
  testing::expect_error(
      [&] {
        load_sft_jsonl(path, {0, model});
      },
      {path + ":6: ", "multiple-choice item"});
  // A conversation with nothing to learn names its line.
  std::ofstream(path) << R"({"messages": [{"role": "user", "content": "x"}]})"
                      << "\n";
  testing::expect_error(
      [&] {
        load_sft_jsonl(path, {0, model});
      },
      {path + ":1: ", "no assistant turn to learn from"});
}

}  // namespace
}  // namespace neft::data
