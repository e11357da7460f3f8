#include "model/gguf.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "runtime/dtype.h"
#include "runtime/error.h"
#include "runtime/text.h"

namespace neft::model {

namespace {

// ggml_type values of the types read here.
constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 8, kBF16 = 30;
// Elements per block and bytes per block: Q4_0 {f16 d; 16 bytes of nibbles}, Q4_1 {f16 d;
// f16 m; 16 bytes}, Q8_0 {f16 d; 32 int8}.
constexpr int64_t kBlock = 32;

struct TypeInfo {
  int64_t block, bytes;  // elements per block, bytes per block
};

bool type_info(uint32_t type, TypeInfo* info) {
  switch (type) {
    case kF32:
      *info = {1, 4};
      return true;
    case kF16:
      *info = {1, 2};
      return true;
    case kBF16:
      *info = {1, 2};
      return true;
    case kQ4_0:
      *info = {kBlock, 18};
      return true;
    case kQ4_1:
      *info = {kBlock, 20};
      return true;
    case kQ8_0:
      *info = {kBlock, 34};
      return true;
    default:
      return false;
  }
}

// A bounds-checked reader over the mapped header.
class Cursor {
 public:
  Cursor(const unsigned char* data, size_t size, const std::string& path)
      : p_(data), size_(size), path_(path) {}
  size_t at() const { return at_; }
  void need(uint64_t n, const char* what) const {
    if (n > size_ - at_)
      fail(path_, ": truncated at byte ", at_, " (", what, " needs ", n, " more bytes)");
  }
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  // Every string of the format is UTF-8 (keys, names, values), and what is not cannot go
  // on into JSON or the tokenizer.
  std::string str(const char* what) {
    const uint64_t n = get<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_ + at_), size_t(n));
    if (const size_t ok = utf8_valid_prefix(s); ok != s.size())
      fail(path_, ": ", what, " at byte ", at_, " is not UTF-8 (byte ", ok, " of it)");
    at_ += size_t(n);
    return s;
  }

 private:
  const unsigned char* p_;
  size_t size_, at_ = 0;
  const std::string& path_;
};

GgufValue read_value(Cursor& c, uint32_t type, const std::string& key, const std::string& path,
                     int depth) {
  GgufValue out;
  switch (type) {
    case 0:
      out.v = uint64_t(c.get<uint8_t>("a u8"));
      break;
    case 1:
      out.v = int64_t(c.get<int8_t>("an i8"));
      break;
    case 2:
      out.v = uint64_t(c.get<uint16_t>("a u16"));
      break;
    case 3:
      out.v = int64_t(c.get<int16_t>("an i16"));
      break;
    case 4:
      out.v = uint64_t(c.get<uint32_t>("a u32"));
      break;
    case 5:
      out.v = int64_t(c.get<int32_t>("an i32"));
      break;
    case 6:
      out.v = double(c.get<float>("an f32"));
      break;
    case 7:
      out.v = c.get<uint8_t>("a bool") != 0;
      break;
    case 8:
      out.v = c.str("a string");
      break;
    case 9: {
      if (depth > 0) fail(path, ": key '", key, "': arrays of arrays are not read");
      const uint32_t elem = c.get<uint32_t>("an array type");
      const uint64_t n = c.get<uint64_t>("an array length");
      // Every element takes at least one byte: a length beyond the file is a lie.
      c.need(n, "the array");
      GgufValue::Array a;
      a.reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) a.push_back(read_value(c, elem, key, path, depth + 1));
      out.v = std::move(a);
      break;
    }
    case 10:
      out.v = c.get<uint64_t>("a u64");
      break;
    case 11:
      out.v = c.get<int64_t>("an i64");
      break;
    case 12:
      out.v = c.get<double>("an f64");
      break;
    default:
      fail(path, ": key '", key, "' has an unknown value type ", type);
  }
  return out;
}

std::optional<int64_t> as_integer(const GgufValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v.v); u && *u <= uint64_t(INT64_MAX))
    return int64_t(*u);
  return std::nullopt;
}

float f16(const unsigned char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_bits_to_f32(h);
}

}  // namespace

