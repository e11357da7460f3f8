// Element types and their host-side conversions. bf16 and f16 are stored as raw 16-bit
// patterns on the host so that the same bytes move unchanged to and from the GPU.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace neft {

enum class DType : uint8_t { F32, BF16, F16, I32, I64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
DType dtype_from_name(const std::string& name);  // "f32", "bf16", ... (throws on others)
inline bool is_floating(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

// Round to nearest even, NaN stays NaN (as torch and the CUDA intrinsics do).
inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_bits_to_f32(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_f16_bits(float f);  // round to nearest even, with subnormals
float f16_bits_to_f32(uint16_t h);

// The index of the first NaN or Inf among `count` values of a floating dtype stored at
// `bytes` (any alignment), or -1 when all are finite. NaN and Inf are the values whose
// exponent field is all ones, so one masked compare per element decides it; the scan runs
// at memory speed, which is what lets every weight read be checked.
int64_t first_non_finite(const void* bytes, size_t count, DType dtype);

}  // namespace neft
