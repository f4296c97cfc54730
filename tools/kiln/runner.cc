#include "runner.h"

namespace kiln::cli {
namespace {

class SessionRunner final : public Runner {
 public:
  SessionRunner(std::shared_ptr<const Model> model, int threads) : session_(std::move(model), threads) {}
  bool set_input(const std::string& name, const Tensor& t, std::string* error) override {
    *error = session_.set_input(name, t);
    return error->empty();
  }
  bool run(std::string* error) override {
    *error = session_.run();
    return error->empty();
  }
  const Tensor* output(const std::string& name) const override { return session_.output(name); }

 private:
  Session session_;
};

class QFloatRunner final : public Runner {
 public:
  explicit QFloatRunner(std::unique_ptr<calib::QFloatSession> s) : s_(std::move(s)) {}
  bool set_input(const std::string& name, const Tensor& t, std::string* error) override {
    return s_->set_input(name, t, error);
  }
  bool run(std::string* error) override { return s_->run(error); }
  const Tensor* output(const std::string& name) const override { return s_->output(name); }

 private:
  std::unique_ptr<calib::QFloatSession> s_;
};

}  // namespace

std::unique_ptr<Runner> make_session_runner(std::shared_ptr<const Model> model, int threads) {
  return std::make_unique<SessionRunner>(std::move(model), threads);
}

std::unique_ptr<Runner> make_qfloat_runner(const Graph& q_graph, int threads, std::string* error) {
  calib::QFloatOptions options;
  options.threads = threads;
  options.keep_values = false;
  std::unique_ptr<calib::QFloatSession> s;
  if (!calib::QFloatSession::create(q_graph, options, &s, error)) return nullptr;
  return std::make_unique<QFloatRunner>(std::move(s));
}

}  // namespace kiln::cli
