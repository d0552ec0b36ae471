#pragma once
// Input rules shared by every entry point (HTTP, CLI, embedders).

#include <cstdint>
#include <string>
#include <string_view>

#include "market/error.hpp"
#include "market/project.hpp"
#include "market/project_store.hpp"

namespace market {

inline constexpr std::size_t kMaxNameLength = 64;
inline constexpr std::size_t kMaxOperatorLength = 64;
inline constexpr std::size_t kMaxFilterLength = 64;
inline constexpr int kMaxPageSize = 100;
inline constexpr int kDefaultPageSize = 10;

// Lower-cases, then requires `[a-z0-9]+([._-][a-z0-9]+)*`, 1..64 characters.
// `field` names the parameter in the message ("projectName contains special char: *").
Result<std::string> NormalizeProjectName(std::string_view field, std::string_view name);
// A cluster is a registry project name: the same rule.
Result<std::string> NormalizeClusterName(std::string_view field, std::string_view name);
// Operators are user names: 1..64 printable ASCII characters without spaces or controls.
Result<std::string> ValidateOperator(std::string_view field, std::string_view name);
// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
Result<std::string> ValidateTag(std::string_view field, std::string_view tag);
// Paging parameters as text: missing (empty) gives the default; otherwise a positive integer,
// page_size at most kMaxPageSize.
Result<int> ParsePage(std::string_view field, std::string_view text);
Result<int> ParsePageSize(std::string_view field, std::string_view text);
// A build id as text: a positive integer (required).
Result<std::int64_t> ParseBuildId(std::string_view field, std::string_view text);
// addOrUpdate: "add" or "update"; empty (not given) is update.
Result<SaveMode> ParseSaveMode(std::string_view field, std::string_view text);
// DefineDockerFileType: tool, edit or download (see ParseDockerfileType); empty (not given) is
// `missing`.
Result<DockerfileType> ParseDockerfileTypeField(std::string_view field, std::string_view text,
                                                DockerfileType missing);
// The list filter: any text up to 64 characters, no control characters.
Result<std::string> ValidateNameFilter(std::string_view field, std::string_view text);
// A name of a webhook policy or build trigger: 1..64 letters, digits, '.', '_' and '-'.
Result<std::string> ValidateObjectName(std::string_view field, std::string_view text);
// A shared secret (HMAC key or token): 1..256 bytes without control characters, so it survives
// every form and header it is pasted through. Spaces are fine (GitHub's example has them).
Result<std::string> ValidateSecret(std::string_view field, std::string_view text);
// A full git commit id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits, in either case.
bool IsFullCommitId(std::string_view text);
// A flag as the API takes it: true/false, 1/0, yes/no, on/off, in any case.
Result<bool> ParseFlag(std::string_view field, std::string_view text);

}  // namespace market
