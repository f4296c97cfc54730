#include "kiln/runtime/op_registry.h"

#include <array>
#include <atomic>
#include <mutex>

#include "ops/op_util.h"
#include "ops/q_util.h"

namespace kiln {
namespace {

// Registered extensions: a fixed array filled in order under a mutex and published through an
// atomic count, so that find_op (called for every node of every run) reads without locking.
constexpr size_t kMaxExtensions = 256;
struct Extensions {
  std::array<OpDef, kMaxExtensions> ops{};
  std::atomic<size_t> count{0};
  std::mutex write;
};

Extensions& extensions() {
  static Extensions e;
  return e;
}

}  // namespace

const std::vector<OpDef>& all_ops() {
  static const std::vector<OpDef> ops = [] {
    std::vector<OpDef> v;
    ops::add_elementwise_ops(v);
    ops::add_shape_ops(v);
    ops::add_conv_ops(v);
    ops::add_pool_ops(v);
    ops::add_linear_ops(v);
    ops::add_norm_ops(v);
    ops::add_resize_ops(v);
    ops::add_q_ops(v);  // the Q-graph ops (kiln.Q*, kiln.Quantize, ...)
    return v;
  }();
  return ops;
}

const OpDef* find_op(std::string_view name) {
  for (const OpDef& op : all_ops()) {
    if (name == op.name) return &op;
  }
  Extensions& ext = extensions();
  const size_t n = ext.count.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    if (name == ext.ops[i].name) return &ext.ops[i];
  }
  return nullptr;
}

bool register_op(const OpDef& op, std::string* error) {
  auto fail = [&](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  if (op.name == nullptr || op.name[0] == '\0' || op.infer == nullptr || op.run == nullptr) {
    return fail("register_op needs a name, an infer and a run function");
  }
  if (op.attributes == nullptr) return fail(std::string("op '") + op.name + "' has a null attribute list");
  Extensions& ext = extensions();
  std::lock_guard<std::mutex> lock(ext.write);
  if (const OpDef* old = find_op(op.name)) {
    if (old->infer == op.infer && old->run == op.run && old->prepare == op.prepare) return true;
    return fail(std::string("op '") + op.name + "' is already registered");
  }
  const size_t n = ext.count.load(std::memory_order_relaxed);
  if (n == kMaxExtensions) return fail("too many registered ops");
  ext.ops[n] = op;
  ext.count.store(n + 1, std::memory_order_release);
  return true;
}

bool op_accepts_attribute(const OpDef& op, std::string_view attr) {
  std::string_view list = op.attributes;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (list.substr(0, comma) == attr) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace kiln
