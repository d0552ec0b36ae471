#pragma once
// The properties the fuzz harnesses check. The regression test replays every input that once
// broke one of them through the same functions, in the normal build.

#include <optional>
#include <string>
#include <string_view>

namespace market::fuzz {

// What went wrong, or nothing when the input passed. Crashes, sanitizer reports and escaped
// exceptions are findings too; they end the process instead.
using Problem = std::optional<std::string>;

// Input: line 1 the Content-Type, line 2 the query string, the rest the body. Decodes it as the
// server does (RequestParams::Decode and every accessor, PipelineParam, ParseUrlEncoded and
// PipelineFromForm, PipelineFromJson of a JSON body) and checks that accessors agree with each
// other and that decoded pipelines survive the JSON round trip. `<<N|text>>` anywhere in the
// input stands for `text` N times (up to 1 MiB in all), so short inputs reach deep nesting,
// long arrays and many keys: valid JSON nested deeper than 64 levels must be refused with
// kInvalid naming the limit, and shallower JSON must not be.
Problem CheckRequestDecoding(std::string_view input);

// Input: line 1 the Dockerfile type (tool, edit, download; anything else tries all three), the
// rest a pipeline as JSON ([{"$$plugin": ...}]) or, when that does not parse, in the page's form
// encoding ($$plugin=run&run.value=...). Every pipeline the built-in plugins validate must render,
// and every rendered line outside a static_dockerfile's own text must be one instruction: it
// starts with a known keyword, holds no line break, NUL or trailing line continuation.
Problem CheckPluginRendering(std::string_view input);

// Input: line 1 an operation ("harbor tags base/app 1 10", "distribution manifest base/app 1",
// "challenge", "link", ...), the rest what the registry answers: responses separated by lines
// "---", each "<status>\n<Name: value>...\n\n<body>". Network operations run a real client
// (MakeRegistry) against a loopback server that replays those responses; "{origin}" in them
// becomes the server's own http://127.0.0.1:PORT (inputs naming other hosts are skipped).
Problem CheckRegistryParsing(std::string_view input);

}  // namespace market::fuzz
