// Tensors: an element type, a logical shape (ONNX's dimension order), the physical layout of 4-D
// activations, and shared storage, so constants (weights) are shared between sessions and never
// copied. Quantization parameters have their place here for the quantized graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

// s4 is packed two per byte (low nibble first); s64 carries ONNX's shape and index tensors.
enum class DType : uint8_t { f32 = 0, u8 = 1, s8 = 2, s4 = 3, s32 = 4, s64 = 5 };

const char* dtype_name(DType t);
// Bytes for `count` elements (s4 rounds up to whole bytes).
size_t dtype_bytes(DType t, size_t count);

// A dimension of a graph-level shape that depends on the batch (ONNX dim_param): written "N".
constexpr int64_t kSymbolicDim = -1;

using Shape = std::vector<int64_t>;
// Product of the dimensions (1 for a scalar); 0 if any dimension is negative or symbolic.
size_t shape_elements(const Shape& s);
// The largest element count kiln accepts for one tensor (2^40). Shapes are checked against it as
// they are imported and inferred, so dimension arithmetic on accepted shapes cannot overflow int64.
constexpr int64_t kMaxTensorElements = int64_t{1} << 40;
// True when every dim is in [0, kMaxTensorElements] and so is their product (written to *n).
bool shape_elements_checked(const Shape& s, int64_t* n);
std::string shape_string(const Shape& s);  // "[N,3,224,224]"

// Physical order of a 4-D activation. The shape stays logical (N, C, H, W) either way.
enum class Layout : uint8_t { plain = 0, nhwc = 1 };

// Per-tensor or per-channel affine quantization (real = scale * (q - zero_point)). Empty scales: the
// tensor is not quantized. Filled by the quantized-graph passes, carried through dumps and files.
struct QuantParams {
  std::vector<float> scales;       // one (per tensor) or one per channel along `axis`
  std::vector<int32_t> zero_points;
  int axis = -1;
  int bits = 8;
  bool empty() const { return scales.empty(); }
};

class Tensor {
 public:
  Tensor() = default;
  // A new zero-filled tensor that owns its storage.
  Tensor(DType dtype, Shape shape, Layout layout = Layout::plain);
  // A tensor over memory kept alive by `owner` (for example a loaded model file).
  Tensor(DType dtype, Shape shape, std::shared_ptr<const void> owner, const void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  Layout layout() const { return layout_; }
  void set_layout(Layout l) { layout_ = l; }
  size_t elements() const { return shape_elements(shape_); }
  size_t bytes() const { return dtype_bytes(dtype_, elements()); }
  int rank() const { return static_cast<int>(shape_.size()); }
  bool empty() const { return data_ == nullptr && elements() != 0; }

  const void* raw() const { return data_; }
  void* mutable_raw() { return const_cast<void*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }
  template <class T> T* mutable_data() { return static_cast<T*>(const_cast<void*>(data_)); }

  // A tensor over someone else's memory (an arena slot); the caller keeps it alive.
  static Tensor view(DType dtype, Shape shape, Layout layout, void* data);
  // A deep copy with its own storage.
  Tensor clone() const;
  // Reads element i of an integer tensor (s32/s64/u8/s8) as int64; of f32 truncated.
  int64_t int_at(size_t i) const;
  float float_at(size_t i) const;

 private:
  DType dtype_ = DType::f32;
  Shape shape_;
  Layout layout_ = Layout::plain;
  std::shared_ptr<const void> owner_;
  const void* data_ = nullptr;
};

// Strides of a tensor's logical dimensions in elements, given its physical layout.
std::vector<int64_t> logical_strides(const Shape& s, Layout layout);

// A deep copy of `t` in plain (logical NCHW) order, whatever its physical layout.
Tensor to_plain(const Tensor& t);

}  // namespace kiln
