// auto_pad SAME_UPPER / SAME_LOWER / VALID of Conv and pooling written as explicit pads wherever they
// are fixed: always at stride 1 (total padding (k - 1) * dilation), and at larger strides when the
// input's height and width are known. Later passes, the quantization plan and the integer
// convolutions then see one form (TF-exported models use auto_pad).
#include <algorithm>

#include "kiln/runtime/passes.h"

namespace kiln {

std::string resolve_auto_pad(Graph& g) {
  for (Node& n : g.nodes) {
    if (n.dead || (n.op != "Conv" && n.op != "MaxPool" && n.op != "AveragePool") || n.inputs.empty()) continue;
    const std::string mode = n.get_string("auto_pad", "NOTSET");
    if (mode == "NOTSET") continue;
    if (mode != "VALID" && mode != "SAME_UPPER" && mode != "SAME_LOWER") continue;  // the op reports it
    std::vector<int64_t> ks = n.get_ints("kernel_shape", {});
    if (ks.empty() && n.op == "Conv" && n.inputs.size() > 1) {
      const Tensor* w = g.constant_of(n.inputs[1]);
      if (w && w->rank() == 4) ks = {w->shape()[2], w->shape()[3]};
    }
    const std::vector<int64_t> st = n.get_ints("strides", {1, 1}), dl = n.get_ints("dilations", {1, 1});
    if (ks.size() != 2 || st.size() != 2 || dl.size() != 2) continue;
    const Value& x = g.values[n.inputs[0]];
    const bool sized = x.shape_known && x.shape.size() == 4 && x.shape[2] > 0 && x.shape[3] > 0;
    std::vector<int64_t> pads(4, 0);
    if (mode != "VALID") {
      bool ok = true;
      for (int a = 0; a < 2 && ok; ++a) {
        int64_t total = 0;
        if (st[a] == 1) {
          total = (ks[a] - 1) * dl[a];
        } else if (sized) {
          const int64_t in = x.shape[2 + a], out = (in + st[a] - 1) / st[a];
          total = std::max<int64_t>((out - 1) * st[a] + (ks[a] - 1) * dl[a] + 1 - in, 0);
        } else {
          ok = false;  // depends on the size: left to the op
        }
        const int64_t lo = mode == "SAME_UPPER" ? total / 2 : total - total / 2;
        pads[a] = lo;
        pads[2 + a] = total - lo;
      }
      if (!ok) continue;
    }
    n.attrs["pads"] = Attr::of_ints(pads);
    n.attrs.erase("auto_pad");
  }
  return "";
}

}  // namespace kiln
