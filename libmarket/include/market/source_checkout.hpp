#pragma once
// Checks a git or svn source out into a folder of the build context.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stop_token>

#include "market/error.hpp"
#include "market/image_builder.hpp"
#include "market/plugin.hpp"

namespace market {

struct CheckoutLimits {
  std::chrono::seconds timeout{300};
  // What the checkout's files may hold. A build gives each checkout what its context has left
  // of the build's limit, so all checkouts together stay within it.
  std::int64_t max_bytes = 2LL << 30;
};

class SourceCheckout {
 public:
  virtual ~SourceCheckout() = default;
  // Credentials reach the tool through its environment or a helper, never argv or the log.
  virtual Result<void> Checkout(const SourceSpec& source, const std::filesystem::path& dest,
                                const CheckoutLimits& limits, const LogLineFn& log,
                                std::stop_token stop) = 0;
};

using SourceCheckoutPtr = std::unique_ptr<SourceCheckout>;

}  // namespace market
