#include "responses.hpp"

#include "error_mapping.hpp"
#include "json_text.hpp"

namespace market::server {

HttpResponse JsonResponse(http::status status, const nlohmann::json& body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/json; charset=utf-8");
  // Replaces, does not throw on, invalid UTF-8 (a registry or a log may hand us any bytes).
  response.body() = JsonText(body);
  return response;
}

HttpResponse TextResponse(http::status status, std::string_view content_type, std::string body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  return response;
}

namespace {

// The success envelope around `content`, which is moved in: an initializer list would copy
// the whole content tree.
nlohmann::json OkEnvelope(nlohmann::json content) {
  nlohmann::json body(nlohmann::json::value_t::object);
  auto& fields = body.get_ref<nlohmann::json::object_t&>();
  fields.emplace("code", static_cast<int>(Errc::kOk));
  fields.emplace("errMsg", DefaultMessage(Errc::kOk));
  fields.emplace("content", std::move(content));
  return body;
}

}  // namespace

HandlerResult Ok(nlohmann::json content) {
  return HandlerResult{JsonResponse(http::status::ok, OkEnvelope(std::move(content))), nullptr};
}

HandlerResult OkList(nlohmann::json content, int page, int page_size, std::int64_t total_count) {
  nlohmann::json body = OkEnvelope(std::move(content));
  auto& fields = body.get_ref<nlohmann::json::object_t&>();
  fields.emplace("page", page);
  fields.emplace("page_size", page_size);
  fields.emplace("total_count", total_count);
  return HandlerResult{JsonResponse(http::status::ok, body), nullptr};
}

HttpResponse ErrorResponse(const Error& error, http::status status) {
  nlohmann::json body = {
      {"code", static_cast<int>(error.code)},
      {"errMsg", ClientMessage(error)},
      {"content", nullptr}};
  // A 401's WWW-Authenticate depends on the request: the HTTP core adds it (http_session.cpp).
  return JsonResponse(status, body);
}

void ApplyErrorShape(ErrorShape shape, HttpResponse& response) {
  if (shape == ErrorShape::kEnvelope || response.result_int() < 400) return;
  nlohmann::json body = nlohmann::json::parse(response.body(), nullptr, false);
  if (!body.is_object() || !body.contains("code") || !body.contains("errMsg")) return;
  response.body() = JsonText({{"code", body["code"]}, {"msg", body["errMsg"]}});
}

HandlerResult ErrorResult(const Error& error) {
  return HandlerResult{ErrorResponse(error, HttpStatusFor(error.code)), nullptr};
}

}  // namespace market::server
