// Tensor: a dtype, a device, a shape and a shared, owning storage. Tensors are always
// contiguous (row-major); a view shares storage and is a reshape or a range of rows, which
// is all the model and the selected-neuron paths need. Copies are explicit.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/device.h"
#include "runtime/dtype.h"
#include "runtime/error.h"

namespace neft {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::CPU;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::CPU);
  // Host values converted to `dtype` and placed on `device`.
  static Tensor from_floats(const std::vector<float>& values, const Shape& shape,
                            DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor from_ints(const std::vector<int32_t>& values, const Shape& shape,
                          Device device = Device::CPU);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int dim() const { return int(shape_.size()); }
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cuda() const { return device_ == Device::CUDA; }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }

  void* raw() const;
  template <class T>
  T* data() const {
    check_element_type(sizeof(T), std::is_integral_v<T>);
    return static_cast<T*>(raw());
  }

  // Views sharing storage.
  Tensor view(const Shape& shape) const;            // same numel, -1 allowed once
  Tensor rows(int64_t begin, int64_t count) const;  // range of the first dimension
  // Rows of a 2-D view: the tensor as [numel / last, last].
  Tensor flat2d() const { return view({-1, size(-1)}); }

  // New storage.
  Tensor to(Device device) const;
  Tensor clone() const { return to(device_); }
  void copy_from(const Tensor& src);  // same dtype and numel, any devices
  void zero_();

  // Host copy of the values as floats / ints, whatever the dtype and device.
  std::vector<float> to_floats() const;
  std::vector<int32_t> to_ints() const;

  std::string str() const;  // "f32[7, 173] cpu", for error messages

 private:
  void check_element_type(size_t elem_size, bool integral) const;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
};

}  // namespace neft
