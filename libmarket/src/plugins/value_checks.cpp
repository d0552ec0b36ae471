#include "plugins/value_checks.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <regex>

#include "source/context_paths.hpp"
#include "uri.hpp"

namespace market::plugins {

namespace {

// Decodes one UTF-8 sequence at `i`; returns its length, or 0 when invalid.
std::size_t DecodeUtf8(std::string_view s, std::size_t i, char32_t& cp) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  std::size_t len = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// libstdc++'s std::regex recurses once per character: a long enough value (the body limit
// allows a megabyte) exhausts a thread's stack. Nothing checked here is legitimately that long.
constexpr std::size_t kMaxMatchedLength = 1024;

bool FullMatch(std::string_view text, const std::regex& re) {
  return text.size() <= kMaxMatchedLength && std::regex_match(text.begin(), text.end(), re);
}

}  // namespace

std::optional<std::string> TextProblem(std::string_view text, bool multiline) {
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    std::size_t len = DecodeUtf8(text, i, cp);
    if (len == 0) return fmt::format("is not valid UTF-8 (byte offset {})", i);
    bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
    bool allowed = multiline && (cp == '\n' || cp == '\r' || cp == '\t');
    if (control && !allowed) {
      return fmt::format(
          "contains control character U+{:04X} at byte offset {}; {}", static_cast<unsigned>(cp), i,
          multiline ? "only line breaks and tabs are allowed"
                    : "single-line values cannot hold line breaks or control characters");
    }
    i += len;
  }
  return std::nullopt;
}

std::optional<std::string> ImageReferenceProblem(std::string_view reference) {
  // github.com/distribution/reference, regexp.go, without IPv6 hosts.
  static const std::regex kReference(
      R"(^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?)"
      R"([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
      R"((?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?)"
      R"((?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$)");
  if (reference.empty()) return "is empty";
  if (reference.size() > 512) return "is longer than 512 characters";
  if (!FullMatch(reference, kReference)) {
    return "is not an image reference ([registry[:port]/]name[:tag][@digest], e.g. "
           "harbor.example.com/base/centos:7)";
  }
  return std::nullopt;
}

std::optional<std::string> VariableNameProblem(std::string_view name) {
  static const std::regex kName(R"(^[A-Za-z_][A-Za-z0-9_]*$)");
  if (name.empty()) return "is empty";
  if (!FullMatch(name, kName)) return "must match [A-Za-z_][A-Za-z0-9_]*";
  return std::nullopt;
}

std::optional<std::string> LabelKeyProblem(std::string_view key) {
  static const std::regex kKey(R"(^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?$)");
  if (key.empty()) return "is empty";
  if (!FullMatch(key, kKey)) {
    return "must be letters, digits and . _ / - (starting and ending with a letter or digit)";
  }
  return std::nullopt;
}

std::optional<std::string> UserSpecProblem(std::string_view spec) {
  static const std::regex kSpec(
      R"(^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$)");
  if (spec.empty()) return "is empty";
  if (spec.size() > 128) return "is longer than 128 characters";
  if (!FullMatch(spec, kSpec)) return "must be user[:group] made of letters, digits and _ . -";
  return std::nullopt;
}

