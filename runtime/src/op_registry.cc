#include "kiln/runtime/op_registry.h"

#include "ops/op_util.h"

namespace kiln {

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
    return v;
  }();
  return ops;
}

const OpDef* find_op(std::string_view name) {
  for (const OpDef& op : all_ops()) {
    if (name == op.name) return &op;
  }
  return nullptr;
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
