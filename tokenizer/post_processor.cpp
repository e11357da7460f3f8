#include "tokenizer/post_processor.h"

#include "tokenizer/sequence.h"

namespace neft::tokenizer {

namespace {

// ids before and after the sequence.
class Around : public PostProcessor {
 public:
  Around(std::vector<int32_t> before, std::vector<int32_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  std::vector<int32_t> apply(std::vector<int32_t> ids) const override {
    std::vector<int32_t> out = before_;
    out.insert(out.end(), ids.begin(), ids.end());
    out.insert(out.end(), after_.begin(), after_.end());
    return out;
  }

 private:
  std::vector<int32_t> before_, after_;
};

// The "single" template: [{"SpecialToken": {"id": NAME}} | {"Sequence": {"id": "A"}}, ...],
// each special token's ids from "special_tokens".
std::unique_ptr<PostProcessor> template_processing(const Fields& spec) {
  const Fields single = spec.at("single"), specials = spec.at("special_tokens");
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const Fields item = single.at(i);
    if (item.has("Sequence")) {
      if (seen_sequence) item.fail("a single-sequence template holds one Sequence");
      seen_sequence = true;
      continue;
    }
    if (!item.has("SpecialToken"))
      item.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    const std::string name = item.at("SpecialToken").str("id");
    const Fields ids = specials.at(name).at("ids");
    for (size_t k = 0; k < ids.size(); ++k) {
      const nlohmann::json& v = ids.at(k).value();
      if (!v.is_number_integer()) ids.at(k).fail("expected a token id");
      (seen_sequence ? after : before).push_back(v.get<int32_t>());
    }
  }
  if (!seen_sequence) single.fail("the template has no Sequence");
  return std::make_unique<Around>(std::move(before), std::move(after));
}

// "cls": [token, id] and "sep": [token, id].
std::unique_ptr<PostProcessor> cls_sep(const Fields& spec) {
  auto id_of = [&](const char* key) {
    const Fields f = spec.at(key);
    if (f.size() != 2 || !f.value()[1].is_number_integer()) f.fail("expected [token, id]");
    return f.value()[1].get<int32_t>();
  };
  return std::make_unique<Around>(std::vector<int32_t>{id_of("cls")},
                                  std::vector<int32_t>{id_of("sep")});
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Fields& spec) {
  if (spec.value().is_null()) return nullptr;
  const std::string type = spec.type();
  if (type == "Sequence")
    return make_sequence<PostProcessor, std::vector<int32_t>>(spec, "processors",
                                                              &make_post_processor);
  if (type == "TemplateProcessing") return template_processing(spec);
  if (type == "ByteLevel") return nullptr;
  if (type == "RobertaProcessing" || type == "BertProcessing") return cls_sep(spec);
  spec.at("type").fail("post-processor '" + type +
                       "' is not supported (supported: Sequence, TemplateProcessing, ByteLevel, "
                       "RobertaProcessing, BertProcessing)");
}

}  // namespace neft::tokenizer
