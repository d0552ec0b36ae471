#include "responses.hpp"

#include "error_mapping.hpp"

namespace market::server {

HttpResponse JsonResponse(http::status status, const nlohmann::json& body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/json; charset=utf-8");
  // Replace, do not throw, on invalid UTF-8 (a registry or a log may hand us any bytes).
  response.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse TextResponse(http::status status, std::string_view content_type, std::string body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  return response;
}

HandlerResult Ok(nlohmann::json content) {
  nlohmann::json body = {{"code", static_cast<int>(Errc::kOk)},
                         {"errMsg", DefaultMessage(Errc::kOk)},
                         {"content", std::move(content)}};
  return HandlerResult{JsonResponse(http::status::ok, body), nullptr};
}

HandlerResult OkList(nlohmann::json content, int page, int page_size, std::int64_t total_count) {
  nlohmann::json body = {{"code", static_cast<int>(Errc::kOk)},
                         {"errMsg", DefaultMessage(Errc::kOk)},
                         {"content", std::move(content)},
                         {"page", page},
                         {"page_size", page_size},
                         {"total_count", total_count}};
  return HandlerResult{JsonResponse(http::status::ok, body), nullptr};
}

HttpResponse ErrorResponse(const Error& error, http::status status) {
  nlohmann::json body = {
      {"code", static_cast<int>(error.code)},
      {"errMsg", error.message.empty() ? std::string(DefaultMessage(error.code)) : error.message},
      {"content", nullptr}};
  HttpResponse response = JsonResponse(status, body);
  if (error.code == Errc::kUnauthorized) {
    response.set(http::field::www_authenticate, "Basic realm=\"market\", charset=\"UTF-8\"");
  }
  return response;
}

HandlerResult ErrorResult(const Error& error) {
  return HandlerResult{ErrorResponse(error, HttpStatusFor(error.code)), nullptr};
}

}  // namespace market::server
