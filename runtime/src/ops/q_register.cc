// The Q-graph ops as one list (add_q_ops, for a built-in registration) and their registration as
// op-registry extensions (register_q_ops), which works whether or not the built-in list has them.
#include <mutex>

#include "kiln/runtime/q_blobs.h"
#include "ops/q_util.h"

namespace kiln {
namespace ops {

void add_q_ops(std::vector<OpDef>& ops) {
  add_q_elementwise_ops(ops);
  add_q_pool_ops(ops);
  add_q_linear_ops(ops);
}

}  // namespace ops

bool register_q_ops(std::string* error) {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    std::vector<OpDef> list;
    ops::add_q_ops(list);
    for (const OpDef& op : list) {
      std::string e;
      if (!register_op(op, &e)) {
        failure = e;
        return;
      }
    }
  });
  if (!failure.empty() && error) *error = failure;
  return failure.empty();
}

}  // namespace kiln
