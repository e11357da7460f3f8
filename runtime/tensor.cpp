#include "runtime/tensor.h"

#include <sstream>

namespace neft {

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

Storage::Storage(size_t bytes, Device device)
    : ptr_(device_alloc(device, bytes)), bytes_(bytes), device_(device) {}
Storage::~Storage() { device_free(device_, ptr_, bytes_); }

static int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) NEFT_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, const Shape& shape, DType dtype,
                           Device device) {
  NEFT_CHECK(int64_t(values.size()) == shape_numel(shape), "from_floats: ", values.size(),
             " values for shape ", shape_str(shape));
  Tensor host = empty(shape, dtype, Device::CPU);
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::F32:
        host.data<float>()[i] = values[i];
        break;
      case DType::BF16:
        host.data<bf16>()[i].bits = f32_to_bf16_bits(values[i]);
        break;
      case DType::F16:
        host.data<f16>()[i].bits = f32_to_f16_bits(values[i]);
        break;
      case DType::I32:
        host.data<int32_t>()[i] = int32_t(values[i]);
        break;
      case DType::I64:
        host.data<int64_t>()[i] = int64_t(values[i]);
        break;
    }
  }
  return host.to(device);
}

Tensor Tensor::from_ints(const std::vector<int32_t>& values, const Shape& shape, Device device) {
  NEFT_CHECK(int64_t(values.size()) == shape_numel(shape), "from_ints: ", values.size(),
             " values for shape ", shape_str(shape));
  Tensor host = empty(shape, DType::I32, Device::CPU);
  std::copy(values.begin(), values.end(), host.data<int32_t>());
  return host.to(device);
}

int64_t Tensor::size(int d) const {
  if (d < 0) d += dim();
  NEFT_CHECK(d >= 0 && d < dim(), "dimension ", d, " out of range for ", str());
  return shape_[d];
}

int64_t Tensor::numel() const { return shape_numel(shape_); }

void* Tensor::raw() const {
  NEFT_CHECK(defined(), "use of an undefined tensor");
  return storage_->data() ? static_cast<char*>(storage_->data()) + offset_ : nullptr;
}

void Tensor::check_element_type(size_t elem_size, bool integral) const {
  const bool ok = dtype_size(dtype_) == elem_size && integral == !is_floating(dtype_);
  NEFT_CHECK(ok, "tensor ", str(), " accessed with an element type of ", elem_size, " bytes");
}

Tensor Tensor::view(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      NEFT_CHECK(infer < 0, "view: more than one -1 in ", shape_str(shape));
      infer = int64_t(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) s[infer] = known ? numel() / known : 0;
  NEFT_CHECK(shape_numel(s) == numel(), "view: cannot view ", str(), " as ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t count) const {
  NEFT_CHECK(dim() >= 1 && begin >= 0 && count >= 0 && begin + count <= shape_[0], "rows(", begin,
             ", ", count, ") out of range for ", str());
  Tensor t = *this;
  t.shape_[0] = count;
  t.offset_ +=
      size_t(begin) * size_t(numel() / std::max<int64_t>(shape_[0], 1)) * dtype_size(dtype_);
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  NEFT_CHECK(src.dtype_ == dtype_ && src.numel() == numel(), "copy_from: ", src.str(), " into ",
             str());
  device_copy(raw(), device_, src.raw(), src.device_, nbytes());
}

void Tensor::zero_() { device_memset_zero(device_, raw(), nbytes()); }

std::vector<float> Tensor::to_floats() const {
  const Tensor h = device_ == Device::CPU ? *this : to(Device::CPU);
  std::vector<float> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::F32:
        out[i] = h.data<float>()[i];
        break;
      case DType::BF16:
        out[i] = bf16_bits_to_f32(h.data<bf16>()[i].bits);
        break;
      case DType::F16:
        out[i] = f16_bits_to_f32(h.data<f16>()[i].bits);
        break;
      case DType::I32:
        out[i] = float(h.data<int32_t>()[i]);
        break;
      case DType::I64:
        out[i] = float(h.data<int64_t>()[i]);
        break;
    }
  }
  return out;
}

std::vector<int32_t> Tensor::to_ints() const {
  NEFT_CHECK(dtype_ == DType::I32, "to_ints on ", str());
  const Tensor h = device_ == Device::CPU ? *this : to(Device::CPU);
  return std::vector<int32_t>(h.data<int32_t>(), h.data<int32_t>() + numel());
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_name(device_);
}

}  // namespace neft
