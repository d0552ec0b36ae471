#include "market/base_images.hpp"

#include <algorithm>
#include <cctype>

namespace market {

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsSpace(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !IsSpace(line[i])) ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

// Dockerfile instructions, continuation lines joined and comment lines dropped.
std::vector<std::string> Instructions(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    std::size_t first = 0;
    while (first < line.size() && IsSpace(line[first])) ++first;
    if (first < line.size() && line[first] == '#') {
      if (end == text.size()) break;
      continue;
    }
    while (!line.empty() && IsSpace(line.back())) line.remove_suffix(1);
    if (!line.empty() && line.back() == '\\') {
      line.remove_suffix(1);
      current += line;
      current += ' ';
    } else {
      current += line;
      if (!Words(current).empty()) out.push_back(current);
      current.clear();
    }
    if (end == text.size()) break;
  }
  if (!Words(current).empty()) out.push_back(current);
  return out;
}

bool IsHost(std::string_view component) {
  return component.find('.') != std::string_view::npos ||
         component.find(':') != std::string_view::npos || component == "localhost";
}

bool ValidChars(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
  });
}

}  // namespace

std::string ImageReference::Canonical() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) return out + ":" + tag;
  return out + "@" + digest;
}

std::optional<ImageReference> ParseImageReference(std::string_view text) {
  if (!ValidChars(text)) return std::nullopt;
  ImageReference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!ref.digest.starts_with("sha256:") || ref.digest.size() != 71) return std::nullopt;
  }
  std::string_view name = rest;
  if (auto slash = rest.find('/');
      slash != std::string_view::npos && IsHost(rest.substr(0, slash))) {
    ref.registry = std::string(rest.substr(0, slash));
    name = rest.substr(slash + 1);
  } else {
    ref.registry = "docker.io";
  }
  // The tag follows the last ':' after the last '/'.
  std::size_t last_slash = name.rfind('/');
  std::size_t colon = name.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (ref.tag.empty()) return std::nullopt;
  }
  if (name.empty() || name.front() == '/' || name.back() == '/' ||
      name.find(':') != std::string_view::npos || name.find("//") != std::string_view::npos) {
    return std::nullopt;
  }
  ref.repository = Lower(name);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::vector<std::string> BaseImageReferences(std::string_view dockerfile) {
  std::vector<std::string> images;
  std::vector<std::string> stages;  // lower-cased stage names seen so far
  for (const std::string& instruction : Instructions(dockerfile)) {
    std::vector<std::string> words = Words(instruction);
    if (words.empty() || Lower(words[0]) != "from") continue;
    std::size_t i = 1;
    while (i < words.size() && words[i].starts_with("--")) ++i;
    if (i >= words.size()) continue;
    const std::string& image = words[i];
    const std::string lowered = Lower(image);
    // Only an earlier stage can be named: look before recording this one's name.
    const bool is_stage = std::find(stages.begin(), stages.end(), lowered) != stages.end();
    if (i + 2 < words.size() && Lower(words[i + 1]) == "as") stages.push_back(Lower(words[i + 2]));
    if (lowered == "scratch" || is_stage) continue;
    if (std::find(images.begin(), images.end(), image) == images.end()) images.push_back(image);
  }
  return images;
}

}  // namespace market
