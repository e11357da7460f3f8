#include "runtime/dtype.h"

#include "runtime/error.h"

namespace neft {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::BF16:
      return 2;
    case DType::F16:
      return 2;
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
  }
  fail("unknown dtype ", int(t));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::BF16:
      return "bf16";
    case DType::F16:
      return "f16";
    case DType::I32:
      return "i32";
    case DType::I64:
      return "i64";
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64})
    if (name == dtype_name(t)) return t;
  fail("unknown dtype '", name, "' (expected f32, bf16, f16, i32 or i64)");
}

uint16_t f32_to_f16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflows to inf
  if (abs < 0x38800000u) {                                  // result is subnormal (or zero) in f16
    if (abs < 0x33000000u) return uint16_t(sign);           // below half the smallest subnormal
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - int(abs >> 23);  // 14..24
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = abs - 0x38000000u;  // rebias exponent 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);  // round to nearest even on the 13 dropped bits
  return uint16_t(sign | (r >> 13));
}

float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // normalise the subnormal
      int e = -1;
      do {
        mant <<= 1, ++e;
      } while (!(mant & 0x400u));
      u = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else {
    u = sign | (exp + 112) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace {

template <class U>
int64_t first_with_exponent(const unsigned char* p, size_t count, U mask) {
  const auto at = [&](size_t i) {
    U v;
    std::memcpy(&v, p + i * sizeof(U), sizeof(U));
    return (v & mask) == mask;
  };
  // A branch-free pass that vectorises; the position is looked for only when one exists.
  bool any = false;
  for (size_t i = 0; i < count; ++i) any |= at(i);
  if (!any) return -1;
  for (size_t i = 0; i < count; ++i)
    if (at(i)) return int64_t(i);
  return -1;
}

}  // namespace

int64_t first_non_finite(const void* bytes, size_t count, DType dtype) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  switch (dtype) {
    case DType::F32:
      return first_with_exponent<uint32_t>(p, count, 0x7f800000u);
    case DType::BF16:
      return first_with_exponent<uint16_t>(p, count, 0x7f80u);
    case DType::F16:
      return first_with_exponent<uint16_t>(p, count, 0x7c00u);
    default:
      return -1;  // integers are always finite
  }
}

}  // namespace neft
