// Helpers every handler file uses: parameters, the operator, content negotiation.

#include <cctype>

#include <fmt/format.h>

#include "api.hpp"
#include "market/validation.hpp"

namespace market::server {

Result<RequestParams> DecodeParams(const RequestContext& context) {
  return RequestParams::Decode(context.query,
                               HeaderValue(context.message, http::field::content_type),
                               context.message.body());
}

Result<Acting> ActingOf(const RequestContext& context, const RequestParams& params,
                        bool required) {
  MARKET_ASSIGN_OR_RETURN(std::string given, params.Text("operator"));
  if (context.user) {  // authentication on: the identity, not a claim
    const std::string& user = *context.user;
    if (given.empty() || given == user) return Acting{user, user};
    if (context.role != Role::kAdmin) {
      return Fail(Errc::kForbidden,
                  fmt::format("operator {} is not you ({}); only an admin may act for another "
                              "user (leave operator empty to act as yourself)",
                              given, user));
    }
    MARKET_ASSIGN_OR_RETURN(std::string named, ValidateOperator("operator", given));
    return Acting{user, named};
  }
  if (!given.empty()) {
    MARKET_ASSIGN_OR_RETURN(std::string named, ValidateOperator("operator", given));
    return Acting{named, named};
  }
  // The original's client sends the bare user name; "Basic ..." and "Bearer ..." are not names.
  if (std::string_view value = HeaderValue(context.message, http::field::authorization);
      !value.empty() && value.find(' ') == std::string_view::npos) {
    MARKET_ASSIGN_OR_RETURN(std::string named, ValidateOperator("Authorization", value));
    return Acting{named, named};
  }
  if (!required) return Acting{"anonymous", "anonymous"};
  return Fail(Errc::kInvalid, "operator is required");
}

Result<std::string> OperatorOf(const RequestContext& context, const RequestParams& params) {
  MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
  return acting.operator_name;
}

bool Accepts(const RequestContext& context, std::string_view type) {
  std::string value(HeaderValue(context.message, http::field::accept));
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value.find(type) != std::string::npos;
}

}  // namespace market::server
