#include "build/log_redactor.hpp"

#include <algorithm>

#include "base64.hpp"

namespace market {

void LogRedactor::Add(std::string_view secret, std::string_view username) {
  if (secret.empty()) return;
  std::vector<std::string> forms{std::string(secret), Base64Encode(secret)};
  if (!username.empty()) {
    forms.push_back(Base64Encode(std::string(username) + ":" + std::string(secret)));
  }
  for (auto& form : forms) {
    if (std::find(secrets_.begin(), secrets_.end(), form) == secrets_.end()) {
      secrets_.push_back(std::move(form));
    }
  }
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string LogRedactor::Redact(std::string_view text) const {
  std::string out(text);
  for (const auto& secret : secrets_) {
    std::size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), kMask);
      pos += kMask.size();
    }
  }
  return out;
}

}  // namespace market
