// Handlers of the console's sign-in (/api/session/...) and of the admin pages' users and API
// tokens (/api/user/..., /api/token/...). The rules are IdentityAdmin's.

#include <fmt/format.h>

#include "api.hpp"
#include "auth.hpp"
#include "browser_sessions.hpp"
#include "identity_admin.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

nlohmann::json UserToJson(const User& user) {
  return {{"name", user.name},
          {"role", ToString(user.role)},
          {"createdAt", FormatIso8601(user.created_at)}};
}

nlohmann::json TokenToJson(const ApiToken& token) {
  return {{"id", token.id},
          {"user", token.user},
          {"label", token.label},
          {"prefix", token.prefix},
          {"createdAt", FormatIso8601(token.created_at)},
          {"revokedAt", token.revoked_at ? nlohmann::json(FormatIso8601(*token.revoked_at))
                                         : nlohmann::json(nullptr)}};
}

Result<Role> RoleParameter(const RequestParams& params) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.Required("role"));
  std::optional<Role> role = ParseRole(text);
  if (!role) {
    return Fail(Errc::kInvalid, fmt::format("role must be viewer, developer or admin, not '{}'",
                                            text.substr(0, 32)));
  }
  return *role;
}

// A password in the URL would be written wherever URLs are (proxy logs, browser history).
Result<std::string> PasswordParameter(const RequestContext& context,
                                      const RequestParams& params) {
  MARKET_ASSIGN_OR_RETURN(FormPairs query, ParseUrlEncoded(context.query));
  for (const auto& [key, value] : query) {
    if (key == "password") {
      return Fail(Errc::kInvalid, "password goes in the request body, never in the URL");
    }
  }
  return params.Required("password");
}

// Responses that carry a secret are kept by no cache.
HandlerResult NoStore(HandlerResult result) {
  result.response.set(http::field::cache_control, "no-store");
  return result;
}

}  // namespace

// Whoever may manage users: an admin, signed in (with authentication off there is nobody to
// manage, and anybody could).
Result<AuditActor> Api::AdminActor(const RequestContext& context) const {
  if (!deps_.auth_enabled || !context.user) {
    return Fail(Errc::kForbidden,
                "users and tokens are managed with authentication on (auth = true)");
  }
  return AuditActor{*context.user, "", context.request_id};
}

IdentityAdmin Api::Admin() const {
  return IdentityAdmin(*deps_.identity, deps_.auth,
                       deps_.clock != nullptr ? *deps_.clock : system_clock_);
}

// A password checked by admission (HTTP Basic) becomes a session: its secret goes to the
// browser in an HttpOnly cookie, the page keeps nothing.
HandlerResult Api::SignIn(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    if (deps_.auth == nullptr || !context.user) {
      return Fail(Errc::kInvalid, "authentication is off: there is nothing to sign in to");
    }
    if (!HeaderValue(context.message, http::field::authorization).starts_with("Basic ")) {
      return Fail(Errc::kInvalid,
                  "sign in with a user name and password (Authorization: Basic); API tokens "
                  "need no session");
    }
    MARKET_ASSIGN_OR_RETURN(std::string secret, deps_.auth->Sessions().Start(*context.user));
    auditor_.Record(context, Acting{*context.user, *context.user}, "auth.signin",
                    "user:" + *context.user, nullptr, {{"address", context.remote}});
    HandlerResult result = NoStore(WhoAmI(context));
    result.response.set(http::field::set_cookie,
                        SessionCookieHeader(secret, CameOverHttps(context.message)));
    return result;
  });
}

// Ends the cookie's session, if any, and clears the cookie: public, so a session that has
// already ended can still be signed out of.
HandlerResult Api::SignOut(const RequestContext& context) {
  if (deps_.auth != nullptr) {
    std::string_view secret = SessionCookieOf(context.message);
    if (!secret.empty()) {
      deps_.auth->Sessions().End(secret);
      deps_.auth->Forget(std::string(kSessionScheme) + std::string(secret));
    }
  }
  HandlerResult result = Ok();
  result.response.set(http::field::set_cookie,
                      ClearedSessionCookieHeader(CameOverHttps(context.message)));
  return result;
}

HandlerResult Api::ListUsers(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_RETURN_IF_ERROR(AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(std::vector<User> users, Admin().Users());
    nlohmann::json content = nlohmann::json::array();
    for (const User& user : users) content.push_back(UserToJson(user));
    return Ok(std::move(content));
  });
}

HandlerResult Api::NewUser(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(AuditActor by, AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("name"));
    MARKET_ASSIGN_OR_RETURN(Role role, RoleParameter(params));
    MARKET_ASSIGN_OR_RETURN(std::string password, PasswordParameter(context, params));
    MARKET_ASSIGN_OR_RETURN(User user, Admin().AddUser(name, role, password, by));
    return Ok(UserToJson(user));
  });
}

HandlerResult Api::SetUserRole(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(AuditActor by, AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("name"));
    MARKET_ASSIGN_OR_RETURN(Role role, RoleParameter(params));
    MARKET_ASSIGN_OR_RETURN(User user, Admin().SetRole(name, role, by));
    return Ok(UserToJson(user));
  });
}

HandlerResult Api::SetUserPassword(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(AuditActor by, AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("name"));
    MARKET_ASSIGN_OR_RETURN(std::string password, PasswordParameter(context, params));
    MARKET_ASSIGN_OR_RETURN(User user, Admin().SetPassword(name, password, by));
    return Ok(UserToJson(user));
  });
}

HandlerResult Api::DeleteUser(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(AuditActor by, AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("name"));
    MARKET_RETURN_IF_ERROR(Admin().DeleteUser(name, by));
    return Ok();
  });
}

HandlerResult Api::ListTokens(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_RETURN_IF_ERROR(AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string user, params.Text("user"));
    MARKET_ASSIGN_OR_RETURN(std::vector<ApiToken> tokens, Admin().Tokens(user));
    nlohmann::json content = nlohmann::json::array();
    for (const ApiToken& token : tokens) content.push_back(TokenToJson(token));
    return Ok(std::move(content));
  });
}

// The token itself is in this answer only: it is stored as a digest.
HandlerResult Api::NewToken(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(AuditActor by, AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string user, params.Required("user"));
    MARKET_ASSIGN_OR_RETURN(std::string label, params.Text("label"));
    MARKET_ASSIGN_OR_RETURN(CreatedToken created, Admin().CreateToken(user, label, by));
    nlohmann::json content = TokenToJson(created.token);
    content["token"] = std::move(created.secret);
    return NoStore(Ok(std::move(content)));
  });
}

HandlerResult Api::RevokeToken(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(AuditActor by, AdminActor(context));
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string id_text, params.NumberText("id"));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, ParseBuildId("id", id_text));
    MARKET_ASSIGN_OR_RETURN(ApiToken token, Admin().RevokeToken(id, by));
    return Ok(TokenToJson(token));
  });
}

}  // namespace market::server
