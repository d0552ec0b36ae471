#pragma once
// Dockerfile quoting, written once: how a user's value becomes Dockerfile text that the parser
// reads back as exactly that value, never as syntax.
//
// Decisions (the Dockerfile word lexer of BuildKit and of buildah's imagebuilder agree on them):
// - ENV, LABEL, ARG and WORKDIR values go inside double quotes with `\`, `"` and `$` escaped by a
//   backslash. `$` is escaped so that a value is data: `ENV A="$HOME"` would expand at build time,
//   `ENV A="\$HOME"` stores the five characters `$HOME`.
// - Exec forms (ENTRYPOINT, CMD, HEALTHCHECK CMD, COPY) are JSON arrays of JSON strings.
// - Neither form can end a line early or continue it: callers reject control characters
//   (value_checks.hpp) before anything reaches this file.

#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"

namespace market::dockerfile {

// `"..."` with `\`, `"` and `$` escaped.
std::string QuoteLiteral(std::string_view value);

// `value` as is when it holds only characters no Dockerfile lexer treats specially
// ([A-Za-z0-9._/@%+=:,-]), otherwise QuoteLiteral(value): keeps common output readable.
std::string QuoteIfNeeded(std::string_view value);

// `["a", "b"]`: a JSON array of JSON strings. Values must be valid UTF-8.
std::string ExecForm(const std::vector<std::string>& words);

// Splits a command line like a POSIX shell, without any expansion: whitespace separates words,
// '...' is literal, "..." allows \" \\ \$ \` escapes, a backslash outside quotes escapes the next
// character. kInvalid (message without a field prefix) for unbalanced quotes, a trailing lone
// backslash or no words at all.
Result<std::vector<std::string>> SplitShellWords(std::string_view text);

// True when the line ends with `\` followed only by spaces or tabs: the Dockerfile parser would
// join the next line to this one.
bool EndsWithLineContinuation(std::string_view line);

// True when the text holds a here-document marker (`<<EOF`, `<<-"EOF"`, `2<<'X'`): BuildKit reads
// the lines after such a RUN as the document, swallowing the instructions that follow.
// Here-strings (`<<<`) and shifts (`1<<2`) are not markers.
bool HasHeredocMarker(std::string_view text);

}  // namespace market::dockerfile
