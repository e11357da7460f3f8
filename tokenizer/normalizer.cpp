#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <vector>

#include "runtime/error.h"
#include "tokenizer/pattern.h"
#include "tokenizer/sequence.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

// Unicode normalization forms and lowercasing, by utf8proc.
class Unicode : public Normalizer {
 public:
  explicit Unicode(int options) : options_(options) {}
  std::string apply(std::string text) const override {
    if (text.empty()) return {};
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                     utf8proc_ssize_t(text.size()), &out, utf8proc_option_t(options_));
    if (n < 0) fail("tokenizer normalizer: ", utf8proc_errmsg(n));
    std::string s(reinterpret_cast<char*>(out), size_t(n));
    std::free(out);
    return s;
  }

 private:
  int options_;
};

// Each code point's simple lowercase mapping (Rust's to_lowercase differs only for the few
// code points whose lowercase is longer, such as U+0130).
class Lowercase : public Normalizer {
 public:
  std::string apply(std::string text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const size_t len = utf8_sequence_length(text, i);
      append_utf8(out, char32_t(utf8proc_tolower(utf8proc_int32_t(decode_utf8(text, i, len)))));
      i += len;
    }
    return out;
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string apply(std::string text) const override {
    return text.empty() ? text : prefix_ + text;
  }

 private:
  std::string prefix_;
};

// Every occurrence of a string, or every match of a regex, becomes `content`.
class Replace : public Normalizer {
 public:
  Replace(const Fields& pattern, std::string content)
      : pattern_(pattern), content_(std::move(content)) {}
  std::string apply(std::string text) const override {
    std::string out;
    size_t at = 0;
    for (auto [b, e] : pattern_.find_all(text)) {
      out.append(text, at, b - at);
      out += content_;
      at = e;
    }
    out.append(text, at);
    return out;
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Whitespace (Unicode White_Space, as Rust's char::is_whitespace) off the ends.
class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string apply(std::string text) const override {
    const std::vector<size_t> at = code_point_offsets(text);
    size_t b = 0, e = at.size() - 1;
    auto space = [&](size_t k) {
      const char32_t cp = decode_utf8(text, at[k], at[k + 1] - at[k]);
      return is_white_space(cp);
    };
    if (left_)
      while (b < e && space(b)) ++b;
    if (right_)
      while (e > b && space(e - 1)) --e;
    return std::string(text.substr(at[b], at[e] - at[b]));
  }

 private:
  bool left_, right_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Fields& spec) {
  if (spec.value().is_null()) return nullptr;
  const std::string type = spec.type();
  if (type == "Sequence")
    return make_sequence<Normalizer, std::string>(spec, "normalizers", &make_normalizer);
  if (type == "NFC") return std::make_unique<Unicode>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<Unicode>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC")
    return std::make_unique<Unicode>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD")
    return std::make_unique<Unicode>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Prepend") return std::make_unique<Prepend>(spec.str("prepend"));
  if (type == "Replace") return std::make_unique<Replace>(spec.at("pattern"), spec.str("content"));
  if (type == "Strip")
    return std::make_unique<Strip>(spec.boolean("strip_left", true),
                                   spec.boolean("strip_right", true));
  spec.at("type").fail("normalizer '" + type +
                       "' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, "
                       "Lowercase, Prepend, Replace, Strip)");
}

}  // namespace neft::tokenizer
