// A loaded model (immutable, shared by any number of sessions and threads: its weights and packed
// kernels' state are never copied) and a session (one caller's inputs, outputs, execution plan,
// arena and thread pool; reusable across runs, re-planned when the input shapes change).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/runtime/graph.h"
#include "kiln/runtime/shape_inference.h"

namespace kiln {

class ThreadPool;

struct ModelOptions {
  bool canonicalize = true;  // run the canonicalisation passes (off: run the graph as given)
};

class Model {
 public:
  // Canonicalises (optionally), assigns layouts and prepares every node (weight packing).
  static std::shared_ptr<const Model> create(Graph graph, std::string* error, const ModelOptions& options = {});

  const Graph& graph() const { return graph_; }
  // The graph before layout assignment (what a serialised model stores).
  const Graph& logical_graph() const { return logical_; }
  const void* prepared(size_t node) const { return prepared_[node].get(); }
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;

 private:
  Model() = default;
  Graph logical_;
  Graph graph_;
  std::vector<std::shared_ptr<const void>> prepared_;
};

// Time spent in one node of Model::graph() since profiling was enabled.
struct NodeProfile {
  std::string name;
  std::string op;
  double total_us = 0.0;
  int64_t runs = 0;
};

// Called with each computed value: graph inputs at the start of run(), then every output of every
// node right after the node ran (`t` in its physical layout; to_plain() gives an NCHW copy).
using ValueObserver = std::function<void(int value, const std::string& name, const Tensor& t)>;

class Session {
 public:
  // threads <= 0: one per hardware thread.
  explicit Session(std::shared_ptr<const Model> model, int threads = 1);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Copies `t` (logical NCHW order, plain) as the named input. Checks dtype and rank/static dims.
  std::string set_input(const std::string& name, const Tensor& t);
  std::string run();
  // The named output of the last run (plain layout), or null.
  const Tensor* output(const std::string& name) const;
  // Bytes of the intermediate-tensor arena of the current plan (the peak working memory).
  size_t arena_bytes() const { return arena_bytes_; }
  const Model& model() const { return *model_; }

  // Value ids are those of model().graph(). An empty function removes the observer.
  void set_value_observer(ValueObserver fn) { observer_ = std::move(fn); }
  // On: clears and starts per-node timing (steady_clock around each node's run). Off: stops.
  void set_profiling(bool on);
  // One entry per node of model().graph() (nodes evaluated at plan time keep runs == 0).
  const std::vector<NodeProfile>& profile() const { return profile_; }

 private:
  std::string plan();

  std::shared_ptr<const Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<Tensor> inputs_;   // per graph input
  std::vector<Tensor> outputs_;  // per graph output
  std::vector<Shape> planned_shapes_;
  bool planned_ = false;
  ShapeState shapes_;
  std::vector<Tensor> views_;   // per value: its arena view (activations)
  std::vector<int> kind_;       // per value: 0 none, 1 constant, 2 known at plan time, 3 input, 4 arena
  std::vector<int> input_slot_;
  std::shared_ptr<void> arena_;
  size_t arena_bytes_ = 0;
  ValueObserver observer_;
  bool profiling_ = false;
  std::vector<NodeProfile> profile_;
};

}  // namespace kiln
