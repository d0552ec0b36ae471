#pragma once
// Rules for plugin attribute values. Each returns the problem as a sentence (to be prefixed with
// "plugin.attribute: ") or nothing when the value is acceptable.

#include <optional>
#include <string>
#include <string_view>

namespace market::plugins {

// Invalid UTF-8, or a control character (C0, DEL, C1). `multiline` allows LF, CR and TAB.
// Non-ASCII text such as U+2028 is data and allowed.
std::optional<std::string> TextProblem(std::string_view text, bool multiline);

// A registry image reference: [host[:port]/]name[:tag][@digest] (the distribution grammar).
std::optional<std::string> ImageReferenceProblem(std::string_view reference);

// [A-Za-z_][A-Za-z0-9_]*: an ENV or ARG name.
std::optional<std::string> VariableNameProblem(std::string_view name);

// [A-Za-z0-9] then [A-Za-z0-9._/-], ending alphanumeric: a LABEL key such as
// org.opencontainers.image.title.
std::optional<std::string> LabelKeyProblem(std::string_view key);

// user[:group], each a name or number of [A-Za-z0-9_.-] not starting with `-` or `.`.
std::optional<std::string> UserSpecProblem(std::string_view spec);

// A path inside the build context: relative, no `..` component, no `$`, `\` or quotes (the
// Dockerfile would expand or unescape them), not empty.
std::optional<std::string> ContextPathProblem(std::string_view path);

// A folder or file at a fixed place in the context that a checkout writes or the build reads
// (checkoutAs, dockerfilePath): ContextPathProblem's rules, and no '.' component either
// (source::NormalizeContextPath; "a//b/" is fine and means "a/b").
std::optional<std::string> CheckoutPathProblem(std::string_view path);

// A path in the image (a COPY destination): not empty, no `$`, `\` or quotes.
std::optional<std::string> ImagePathProblem(std::string_view path);

// An absolute path in the image (WORKDIR).
std::optional<std::string> AbsoluteImagePathProblem(std::string_view path);

// 1..65535 with an optional /tcp or /udp.
std::optional<std::string> PortProblem(std::string_view port);

// A HEALTHCHECK duration: one or more <number><unit> with unit ms, s, m or h ("30s", "1m30s").
std::optional<std::string> DurationProblem(std::string_view duration);

// A positive count 1..100 (HEALTHCHECK --retries).
std::optional<std::string> RetriesProblem(std::string_view retries);

// A repository URL for `type` (git or svn): http(s)://, ssh://, git:// (git), svn:// and
// svn+ssh:// (svn), or git's scp form user@host:path. No password inside the URL, no leading `-`
// (an option to the checkout tool), no whitespace. file:// and other transports are refused.
std::optional<std::string> SourceUrlProblem(std::string_view type, std::string_view url);

// A branch, tag, commit or revision: [A-Za-z0-9._/@^~+-], not starting with `-`, no `..`.
std::optional<std::string> SourceRefProblem(std::string_view ref);

// A user name for a checkout: no leading `-`, no whitespace, no `:`.
std::optional<std::string> SourceUserProblem(std::string_view user);

}  // namespace market::plugins
