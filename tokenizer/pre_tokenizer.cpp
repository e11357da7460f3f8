#include "tokenizer/pre_tokenizer.h"

#include <utf8proc.h>
#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "runtime/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"
#include "tokenizer/sequence.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

using Ranges = std::vector<std::pair<size_t, size_t>>;
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// A piece cut at `matches` (sorted, disjoint, non-empty ranges), as tokenizers'
// NormalizedString::split does: the text becomes alternating match and gap segments
// (flipped with `invert`), joined by the behaviour; empty results are dropped. A part keeps
// at_start when it begins where the piece does.
void split_piece(const Piece& p, const Ranges& matches, Behavior behavior, bool invert,
                 Pieces& out) {
  struct Segment {
    size_t b, e;
    bool match;
  };
  std::vector<Segment> segs;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (b > prev) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < p.text.size()) segs.push_back({prev, p.text.size(), invert});

  std::vector<Segment> kept;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::Removed:
      for (const Segment& s : segs)
        if (!s.match) kept.push_back(s);
      break;
    case Behavior::Isolated:
      kept.swap(segs);
      break;
    case Behavior::MergedWithPrevious:
      for (const Segment& s : segs) {
        if (s.match && !previous_match && !kept.empty())
          kept.back().e = s.e;
        else
          kept.push_back(s);
        previous_match = s.match;
      }
      break;
    case Behavior::MergedWithNext:
      for (size_t i = segs.size(); i-- > 0;) {
        const Segment& s = segs[i];
        if (s.match && !previous_match && !kept.empty())
          kept.back().b = s.b;
        else
          kept.push_back(s);
        previous_match = s.match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    case Behavior::Contiguous:
      for (const Segment& s : segs) {
        if (s.match == previous_match && !kept.empty())
          kept.back().e = s.e;
        else
          kept.push_back(s);
        previous_match = s.match;
      }
      break;
  }
  for (const Segment& s : kept)
    if (s.e > s.b) out.push_back({p.text.substr(s.b, s.e - s.b), p.at_start && s.b == 0});
}

// Matches of a per-code-point predicate: each code point that satisfies it is one match.
Ranges char_matches(const std::string& text, const std::function<bool(char32_t)>& pred) {
  Ranges r;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_sequence_length(text, i);
    if (pred(decode_utf8(text, i, len))) r.emplace_back(i, i + len);
    i += len;
  }
  return r;
}

Behavior behavior_of(const Fields& spec) {
  const std::string b = spec.str("behavior");
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  spec.at("behavior")
      .fail("unknown split behavior '" + b +
            "' (Removed, Isolated, MergedWithPrevious, MergedWithNext, "
            "Contiguous)");
}

// Split on a literal string or a regex.
class Split : public PreTokenizer {
 public:
  explicit Split(const Fields& spec)
      : behavior_(behavior_of(spec)),
        invert_(spec.boolean("invert", false)),
        pattern_(spec.at("pattern")) {}
  Pieces apply(Pieces pieces) const override {
    Pieces out;
    for (const Piece& p : pieces)
      split_piece(p, pattern_.find_all(p.text), behavior_, invert_, out);
    return out;
  }

 private:
  Behavior behavior_;
  bool invert_;
  Pattern pattern_;
};

// GPT-2's pattern, which ByteLevel with use_regex applies.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
 public:
  explicit ByteLevel(const Fields& spec)
      : add_prefix_space_(spec.boolean("add_prefix_space", true)) {
    if (spec.boolean("use_regex", true)) regex_ = std::make_unique<Regex>(kGpt2Pattern, "GPT-2");
  }
  Pieces apply(Pieces pieces) const override {
    Pieces split;
    for (Piece& p : pieces) {
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
      if (regex_)
        split_piece(p, regex_->find_all(p.text), Behavior::Isolated, false, split);
      else if (!p.text.empty())
        split.push_back(std::move(p));
    }
    for (Piece& p : split) p.text = to_byte_level(p.text);
    return split;
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

// Numeric code points (Rust's char::is_numeric: categories Nd, Nl, No, so Roman numerals
// and superscripts too) on their own (individual_digits) or in runs.
class Digits : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  Pieces apply(Pieces pieces) const override {
    Pieces out;
    for (const Piece& p : pieces)
      split_piece(p, char_matches(p.text, is_numeric),
                  individual_ ? Behavior::Isolated : Behavior::Contiguous, false, out);
    return out;
  }
  static bool is_numeric(char32_t c) {
    const utf8proc_category_t k = utf8proc_category(utf8proc_int32_t(c));
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
  }

 private:
  bool individual_;
};