int64_t GgufTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string gguf_type_name(uint32_t type) {
  switch (type) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 6:
      return "Q5_0";
    case 7:
      return "Q5_1";
    case 8:
      return "Q8_0";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 12:
      return "Q4_K";
    case 13:
      return "Q5_K";
    case 14:
      return "Q6_K";
    case 15:
      return "Q8_K";
    case 30:
      return "BF16";
    default:
      return "type " + std::to_string(type);
  }
}

GgufFile::GgufFile(const std::string& path) : map_(std::make_unique<MappedFile>(path)) {
  Cursor c(map_->data(), map_->size(), map_->path());
  const uint32_t magic = c.get<uint32_t>("the magic");
  if (magic != 0x46554747u)  // "GGUF"
    fail(path, ": not a GGUF file (it does not begin with \"GGUF\")");
  const uint32_t version = c.get<uint32_t>("the version");
  if (version != 2 && version != 3)
    fail(path, ": GGUF version ", version, " is not read (versions 2 and 3 are)");
  const uint64_t n_tensors = c.get<uint64_t>("the tensor count");
  const uint64_t n_kv = c.get<uint64_t>("the metadata count");
  c.need(n_kv, "the metadata");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("a metadata key");
    const uint32_t type = c.get<uint32_t>("a value type");
    GgufValue v = read_value(c, type, key, path, 0);
    if (!meta_.emplace(key, std::move(v)).second) fail(path, ": key '", key, "' appears twice");
  }
  c.need(n_tensors, "the tensor table");
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.str("a tensor name");
    const uint32_t n_dims = c.get<uint32_t>("a tensor's dimension count");
    if (n_dims == 0 || n_dims > 4)
      fail(path, ": tensor '", t.name, "' has ", n_dims, " dimensions (1 to 4 are allowed)");
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = c.get<uint64_t>("a tensor dimension");
      if (n == 0 || n > (uint64_t(1) << 40) || uint64_t(elements) > (uint64_t(1) << 48) / n)
        fail(path, ": tensor '", t.name, "' has an impossible dimension ", n);
      t.dims.push_back(int64_t(n));
      elements *= int64_t(n);
    }
    t.type = c.get<uint32_t>("a tensor type");
    t.offset = c.get<uint64_t>("a tensor offset");
    TypeInfo info;
    if (type_info(t.type, &info)) {
      if (t.dims[0] % info.block != 0)
        fail(path, ": tensor '", t.name, "' rows of ", t.dims[0], " are not whole ",
             gguf_type_name(t.type), " blocks of ", info.block);
      t.bytes = uint64_t(elements / info.block) * uint64_t(info.bytes);
    }
    tensors_.push_back(std::move(t));
  }
  int64_t alignment = 32;
  if (has("general.alignment")) {
    alignment = integer("general.alignment");
    if (alignment <= 0 || alignment > 65536 || (alignment & (alignment - 1)) != 0)
      fail(path, ": key 'general.alignment' = ", alignment, " is not a power of two");
  }
  data_start_ = (c.at() + uint64_t(alignment) - 1) / uint64_t(alignment) * uint64_t(alignment);
  for (const GgufTensor& t : tensors_) {
    if (t.bytes == 0) continue;  // an unread type: its error comes when it is read
    if (t.offset % uint64_t(alignment) != 0)
      fail(path, ": tensor '", t.name, "' data offset ", t.offset, " is not aligned to ",
           alignment);
    if (data_start_ > map_->size() || t.offset > map_->size() - data_start_ ||
        t.bytes > map_->size() - data_start_ - t.offset)
      fail(path, ": tensor '", t.name, "' (", t.bytes, " bytes at offset ", t.offset,
           ") runs past the end of the file: truncated");
  }
}

const GgufValue& GgufFile::value(const std::string& key) const {
  const auto it = meta_.find(key);
  if (it == meta_.end()) fail(path(), ": key '", key, "' is missing");
  return it->second;
}

int64_t GgufFile::integer(const std::string& key) const {
  const auto i = as_integer(value(key));
  if (!i) fail(path(), ": key '", key, "' must be an integer");
  return *i;
}

double GgufFile::number(const std::string& key) const {
  const GgufValue& v = value(key);
  if (const auto* d = std::get_if<double>(&v.v)) return *d;
  if (const auto i = as_integer(v)) return double(*i);
  fail(path(), ": key '", key, "' must be a number");
}

