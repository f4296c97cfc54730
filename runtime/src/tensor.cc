#include "kiln/runtime/tensor.h"

#include <cstdlib>
#include <cstring>

namespace kiln {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::u8: return "u8";
    case DType::s8: return "s8";
    case DType::s4: return "s4";
    case DType::s32: return "s32";
    case DType::s64: return "s64";
  }
  return "?";
}

size_t dtype_bytes(DType t, size_t count) {
  switch (t) {
    case DType::f32: case DType::s32: return count * 4;
    case DType::u8: case DType::s8: return count;
    case DType::s4: return (count + 1) / 2;
    case DType::s64: return count * 8;
  }
  return 0;
}

size_t shape_elements(const Shape& s) {
  size_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return 0;
    n *= static_cast<size_t>(d);
  }
  return n;
}

bool shape_elements_checked(const Shape& s, int64_t* n) {
  int64_t total = 1;
  for (int64_t d : s) {
    if (d < 0 || d > kMaxTensorElements) return false;
    if (d != 0 && total > kMaxTensorElements / d) return false;
    total *= d;
  }
  *n = total;
  return true;
}

std::string shape_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += s[i] == kSymbolicDim ? std::string("N") : std::to_string(s[i]);
  }
  return out + "]";
}

namespace {
// 64-byte aligned zeroed storage (at least one byte, so data() is never null).
std::shared_ptr<const void> allocate(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64 + 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) return nullptr;
  std::memset(p, 0, rounded);
  return std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape, Layout layout)
    : dtype_(dtype), shape_(std::move(shape)), layout_(layout) {
  owner_ = allocate(bytes());
  data_ = owner_.get();
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<const void> owner, const void* data)
    : dtype_(dtype), shape_(std::move(shape)), owner_(std::move(owner)), data_(data) {}

Tensor Tensor::view(DType dtype, Shape shape, Layout layout, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.layout_ = layout;
  t.data_ = data;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_, layout_);
  if (bytes()) std::memcpy(t.mutable_raw(), data_, bytes());
  return t;
}

int64_t Tensor::int_at(size_t i) const {
  switch (dtype_) {
    case DType::s64: return data<int64_t>()[i];
    case DType::s32: return data<int32_t>()[i];
    case DType::u8: return data<uint8_t>()[i];
    case DType::s8: return data<int8_t>()[i];
    case DType::f32: return static_cast<int64_t>(data<float>()[i]);
    case DType::s4: {
      const uint8_t b = data<uint8_t>()[i / 2];
      const int v = (i % 2) ? (b >> 4) : (b & 15);
      return v >= 8 ? v - 16 : v;
    }
  }
  return 0;
}

float Tensor::float_at(size_t i) const {
  return dtype_ == DType::f32 ? data<float>()[i] : static_cast<float>(int_at(i));
}

std::vector<int64_t> logical_strides(const Shape& s, Layout layout) {
  std::vector<int64_t> st(s.size(), 1);
  if (layout == Layout::nhwc && s.size() == 4) {
    st[1] = 1;
    st[3] = s[1];
    st[2] = s[3] * s[1];
    st[0] = s[2] * st[2];
    return st;
  }
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

Tensor to_plain(const Tensor& t) {
  if (t.layout() == Layout::plain || t.rank() != 4 || t.dtype() == DType::s4) {
    Tensor c = t.clone();
    c.set_layout(Layout::plain);
    return c;
  }
  Tensor out(t.dtype(), t.shape());
  const Shape& s = t.shape();
  const std::vector<int64_t> st = logical_strides(s, t.layout());
  const size_t esize = dtype_bytes(t.dtype(), 1);
  const char* src = static_cast<const char*>(t.raw());
  char* dst = static_cast<char*>(out.mutable_raw());
  size_t o = 0;
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t w = 0; w < s[3]; ++w, ++o) {
          const int64_t i = n * st[0] + c * st[1] + h * st[2] + w * st[3];
          std::memcpy(dst + o * esize, src + static_cast<size_t>(i) * esize, esize);
        }
  return out;
}

}  // namespace kiln
