#include "market/testing/fake_source_checkout.hpp"

#include <fstream>

namespace market::testing {

void FakeSourceCheckout::SetFiles(std::map<std::string, std::string> files) {
  std::lock_guard lock(mu_);
  files_ = std::move(files);
}

void FakeSourceCheckout::FailWith(std::string error) {
  std::lock_guard lock(mu_);
  error_ = std::move(error);
}

void FakeSourceCheckout::EchoPasswordInLog(bool on) {
  std::lock_guard lock(mu_);
  echo_password_ = on;
}

Result<void> FakeSourceCheckout::Checkout(const SourceSpec& source,
                                          const std::filesystem::path& dest, const CheckoutLimits&,
                                          const LogLineFn& log, std::stop_token stop) {
  std::map<std::string, std::string> files;
  std::string error;
  bool echo = false;
  {
    std::lock_guard lock(mu_);
    calls_.push_back(source);
    files = files_;
    error = error_;
    echo = echo_password_;
  }
  if (stop.stop_requested()) return Fail(Errc::kInternal, "cancelled");
  log("fake checkout of " + source.url);
  if (echo) log("remote: authenticating with password " + source.password);
  if (!error.empty()) return Fail(Errc::kInternal, error);
  files["SOURCE.txt"] = source.url + "@" + source.ref;
  for (const auto& [rel, content] : files) {
    auto path = dest / rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) return Fail(Errc::kInternal, "cannot write " + path.string());
  }
  return {};
}

std::vector<SourceSpec> FakeSourceCheckout::Calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

}  // namespace market::testing
