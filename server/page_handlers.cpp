// Handlers of the console, the configuration page, their static assets, and the health probes.

#include <fmt/format.h>

#include "api.hpp"
#include "error_mapping.hpp"
#include "market/validation.hpp"
#include "responses.hpp"

#include "web_assets.hpp"

namespace market::server {

namespace {

HandlerResult HtmlError(const Error& error) {
  std::string body = fmt::format(
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Image Market</title></head>"
      "<body><h1>{}</h1><p>{}</p></body></html>\n",
      static_cast<int>(error.code), web::HtmlEscape(error.message));
  return HandlerResult{
      TextResponse(HttpStatusFor(error.code), "text/html; charset=utf-8", std::move(body)),
      nullptr};
}

}  // namespace

// Always the HTML itself, whatever Accept says (the original's client asks with
// `accept: application/json` and shows the body as the page); ?format=json wraps it.
HandlerResult Api::ConfigPage(const RequestContext& context) {
  auto page = [&]() -> Result<std::string> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string raw_name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(std::string name, NormalizeProjectName("projectName", raw_name));
    // Without authentication the page says at once that a project does not exist. With it on,
    // the route is public (the page must load to ask for a login), so existence is not
    // revealed here: the page's script learns it from /api/project/info with credentials.
    if (!deps_.auth_enabled) MARKET_RETURN_IF_ERROR(deps_.projects->Info(name));
    return web::ConfigPageHtml(name);
  };
  Result<std::string> html = page();
  if (!html) return HtmlError(html.error());
  Result<RequestParams> params = DecodeParams(context);
  if (params) {
    Result<std::string> format = params->Text("format");
    if (format && *format == "json") {
      return HandlerResult{JsonResponse(http::status::ok, {{"data", std::move(*html)}}), nullptr};
    }
  }
  return HandlerResult{TextResponse(http::status::ok, "text/html; charset=utf-8", std::move(*html)),
                       nullptr};
}

// The console holds no data, so it is public like the configuration page: its script signs in
// when the API asks.
HandlerResult Api::ConsolePage(const RequestContext&) {
  return HandlerResult{TextResponse(http::status::ok, "text/html; charset=utf-8",
                                    std::string(web::ConsolePageHtml())),
                       nullptr};
}

HandlerResult Api::StaticAsset(const RequestContext& context) {
  const web::Asset* asset = web::FindAsset(context.path);
  if (asset != nullptr) {
    HttpResponse response =
        TextResponse(http::status::ok, asset->content_type, std::string(asset->body));
    response.set(http::field::cache_control, "public, max-age=300");
    return HandlerResult{std::move(response), nullptr};
  }
  return ErrorResult(Error{Errc::kNotFound, fmt::format("no such file: {}", context.path)});
}

HandlerResult Api::Healthz(const RequestContext&) {
  return HandlerResult{JsonResponse(http::status::ok, {{"status", "ok"}}), nullptr};
}

HandlerResult Api::Readyz(const RequestContext&) {
  using Clock = std::chrono::steady_clock;
  {
    std::lock_guard lock(readiness_.mutex);
    if (readiness_.answer &&
        (readiness_.refreshing || Clock::now() - readiness_.made < std::chrono::seconds(1))) {
      return HandlerResult{*readiness_.answer, nullptr};
    }
    readiness_.refreshing = true;
  }
  HttpResponse response = CheckReadiness();
  std::lock_guard lock(readiness_.mutex);
  readiness_.answer = response;
  readiness_.made = Clock::now();
  readiness_.refreshing = false;
  return HandlerResult{std::move(response), nullptr};
}

HttpResponse Api::CheckReadiness() const {
  nlohmann::json checks = nlohmann::json::object();
  bool ready = true;
  Result<void> database = deps_.project_store->Ping();
  checks["database"] = database ? "ok" : database.error().message;
  ready = ready && database.has_value();
  if (deps_.registry == nullptr) {
    checks["registry"] = "not configured";
  } else {
    Result<void> registry = deps_.registry->Ping();
    checks["registry"] = registry ? "ok" : registry.error().message;
    ready = ready && registry.has_value();
  }
  nlohmann::json body = {{"status", ready ? "ready" : "not ready"}, {"checks", std::move(checks)}};
  return JsonResponse(ready ? http::status::ok : http::status::service_unavailable, body);
}

}  // namespace market::server