// SentencePiece's whitespace: spaces become the replacement (U+2581), one is put in front
// (always, on the first piece of the input only, or never), and with `split` the text is
// cut before each replacement.
class Metaspace : public PreTokenizer {
 public:
  explicit Metaspace(const Fields& spec) : replacement_(spec.str("replacement")) {
    if (utf8_valid_prefix(replacement_) != replacement_.size() || replacement_.empty() ||
        code_point_offsets(replacement_).size() != 2)
      spec.at("replacement").fail("expected one character");
    split_ = spec.boolean("split", true);
    if (const auto scheme = spec.opt_str("prepend_scheme")) {
      if (*scheme != "always" && *scheme != "first" && *scheme != "never")
        spec.at("prepend_scheme").fail("expected always, first or never, got '" + *scheme + "'");
      scheme_ = *scheme;
    } else {  // files before prepend_scheme: add_prefix_space
      scheme_ = spec.boolean("add_prefix_space", true) ? "always" : "never";
    }
  }
  Pieces apply(Pieces pieces) const override {
    Pieces out;
    for (Piece& p : pieces) {
      std::string s;
      for (char c : p.text) c == ' ' ? s += replacement_ : s += c;
      const bool prepend = (scheme_ == "always" || (scheme_ == "first" && p.at_start)) &&
                           s.compare(0, replacement_.size(), replacement_) != 0;
      if (prepend) s.insert(0, replacement_);
      Piece q{std::move(s), p.at_start};
      if (!split_) {
        if (!q.text.empty()) out.push_back(std::move(q));
        continue;
      }
      Ranges r;
      for (size_t b = q.text.find(replacement_); b != std::string::npos;
           b = q.text.find(replacement_, b + replacement_.size()))
        r.emplace_back(b, b + replacement_.size());
      split_piece(q, r, Behavior::MergedWithNext, false, out);
    }
    return out;
  }

 private:
  std::string replacement_, scheme_;
  bool split_ = true;
};

// Whitespace: runs of word characters, runs of other non-space characters (\w+|[^\w\s]+);
// WhitespaceSplit: the runs between whitespace.
class Whitespace : public PreTokenizer {
 public:
  explicit Whitespace(bool split_only)
      : regex_(split_only ? R"(\S+)" : R"(\w+|[^\w\s]+)", "Whitespace") {}
  Pieces apply(Pieces pieces) const override {
    Pieces out;
    for (const Piece& p : pieces)
      split_piece(p, regex_.find_all(p.text), Behavior::Removed, true, out);
    return out;
  }

 private:
  Regex regex_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Fields& spec) {
  if (spec.value().is_null()) return nullptr;
  const std::string type = spec.type();
  if (type == "Sequence")
    return make_sequence<PreTokenizer, Pieces>(spec, "pretokenizers", &make_pre_tokenizer);
  if (type == "Split") return std::make_unique<Split>(spec);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(spec);
  if (type == "Digits") return std::make_unique<Digits>(spec.boolean("individual_digits", false));
  if (type == "Metaspace") return std::make_unique<Metaspace>(spec);
  if (type == "Whitespace") return std::make_unique<Whitespace>(false);
  if (type == "WhitespaceSplit") return std::make_unique<Whitespace>(true);
  spec.at("type").fail("pre-tokenizer '" + type +
                       "' is not supported (supported: Sequence, Split, ByteLevel, Digits, "
                       "Metaspace, Whitespace, WhitespaceSplit)");
}

}  // namespace neft::tokenizer
