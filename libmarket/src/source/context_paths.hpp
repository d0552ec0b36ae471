#pragma once
// Paths a checkout writes to or the build reads from inside the build context (checkoutAs,
// dockerfilePath), and walking them without following symbolic links.
//
// A repository checked out earlier may hold symbolic links; a later checkout whose folder is
// reached through one of them would write wherever the link points. So every component below
// the context is opened with O_NOFOLLOW from the descriptor of its parent (which is what
// openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS gives, for single names without "..") and
// must be a real directory. Checkouts run one after another and nothing else writes the
// context, so what was checked still holds when git or svn writes there.

#include <expected>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market::source {

// "a//b/" -> "a/b". Unexpected (the problem as a sentence) when the path is empty, absolute,
// has a "." or ".." component, or holds a backslash or a control character.
std::expected<std::string, std::string> NormalizeContextPath(std::string_view path);

// Two normalized paths of which one is the other or lies inside it ("a" and "a/b").
bool ContextPathsOverlap(std::string_view a, std::string_view b);

// Makes `rel` (normalized) a place a checkout can create: every component but the last is a
// real directory (created when missing), the last does not exist (an empty real directory is
// removed, for git and svn create it themselves). kInvalid saying which component is a
// symbolic link or not a directory; kInternal for other file system errors.
Result<void> PrepareCheckoutFolder(const std::filesystem::path& context, std::string_view rel);

// `rel` (normalized) is a regular file reached through real directories only. kInvalid saying
// which component is a symbolic link, is missing, or is not a file / a directory.
Result<void> CheckRegularFile(const std::filesystem::path& context, std::string_view rel);

// The bytes of the regular files below `root`, links not followed; what build-context-bytes
// bounds.
std::int64_t TreeBytes(const std::filesystem::path& root);

}  // namespace market::source
