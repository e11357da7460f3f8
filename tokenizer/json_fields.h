// Reading tokenizer.json's parts with errors that say where: every accessor knows the file
// and the key path it stands at, so a problem reads
//   FILE: key 'pre_tokenizer.pretokenizers[1].pattern': expected an object, got 3
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace neft::tokenizer {

class Fields {
 public:
  Fields(const nlohmann::json& value, std::string file, std::string path = "")
      : v_(value), file_(std::move(file)), path_(std::move(path)) {}

  const nlohmann::json& value() const { return v_; }
  const std::string& file() const { return file_; }
  bool has(const std::string& key) const;   // present and not null
  Fields at(const std::string& key) const;  // must be present
  Fields at(size_t index) const;            // an element of an array
  size_t size() const;                      // of an array (fails otherwise)

  std::string str(const std::string& key) const;
  std::optional<std::string> opt_str(const std::string& key) const;  // absent or null: none
  bool boolean(const std::string& key, bool fallback) const;         // absent or null: fallback
  int64_t integer(const std::string& key) const;
  // The "type" of a component, e.g. "BPE" or "ByteLevel".
  std::string type() const { return str("type"); }

  // Fails naming the file and this key path.
  [[noreturn]] void fail(const std::string& problem) const;
  std::string where() const;

 private:
  const nlohmann::json& v_;
  std::string file_, path_;
};

}  // namespace neft::tokenizer
