// The "Sequence" every stage of tokenizer.json has (normalizers, pre-tokenizers,
// post-processors, decoders): its parts applied in order, each to what the one before gave.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "tokenizer/json_fields.h"

namespace neft::tokenizer {

// Part is the stage's interface, with `virtual Value apply(Value) const`.
template <class Part, class Value>
class SequenceOf : public Part {
 public:
  explicit SequenceOf(std::vector<std::unique_ptr<Part>> parts) : parts_(std::move(parts)) {}
  Value apply(Value v) const override {
    for (const auto& p : parts_) v = p->apply(std::move(v));
    return v;
  }

 private:
  std::vector<std::unique_ptr<Part>> parts_;
};

// A Sequence spec: each element of its list `key` made by `make` (parts that do nothing,
// made as null, are left out).
template <class Part, class Value>
std::unique_ptr<Part> make_sequence(const Fields& spec, const char* key,
                                    std::unique_ptr<Part> (*make)(const Fields&)) {
  const Fields list = spec.at(key);
  std::vector<std::unique_ptr<Part>> parts;
  for (size_t i = 0; i < list.size(); ++i)
    if (auto p = make(list.at(i))) parts.push_back(std::move(p));
  return std::make_unique<SequenceOf<Part, Value>>(std::move(parts));
}

}  // namespace neft::tokenizer