bool GgufFile::boolean(const std::string& key) const {
  if (const auto* b = std::get_if<bool>(&value(key).v)) return *b;
  fail(path(), ": key '", key, "' must be true or false");
}

std::string GgufFile::string(const std::string& key) const {
  if (const auto* s = std::get_if<std::string>(&value(key).v)) return *s;
  fail(path(), ": key '", key, "' must be a string");
}

namespace {
const GgufValue::Array& array_of(const GgufValue& v, const std::string& path,
                                 const std::string& key) {
  const auto* a = std::get_if<GgufValue::Array>(&v.v);
  if (!a) fail(path, ": key '", key, "' must be an array");
  return *a;
}
}  // namespace

std::vector<std::string> GgufFile::strings(const std::string& key) const {
  std::vector<std::string> out;
  for (const GgufValue& e : array_of(value(key), path(), key)) {
    const auto* s = std::get_if<std::string>(&e.v);
    if (!s) fail(path(), ": key '", key, "' must be an array of strings");
    out.push_back(*s);
  }
  return out;
}

std::vector<int64_t> GgufFile::integers(const std::string& key) const {
  std::vector<int64_t> out;
  for (const GgufValue& e : array_of(value(key), path(), key)) {
    const auto i = as_integer(e);
    if (!i) fail(path(), ": key '", key, "' must be an array of integers");
    out.push_back(*i);
  }
  return out;
}

std::vector<double> GgufFile::numbers(const std::string& key) const {
  std::vector<double> out;
  for (const GgufValue& e : array_of(value(key), path(), key)) {
    if (const auto* d = std::get_if<double>(&e.v))
      out.push_back(*d);
    else if (const auto i = as_integer(e))
      out.push_back(double(*i));
    else
      fail(path(), ": key '", key, "' must be an array of numbers");
  }
  return out;
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  for (const GgufTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<float> GgufFile::read_f32(const GgufTensor& t) const {
  TypeInfo info;
  if (!type_info(t.type, &info))
    fail(path(), ": tensor '", t.name, "' is ", gguf_type_name(t.type),
         ", which is not read (F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are)");
  const unsigned char* p = map_->data() + data_start_ + t.offset;
  const int64_t n = t.elements();
  std::vector<float> out(static_cast<size_t>(n));
  float* o = out.data();
  switch (t.type) {
    case kF32:
      std::memcpy(o, p, size_t(n) * 4);
      break;
    case kF16:
      for (int64_t i = 0; i < n; ++i) o[i] = f16(p + 2 * i);
      break;
    case kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        o[i] = bf16_bits_to_f32(b);
      }
      break;
    case kQ8_0:  // x = d * q
      for (int64_t b = 0; b < n / kBlock; ++b, p += 34) {
        const float d = f16(p);
        for (int64_t j = 0; j < kBlock; ++j) o[b * kBlock + j] = d * float(int8_t(p[2 + j]));
      }
      break;
    case kQ4_0:  // x = d * (q - 8); byte j holds elements j (low nibble) and j + 16 (high)
      for (int64_t b = 0; b < n / kBlock; ++b, p += 18) {
        const float d = f16(p);
        for (int64_t j = 0; j < kBlock / 2; ++j) {
          o[b * kBlock + j] = d * float(int(p[2 + j] & 0x0F) - 8);
          o[b * kBlock + j + 16] = d * float(int(p[2 + j] >> 4) - 8);
        }
      }
      break;
    case kQ4_1:  // x = d * q + m
      for (int64_t b = 0; b < n / kBlock; ++b, p += 20) {
        const float d = f16(p), m = f16(p + 2);
        for (int64_t j = 0; j < kBlock / 2; ++j) {
          o[b * kBlock + j] = d * float(p[4 + j] & 0x0F) + m;
          o[b * kBlock + j + 16] = d * float(p[4 + j] >> 4) + m;
        }
      }
      break;
  }
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(o[i]))
      fail(path(), ": tensor '", t.name, "' element ", i, " is ", o[i],
           " (weights must be finite)");
  return out;
}

}  // namespace neft::model
