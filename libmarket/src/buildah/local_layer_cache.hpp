#pragma once
// The local layer cache's bound: the images `buildah bud --layers` keeps (each step's result,
// the pulled bases) stay in the builder's storage for the next build, up to a size; past it the
// least recently used are removed.
//
// Use is what builds report (Touch: the images a bud reused or made). Images no build reported
// since this process started (a restart) count as used when they were created.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace market {

class LocalLayerCache {
 public:
  struct Image {
    std::string id;  // full hex id
    std::int64_t created_unix = 0;
  };
  // How the cache reaches the storage: buildah's in production.
  struct Storage {
    std::function<std::vector<Image>()> list;
    std::function<void(const std::vector<std::string>& ids)> remove;
    std::function<std::int64_t()> bytes;  // what the storage takes on disk
  };
  struct TrimOutcome {
    std::int64_t bytes_before = 0;
    std::int64_t bytes_after = 0;
    std::size_t removed = 0;
  };

  // max_bytes 0: no bound (Trim removes nothing).
  LocalLayerCache(Storage storage, std::int64_t max_bytes);

  // `ids` (full ids or prefixes of at least 8 hex digits, as a bud prints them) were used at
  // `now_unix`.
  void Touch(const std::vector<std::string>& ids, std::int64_t now_unix);
  // Records `ids` as the steps a build of `owner` (its cache repository) reused or made. With
  // `replace` (a noCache build, whose steps supersede the owner's earlier ones), returns the
  // owner's earlier steps that are not among `ids`: buildah looks up local steps oldest first,
  // so they must go for the new ones to be found. Else returns nothing.
  std::vector<std::string> Record(const std::string& owner, const std::vector<std::string>& ids,
                                  bool replace);
  // When the storage holds more than max_bytes: removes images, least recently used first
  // (children before their parents among equals), in small batches until it holds at most 90%
  // of max_bytes or nothing is left to remove. Call it only while no build runs.
  TrimOutcome Trim();

  // The image a bud output line names: "--> Using cache <id>", "--> <short id>", or a line of
  // one full id (the built image). nullopt for every other line.
  static std::optional<std::string> ImageOfBudLine(std::string_view line);

 private:
  std::int64_t LastUse(const Image& image) const;

  Storage storage_;
  const std::int64_t max_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> last_use_;  // id or prefix -> unix seconds
  std::map<std::string, std::set<std::string>> owned_;  // owner -> short ids of its steps
};

// Bytes `root` takes on disk: allocated blocks of every file below it, a hard-linked file
// once, mounted file systems below it not entered.
std::int64_t DiskBytes(const std::filesystem::path& root);

}  // namespace market
