// A GGUF file written byte by byte, for tests and the fuzz corpus: typed metadata, a tensor
// table and the aligned data, in the layout of llama.cpp's gguf (version 3).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace neft::testing {

class GgufWriter {
 public:
  void u32(const std::string& key, uint32_t v) { scalar(key, 4, &v, 4); }
  void f32(const std::string& key, float v) { scalar(key, 6, &v, 4); }
  void boolean(const std::string& key, bool v) {
    const uint8_t b = v;
    scalar(key, 7, &b, 1);
  }
  void str(const std::string& key, const std::string& v) {
    header(key, 8);
    put_str(meta_, v);
    ++kv_;
  }
  void strings(const std::string& key, const std::vector<std::string>& v) {
    header(key, 9);
    put(meta_, uint32_t(8));
    put(meta_, uint64_t(v.size()));
    for (const std::string& s : v) put_str(meta_, s);
    ++kv_;
  }
  void i32s(const std::string& key, const std::vector<int32_t>& v) {
    header(key, 9);
    put(meta_, uint32_t(5));
    put(meta_, uint64_t(v.size()));
    for (int32_t x : v) put(meta_, x);
    ++kv_;
  }
  // dims in ggml order (fastest first); `data` the tensor's bytes in its type.
  void tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
              const std::string& data) {
    put_str(table_, name);
    put(table_, uint32_t(dims.size()));
    for (uint64_t d : dims) put(table_, d);
    put(table_, type);
    while (data_.size() % 32) data_ += '\0';
    put(table_, uint64_t(data_.size()));
    data_ += data;
    ++tensors_;
  }
  std::string bytes() const {
    std::string out = "GGUF";
    put(out, uint32_t(3));
    put(out, tensors_);
    put(out, kv_);
    out += meta_ + table_;
    while (out.size() % 32) out += '\0';
    return out + data_;
  }

  template <class T>
  static void put(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }

 private:
  static void put_str(std::string& s, const std::string& v) {
    put(s, uint64_t(v.size()));
    s += v;
  }
  void header(const std::string& key, uint32_t type) {
    put_str(meta_, key);
    put(meta_, type);
  }
  void scalar(const std::string& key, uint32_t type, const void* v, size_t n) {
    header(key, type);
    meta_.append(static_cast<const char*>(v), n);
    ++kv_;
  }
  std::string meta_, table_, data_;
  uint64_t kv_ = 0, tensors_ = 0;
};

}  // namespace neft::testing
