#pragma once
// Building responses: the {"code", "errMsg", "content"} envelope, and plain bodies.

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http_types.hpp"
#include "market/error.hpp"

namespace market::server {

HttpResponse JsonResponse(http::status status, const nlohmann::json& body);
HttpResponse TextResponse(http::status status, std::string_view content_type,
                          std::string body);

// 10000 with `content`.
HandlerResult Ok(nlohmann::json content = "");
// The list shape: the envelope plus top-level page, page_size, total_count.
HandlerResult OkList(nlohmann::json content, int page, int page_size, std::int64_t total_count);
// The error's code, its HTTP status (error_mapping), errMsg = the specific message, content null.
HandlerResult ErrorResult(const Error& error);
HttpResponse ErrorResponse(const Error& error, http::status status);

// A handler's answer from `fn`, which returns Result<HandlerResult>: its result, or its error
// as ErrorResult. Lets a handler pass errors up with MARKET_ASSIGN_OR_RETURN.
template <class Fn>
HandlerResult Respond(Fn&& fn) {
  Result<HandlerResult> result = fn();
  if (!result) return ErrorResult(result.error());
  return std::move(*result);
}

// The body of a route's errors: the envelope {code, errMsg, content}, or the seed's
// {code, msg} where the seed documents that shape for the route (DELETE /repositories).
enum class ErrorShape { kEnvelope, kSeedCodeMsg };
// Rewrites an error envelope (any status from 400 up) into `shape`; anything else is left as
// it is. The HTTP core applies it to every answer of a route, refusals before the handler
// included, so a route's errors have one shape whoever answers them.
void ApplyErrorShape(ErrorShape shape, HttpResponse& response);

}  // namespace market::server
