#pragma once
// Defence in depth for build logs: known secret values are masked in every stored line, even
// though no tool is ever given a secret where it could print it.

#include <string>
#include <string_view>
#include <vector>

namespace market {

class LogRedactor {
 public:
  static constexpr std::string_view kMask = "******";

  // Also masks the secret's base64 forms that auth headers and auth files carry when
  // `username` is given ("user:secret").
  void Add(std::string_view secret, std::string_view username = {});
  std::string Redact(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;  // longest first, so a secret inside another is not split
};

}  // namespace market
