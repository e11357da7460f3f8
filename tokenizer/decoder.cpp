#include "tokenizer/decoder.h"

#include <cctype>
#include <cstdlib>

#include "tokenizer/byte_level.h"
#include "tokenizer/sequence.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

// The byte-level alphabet back to bytes; a token with a code point outside it (an added
// token) keeps its own bytes. The bytes are read as UTF-8, ill-formed parts as U+FFFD.
class ByteLevel : public Decoder {
 public:
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      std::string b;
      bool all = true;
      for (size_t i = 0; i < t.size() && all;) {
        const size_t len = utf8_sequence_length(t, i);
        const int byte = len ? byte_level_byte(decode_utf8(t, i, len)) : -1;
        if (byte < 0) all = false;
        b += char(byte);
        i += len ? len : 1;
      }
      bytes += all ? b : t;
    }
    return {utf8_lossy(bytes)};
  }
};

class Replace : public Decoder {
 public:
  Replace(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      size_t at = 0;
      for (size_t b = t.find(from_); b != std::string::npos; b = t.find(from_, at)) {
        out.append(t, at, b - at);
        out += to_;
        at = b + from_.size();
      }
      out.append(t, at);
      t = std::move(out);
    }
    return tokens;
  }

 private:
  std::string from_, to_;
};

// Runs of <0xXX> tokens become the text their bytes spell, or one U+FFFD per byte when
// they do not spell UTF-8.
class ByteFallback : public Decoder {
 public:
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t pending = 0;
    auto flush = [&] {
      if (pending == 0) return;
      if (utf8_valid_prefix(bytes) == bytes.size()) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < pending; ++k) out.push_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      pending = 0;
    };
    for (std::string& t : tokens) {
      const bool byte_token = t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
                              std::isxdigit(uint8_t(t[3])) && std::isxdigit(uint8_t(t[4]));
      if (byte_token) {
        bytes += char(std::strtol(t.substr(3, 2).c_str(), nullptr, 16));
        ++pending;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
};

class Fuse : public Decoder {
 public:
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    return {all};
  }
};

// Up to `left` leading and `right` trailing copies of `content` (one character) off each
// token.
class Strip : public Decoder {
 public:
  Strip(std::string content, int64_t left, int64_t right)
      : content_(std::move(content)), left_(left), right_(right) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (int64_t k = 0;
           k < left_ && t.compare(b, content_.size(), content_) == 0 && b + content_.size() <= e;
           ++k)
        b += content_.size();
      for (int64_t k = 0; k < right_ && e >= b + content_.size() &&
                          t.compare(e - content_.size(), content_.size(), content_) == 0;
           ++k)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
    return tokens;
  }

 private:
  std::string content_;
  int64_t left_, right_;
};

// The replacement back to spaces; the first token loses the space put in front of it
// unless nothing was ever put there.
class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    const Replace spaces(replacement_, " ");
    tokens = spaces.apply(std::move(tokens));
    if (strip_first_ && !tokens.empty() && !tokens[0].empty() && tokens[0][0] == ' ')
      tokens[0].erase(0, 1);
    return tokens;
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

std::string pattern_string(const Fields& pattern) {
  if (!pattern.has("String"))
    pattern.fail("expected {\"String\": ...} (a regex is not supported here)");
  return pattern.str("String");
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Fields& spec) {
  if (spec.value().is_null()) return nullptr;
  const std::string type = spec.type();
  if (type == "Sequence")
    return make_sequence<Decoder, std::vector<std::string>>(spec, "decoders", &make_decoder);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Replace")
    return std::make_unique<Replace>(pattern_string(spec.at("pattern")), spec.str("content"));
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    const std::string content = spec.str("content");
    if (content.empty()) spec.at("content").fail("expected a character");
    return std::make_unique<Strip>(content, spec.integer("start"), spec.integer("stop"));
  }
  if (type == "Metaspace") {
    std::string scheme = "always";
    if (const auto s = spec.opt_str("prepend_scheme"))
      scheme = *s;
    else if (!spec.boolean("add_prefix_space", true))
      scheme = "never";
    return std::make_unique<Metaspace>(spec.str("replacement"), scheme != "never");
  }
  spec.at("type").fail("decoder '" + type +
                       "' is not supported (supported: Sequence, ByteLevel, Replace, "
                       "ByteFallback, Fuse, Strip, Metaspace)");
}

}  // namespace neft::tokenizer
