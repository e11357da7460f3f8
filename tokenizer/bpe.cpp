#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "runtime/error.h"
#include "runtime/json_file.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {
constexpr size_t kCacheEntries = 1 << 16;
constexpr size_t kCachedPieceBytes = 256;  // longer pieces are rare and not kept

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
}  // namespace

Bpe::Bpe(const Fields& spec) {
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const auto v = spec.opt_str(key); v && !v->empty())
      spec.at(key).fail("BPE with a " + std::string(key) + " is not supported");
  if (spec.has("dropout") && !spec.at("dropout").value().is_null()) {
    const nlohmann::json& d = spec.at("dropout").value();
    if (!d.is_number() || d.get<double>() != 0.0)
      spec.at("dropout").fail("BPE dropout is for training a tokenizer; expected null");
  }
  byte_fallback_ = spec.boolean("byte_fallback", false);
  fuse_unk_ = spec.boolean("fuse_unk", false);
  ignore_merges_ = spec.boolean("ignore_merges", false);

  const Fields vocab = spec.at("vocab");
  if (!vocab.value().is_object()) vocab.fail("expected an object of token: id");
  // Ids run 0..n-1 in every tokenizer.json; a few holes are allowed, an id far past n (which
  // would size the id table) is not.
  const int64_t max_id = 2 * int64_t(vocab.value().size()) + 256;
  for (const auto& [token, id] : vocab.value().items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0)
      vocab.at(token).fail("expected a token id, got " + json_excerpt(id));
    if (id.get<int64_t>() >= max_id)
      vocab.at(token).fail("id " + std::to_string(id.get<int64_t>()) + " is far past the " +
                           std::to_string(vocab.value().size()) + " tokens of the vocab");
    const int32_t i = id.get<int32_t>();
    if (size_t(i) >= tokens_.size()) tokens_.resize(size_t(i) + 1);
    if (!tokens_[size_t(i)].empty())
      vocab.at(token).fail("id " + std::to_string(i) + " is also '" + tokens_[size_t(i)] + "'");
    tokens_[size_t(i)] = token;
    vocab_.emplace(token, i);
  }

  // Merges are "a b" strings (older files) or ["a", "b"] pairs.
  const Fields merges = spec.at("merges");
  for (size_t r = 0; r < merges.size(); ++r) {
    const Fields m = merges.at(r);
    std::string a, b;
    if (m.value().is_string()) {
      const std::string s = m.value().get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) m.fail("expected \"left right\", got '" + s + "'");
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (m.value().is_array() && m.value().size() == 2 && m.value()[0].is_string() &&
               m.value()[1].is_string()) {
      a = m.value()[0].get<std::string>();
      b = m.value()[1].get<std::string>();
    } else {
      m.fail("expected \"left right\" or [\"left\", \"right\"]");
    }
    const auto ia = vocab_.find(a), ib = vocab_.find(b), ab = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end())
      m.fail("merges '" + (ia == vocab_.end() ? a : b) + "', which is not in the vocab");
    if (ab == vocab_.end()) m.fail("makes '" + a + b + "', which is not in the vocab");
    merges_.emplace(pair_key(ia->second, ib->second), Merge{int32_t(r), ab->second});
  }

  if (const auto unk = spec.opt_str("unk_token")) {
    const auto it = vocab_.find(*unk);
    if (it == vocab_.end()) spec.at("unk_token").fail("'" + *unk + "' is not in the vocab");
    unk_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const auto it = vocab_.find(name);
    byte_tokens_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

std::optional<int32_t> Bpe::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string& Bpe::id_to_token(int32_t id) const {
  static const std::string none;
  return id >= 0 && size_t(id) < tokens_.size() ? tokens_[size_t(id)] : none;
}

void Bpe::encode(std::string_view piece, std::vector<int32_t>& ids) const {
  if (piece.empty()) return;
  if (ignore_merges_)
    if (const auto it = vocab_.find(std::string(piece)); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  const bool cacheable = piece.size() <= kCachedPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (const auto it = cache_.find(std::string(piece)); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> spelt;
  merge(piece, spelt);
  ids.insert(ids.end(), spelt.begin(), spelt.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.emplace(std::string(piece), std::move(spelt));
  }
}

void Bpe::merge(std::string_view piece, std::vector<int32_t>& out) const {
  // Symbols in a doubly linked list over an array; a merged-away symbol has id -1.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
  };
  std::vector<Symbol> sym;
  sym.reserve(piece.size());
  bool last_unk = false;
  for (size_t i = 0; i < piece.size();) {
    size_t len = utf8_sequence_length(piece, i);
    if (len == 0) len = 1;  // not reached: input is checked UTF-8
    const std::string ch(piece.substr(i, len));
    i += len;
    if (const auto it = vocab_.find(ch); it != vocab_.end()) {
      sym.push_back({it->second, 0, 0});
      last_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : ch) all = all && byte_tokens_[uint8_t(c)] >= 0;
      if (all) {
        for (char c : ch) sym.push_back({byte_tokens_[uint8_t(c)], 0, 0});
        last_unk = false;
        continue;
      }
    }
    if (!unk_)
      fail("tokenizer: '", ch, "' is not in the vocabulary and the model has no unk_token");
    if (!(fuse_unk_ && last_unk)) sym.push_back({*unk_, 0, 0});
    last_unk = true;
  }
  const int32_t n = int32_t(sym.size());
  for (int32_t k = 0; k < n; ++k) {
    sym[size_t(k)].prev = k - 1;
    sym[size_t(k)].next = k + 1 < n ? k + 1 : -1;
  }

  // Candidate merges: lowest rank first, then leftmost; stale entries are skipped on pop.
  struct Candidate {
    int32_t rank, pos, id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int32_t pos) {
    const int32_t next = sym[size_t(pos)].next;
    if (next < 0) return;
    const auto it = merges_.find(pair_key(sym[size_t(pos)].id, sym[size_t(next)].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.id});
  };
  for (int32_t k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = sym[size_t(c.pos)];
    if (left.id < 0 || left.next < 0) continue;
    const auto it = merges_.find(pair_key(left.id, sym[size_t(left.next)].id));
    if (it == merges_.end() || it->second.id != c.id) continue;  // the pair has changed
    Symbol& right = sym[size_t(left.next)];
    left.id = c.id;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) sym[size_t(right.next)].prev = c.pos;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int32_t k = 0; k >= 0 && k < n; k = sym[size_t(k)].next) out.push_back(sym[size_t(k)].id);
}

}  // namespace neft::tokenizer
