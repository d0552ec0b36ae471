#pragma once
// A SourceCheckout for unit tests: writes chosen files into the destination, or fails, and
// records the specs it was given (passwords included, so tests can check where they went).

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "market/source_checkout.hpp"

namespace market::testing {

class FakeSourceCheckout final : public SourceCheckout {
 public:
  // Files written into every checkout (relative path -> content), besides SOURCE.txt which
  // holds "<url>@<ref>".
  void SetFiles(std::map<std::string, std::string> files);
  void FailWith(std::string error);  // every later checkout fails
  // Logs a line carrying the password, as a careless tool might: the service must mask it.
  void EchoPasswordInLog(bool on);

  // SourceCheckout
  Result<void> Checkout(const SourceSpec& source, const std::filesystem::path& dest,
                        const CheckoutLimits& limits, const LogLineFn& log,
                        std::stop_token stop) override;

  std::vector<SourceSpec> Calls() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::string error_;
  bool echo_password_ = false;
  std::vector<SourceSpec> calls_;
};

}  // namespace market::testing