namespace {
std::optional<std::string> NoExpansionCharacters(std::string_view path) {
  if (path.find('$') != std::string_view::npos) {
    return "must not contain '$' (the Dockerfile would expand it as a variable)";
  }
  if (path.find('\\') != std::string_view::npos) {
    return "must not contain '\\' (the Dockerfile would read it as an escape)";
  }
  // COPY runs its JSON-form paths through the word lexer too, where quotes are syntax.
  if (path.find_first_of("\"'") != std::string_view::npos) {
    return "must not contain quotes (the Dockerfile would read them as quoting)";
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::string> ContextPathProblem(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.front() == '/') return "must be relative to the build context, not absolute";
  if (auto p = NoExpansionCharacters(path)) return p;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") {
      return "must stay inside the build context ('..' is not allowed)";
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> CheckoutPathProblem(std::string_view path) {
  auto normal = source::NormalizeContextPath(path);
  if (!normal) return normal.error();
  return ContextPathProblem(*normal);
}

std::optional<std::string> ImagePathProblem(std::string_view path) {
  if (path.empty()) return "is empty";
  return NoExpansionCharacters(path);
}

std::optional<std::string> AbsoluteImagePathProblem(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.front() != '/') return "must be an absolute path (starting with /)";
  if (auto p = NoExpansionCharacters(path)) return p;
  if (path.find_last_not_of(" \t") != path.size() - 1) return "must not end with whitespace";
  return std::nullopt;
}

std::optional<std::string> PortProblem(std::string_view port) {
  static const std::regex kPort(R"(^([1-9][0-9]{0,4})(/(tcp|udp))?$)");
  std::match_results<std::string_view::const_iterator> m;
  if (port.size() > 16 || !std::regex_match(port.begin(), port.end(), m, kPort)) {
    return "must be a port number 1-65535 with an optional /tcp or /udp";
  }
  int number = 0;
  std::from_chars(&*m[1].first, &*m[1].first + m[1].length(), number);
  if (number > 65535) return "must be a port number 1-65535 with an optional /tcp or /udp";
  return std::nullopt;
}

std::optional<std::string> DurationProblem(std::string_view duration) {
  static const std::regex kDuration(R"(^(?:[0-9]{1,6}(?:ms|s|m|h))+$)");
  if (duration.size() > 32 || !FullMatch(duration, kDuration)) {
    return "must be a duration such as 30s, 500ms, 5m or 1m30s";
  }
  return std::nullopt;
}

std::optional<std::string> RetriesProblem(std::string_view retries) {
  static const std::regex kRetries(R"(^(?:[1-9][0-9]?|100)$)");
  if (!FullMatch(retries, kRetries)) return "must be a whole number from 1 to 100";
  return std::nullopt;
}

std::optional<std::string> SourceUrlProblem(std::string_view type, std::string_view url) {
  if (url.empty()) return "is empty";
  if (url.front() == '-') return "must not start with '-'";
  if (url.find_first_of(" \t") != std::string_view::npos) return "must not contain whitespace";
  if (url.size() > kMaxMatchedLength) {
    return fmt::format("is longer than {} characters", kMaxMatchedLength);
  }
  if (url.find("://") != std::string_view::npos) {
    auto parts = ParseUri(url);
    if (!parts) return parts.error().message;
    const std::string& scheme = parts->scheme;
    bool ok = scheme == "http" || scheme == "https" || scheme == "ssh" ||
              (type == "git" && scheme == "git") ||
              (type == "svn" && (scheme == "svn" || scheme == "svn+ssh"));
    if (!ok) return fmt::format("uses scheme {}:// which {} checkouts do not allow", scheme, type);
    if (parts->has_password) return "must not carry a password; use the password attribute";
    if (parts->host.empty()) return "has no host";
    return std::nullopt;
  }
  static const std::regex kScp(R"(^(?:[A-Za-z0-9_.-]+@)?[A-Za-z0-9.-]+:.+$)");
  if (type == "git" && FullMatch(url, kScp) && url.find("::") == std::string_view::npos) {
    return std::nullopt;
  }
  return type == "git" ? "must be an http(s)://, ssh://, git:// or user@host:path URL"
                       : "must be an http(s)://, svn:// or svn+ssh:// URL";
}

std::optional<std::string> SourceRefProblem(std::string_view ref) {
  static const std::regex kRef(R"(^[A-Za-z0-9._/@^~+][A-Za-z0-9._/@^~+-]*$)");
  if (ref.size() > 256) return "is longer than 256 characters";
  if (!FullMatch(ref, kRef) || ref.find("..") != std::string_view::npos) {
    return "must be a branch, tag, commit or revision of letters, digits and . _ / @ ^ ~ + - "
           "(not starting with -)";
  }
  return std::nullopt;
}

std::optional<std::string> SourceUserProblem(std::string_view user) {
  if (user.empty()) return std::nullopt;
  if (user.front() == '-') return "must not start with '-'";
  if (user.find_first_of(" \t:") != std::string_view::npos) {
    return "must not contain whitespace or ':'";
  }
  return std::nullopt;
}

}  // namespace market::plugins
