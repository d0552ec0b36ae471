#include "buildah/local_layer_cache.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <utility>

namespace market {

namespace {

bool IsHex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

// The most images one removal takes before the storage is measured again.
constexpr std::size_t kMaxBatch = 8;

}  // namespace

LocalLayerCache::LocalLayerCache(Storage storage, std::int64_t max_bytes)
    : storage_(std::move(storage)), max_bytes_(max_bytes) {}

void LocalLayerCache::Touch(const std::vector<std::string>& ids, std::int64_t now_unix) {
  std::lock_guard lock(mu_);
  for (const std::string& id : ids) {
    if (id.size() >= 8 && IsHex(id)) last_use_[id] = now_unix;
  }
}

std::vector<std::string> LocalLayerCache::Record(const std::string& owner,
                                                 const std::vector<std::string>& ids,
                                                 bool replace) {
  // A bud names one image by a short id in one line and its full id in another.
  constexpr std::size_t kShort = 11;
  std::set<std::string> now;
  for (const std::string& id : ids) {
    if (id.size() >= kShort && IsHex(id)) now.insert(id.substr(0, kShort));
  }
  std::lock_guard lock(mu_);
  std::set<std::string>& owned = owned_[owner];
  std::vector<std::string> superseded;
  if (replace) {
    for (const std::string& id : owned) {
      if (!now.contains(id)) superseded.push_back(id);
    }
    owned = std::move(now);
  } else {
    owned.insert(now.begin(), now.end());
  }
  return superseded;
}

std::int64_t LocalLayerCache::LastUse(const Image& image) const {
  std::int64_t last = image.created_unix;
  // A bud prints short ids: a recorded prefix of this id is this image. Both sets are the
  // images of one storage (hundreds, not millions), so a plain scan does.
  for (const auto& [id, used] : last_use_) {
    if (image.id.starts_with(id)) last = std::max(last, used);
  }
  return last;
}

LocalLayerCache::TrimOutcome LocalLayerCache::Trim() {
  TrimOutcome outcome;
  if (max_bytes_ <= 0) return outcome;
  outcome.bytes_before = outcome.bytes_after = storage_.bytes();
  if (outcome.bytes_before <= max_bytes_) return outcome;
  const std::int64_t goal = max_bytes_ / 10 * 9;

  std::vector<std::pair<std::int64_t, Image>> order;
  {
    std::lock_guard lock(mu_);
    for (Image& image : storage_.list()) {
      const std::int64_t last = LastUse(image);
      order.emplace_back(last, std::move(image));
    }
  }
  // Oldest use first; among images used together, the newest made (a chain's child) first,
  // for removing a parent while its child stays frees nothing.
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return a.second.created_unix > b.second.created_unix;
  });
  std::set<std::string> removed;
  for (std::size_t next = 0; next < order.size() && outcome.bytes_after > goal;) {
    // As many as the excess is of the whole, if images were alike in size (one at least): a
    // measure costs a walk of the storage, removing too much costs rebuilding it.
    const auto excess = static_cast<double>(outcome.bytes_after - goal);
    const std::size_t share = static_cast<std::size_t>(
        std::ceil(excess / static_cast<double>(outcome.bytes_after) * double(order.size())));
    const std::size_t batch_size = std::clamp<std::size_t>(share, 1, kMaxBatch);
    std::vector<std::string> batch;
    for (; next < order.size() && batch.size() < batch_size; ++next) {
      batch.push_back(order[next].second.id);
    }
    storage_.remove(batch);
    removed.insert(batch.begin(), batch.end());
    outcome.bytes_after = storage_.bytes();
  }
  outcome.removed = removed.size();
  {
    std::lock_guard lock(mu_);
    // Forget what no image answers to any more.
    for (auto it = last_use_.begin(); it != last_use_.end();) {
      const bool gone = std::any_of(removed.begin(), removed.end(),
                                    [&](const std::string& id) { return id.starts_with(it->first); });
      it = gone ? last_use_.erase(it) : std::next(it);
    }
  }
  return outcome;
}

std::optional<std::string> LocalLayerCache::ImageOfBudLine(std::string_view line) {
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
    line.remove_suffix(1);
  }
  if (line.size() == 64 && IsHex(line)) return std::string(line);
  constexpr std::string_view kArrow = "--> ";
  if (!line.starts_with(kArrow)) return std::nullopt;
  line.remove_prefix(kArrow.size());
  constexpr std::string_view kUsing = "Using cache ";
  if (line.starts_with(kUsing)) line.remove_prefix(kUsing.size());
  if (line.size() >= 8 && line.size() <= 64 && IsHex(line)) return std::string(line);
  return std::nullopt;
}

std::int64_t DiskBytes(const std::filesystem::path& root) {
  struct stat top {};
  if (::lstat(root.c_str(), &top) != 0) return 0;
  std::int64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> linked;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (st.st_dev != top.st_dev) {  // a mount (an overlay's merged view): not storage
      it.disable_recursion_pending();
      continue;
    }
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !linked.emplace(st.st_dev, st.st_ino).second) {
      continue;
    }
    total += static_cast<std::int64_t>(st.st_blocks) * 512;
  }
  return total;
}

}  // namespace market
