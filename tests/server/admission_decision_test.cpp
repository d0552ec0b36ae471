// The admission's decisions without a server: caller x route access x authentication x
// throttle state -> allowed (as whom) or denied (status, code, Retry-After), and whether the
// I/O thread decided or the sign-in had to be verified on the pool.

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include <sodium.h>

#include "admission.hpp"
#include "http_server.hpp"
#include "server_harness.hpp"

namespace market::server::testing {
namespace {

// Users-file hashes at libsodium's lowest cost: the table verifies passwords often.
std::string CheapHash(const std::string& password) {
  char hash[crypto_pwhash_STRBYTES];
  REQUIRE(crypto_pwhash_str(hash, password.data(), password.size(), crypto_pwhash_OPSLIMIT_MIN,
                            crypto_pwhash_MEMLIMIT_MIN) == 0);
  return hash;
}

// vera (viewer) and dave (developer) sign in; mallory only fails to.
const Authenticator& SharedAuthenticator() {
  static market::testing::TempDir dir;
  static std::unique_ptr<Authenticator> auth = [] {
    REQUIRE(sodium_init() >= 0);
    std::string path = (dir.path() / "users").string();
    std::ofstream(path) << "vera:" << CheapHash("vera-pass") << ":viewer\n"
                        << "dave:" << CheapHash("dave-pass") << ":developer\n"
                        << "mallory:" << CheapHash("mallory-pass") << ":viewer\n";
    auto created = Authenticator::Create(nullptr, path);
    REQUIRE(created);
    return std::move(*created);
  }();
  return *auth;
}

enum class Caller { kAnonymous, kWrongPassword, kRememberedViewer, kSigningInDeveloper };
enum class Mode { kAuthOff, kAuthOn };
enum class State { kFresh, kRateLimited, kSigninThrottled };

const char* Name(Caller caller) {
  switch (caller) {
    case Caller::kAnonymous:
      return "anonymous";
    case Caller::kWrongPassword:
      return "dave, wrong password";
    case Caller::kRememberedViewer:
      return "vera, remembered";
    case Caller::kSigningInDeveloper:
      return "dave, signing in";
  }
  return "?";
}

std::string AuthorizationOf(Caller caller) {
  switch (caller) {
    case Caller::kAnonymous:
      return "";
    case Caller::kWrongPassword:
      return BasicAuthorization("dave", "guess");
    case Caller::kRememberedViewer:
      return BasicAuthorization("vera", "vera-pass");
    case Caller::kSigningInDeveloper:
      return BasicAuthorization("dave", "dave-pass");
  }
  return "";
}

// Where the decision was made, and what it was.
enum class Where { kIoThread, kPool };
struct Outcome {
  Where where = Where::kIoThread;
  bool allowed = false;
  std::string caller;  // allowed: the verified user, empty when nobody signed in
  unsigned status = 0;
  int code = 0;
  bool retry_after = false;
};

std::ostream& operator<<(std::ostream& out, const Outcome& outcome) {
  out << (outcome.where == Where::kPool ? "pool: " : "io: ");
  if (outcome.allowed) return out << "allowed as '" << outcome.caller << "'";
  return out << "denied " << outcome.status << " " << outcome.code
             << (outcome.retry_after ? " with Retry-After" : "");
}

bool operator==(const Outcome& a, const Outcome& b) {
  return a.where == b.where && a.allowed == b.allowed && a.caller == b.caller &&
         a.status == b.status && a.code == b.code && a.retry_after == b.retry_after;
}

Outcome AllowedAs(std::string caller, Where where) {
  return Outcome{where, true, std::move(caller), 0, 0, false};
}
Outcome Unauthorized(Where where) { return Outcome{where, false, "", 401, 10018, false}; }
Outcome Forbidden(Where where) { return Outcome{where, false, "", 403, 10019, false}; }
Outcome TooMany(Where where) { return Outcome{where, false, "", 429, 10020, true}; }

// One request through the admission as the HTTP core makes it: Admit on the I/O thread, then
// Verify when Admit leaves the sign-in to the pool.
Outcome Attempt(Admission& admission, Caller caller, Access access,
                const std::string& authorization_override = "") {
  HttpRequest request{http::verb::get, "/api/project/list", 11};
  std::string authorization =
      authorization_override.empty() ? AuthorizationOf(caller) : authorization_override;
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  RequestContext context{request, "/api/project/list", "", "test-request", "127.0.0.9:4000",
                         std::nullopt, std::nullopt};
  Admission::Attempt attempt{context, "127.0.0.9", access};
  Outcome outcome;
  Decision decision;
  auto first = admission.Admit(attempt);
  if (auto* pending = std::get_if<VerifyOnPool>(&first)) {
    outcome.where = Where::kPool;
    decision = admission.Verify(attempt, *pending);
  } else if (auto* allowed = std::get_if<Allowed>(&first)) {
    decision = *allowed;
  } else {
    decision = std::get<Denied>(first);
  }
  if (auto* allowed = std::get_if<Allowed>(&decision)) {
    outcome.allowed = true;
    if (allowed->caller) outcome.caller = allowed->caller->name;
    return outcome;
  }
  const Denied& denied = std::get<Denied>(decision);
  outcome.status = static_cast<unsigned>(denied.status);
  outcome.code = static_cast<int>(denied.error.code);
  for (const auto& [field, value] : denied.headers) {
    if (field == http::field::retry_after && std::stoi(value) >= 1) outcome.retry_after = true;
  }
  return outcome;
}

class CountingObserver : public RequestObserver {
 public:
  void OnRequest(const RequestRecord&) override {}
  void OnRefused(Refusal refusal) override { ++refused[refusal]; }
  void OnSigninFailed() override { ++signin_failures; }
  std::map<Refusal, int> refused;
  int signin_failures = 0;
};

// The admission for a row, brought into its throttle state by the requests before it: the same
// request once already (rate-limited: a burst of one that takes an hour to refill), or one
// failed sign-in from the address (sign-in throttled: one failure is the maximum).
std::unique_ptr<Admission> AdmissionIn(Mode mode, State state, Caller caller, Access access,
                                       CountingObserver& observer) {
  const Authenticator& auth = SharedAuthenticator();
  auth.Forget();
  Admission::Settings settings;
  settings.observer = &observer;
  settings.signin_max_failures = 1000;
  if (state == State::kRateLimited) {
    settings.rate_limit_per_second = 1.0 / 3600;
    settings.rate_limit_burst = 1;
  }
  if (state == State::kSigninThrottled) settings.signin_max_failures = 1;
  auto admission =
      std::make_unique<Admission>(settings, mode == Mode::kAuthOn ? &auth : nullptr);
  if (state == State::kRateLimited) {
    Attempt(*admission, caller, access);
    auth.Forget();  // the first request signed dave in; the row's must again
  }
  if (state == State::kSigninThrottled && mode == Mode::kAuthOn) {
    REQUIRE(Attempt(*admission, caller, Access::kViewer,
                    BasicAuthorization("mallory", "wrong")).status == 401);
  }
  if (caller == Caller::kRememberedViewer && mode == Mode::kAuthOn) {
    REQUIRE(auth.Verify(AuthorizationOf(caller)));  // a sign-in the cache remembers
  }
  return admission;
}

constexpr Where kIo = Where::kIoThread;
constexpr Where kPool = Where::kPool;

struct Row {
  Caller caller;
  Mode mode;
  State state;
  Outcome by_access[4];  // public, viewer, developer, admin
};

}  // namespace

TEST_CASE("admission decides by caller, route access, authentication and throttle state",
          "[admission][unit]") {
  const Access accesses[4] = {Access::kPublic, Access::kViewer, Access::kDeveloper,
                              Access::kAdmin};
  const Outcome open = AllowedAs("", kIo);
  const std::vector<Row> table = {
      // Authentication off: every route open, the address rate-limited, no sign-ins.
      {Caller::kAnonymous, Mode::kAuthOff, State::kFresh, {open, open, open, open}},
      {Caller::kAnonymous, Mode::kAuthOff, State::kRateLimited,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
      {Caller::kAnonymous, Mode::kAuthOff, State::kSigninThrottled, {open, open, open, open}},
      {Caller::kWrongPassword, Mode::kAuthOff, State::kFresh, {open, open, open, open}},
      {Caller::kWrongPassword, Mode::kAuthOff, State::kRateLimited,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
      {Caller::kWrongPassword, Mode::kAuthOff, State::kSigninThrottled, {open, open, open, open}},
      {Caller::kRememberedViewer, Mode::kAuthOff, State::kFresh, {open, open, open, open}},
      {Caller::kRememberedViewer, Mode::kAuthOff, State::kRateLimited,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
      {Caller::kRememberedViewer, Mode::kAuthOff, State::kSigninThrottled,
       {open, open, open, open}},
      {Caller::kSigningInDeveloper, Mode::kAuthOff, State::kFresh, {open, open, open, open}},
      {Caller::kSigningInDeveloper, Mode::kAuthOff, State::kRateLimited,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
      {Caller::kSigningInDeveloper, Mode::kAuthOff, State::kSigninThrottled,
       {open, open, open, open}},

      // Authentication on. No credentials: verified (and refused) on the pool, where a failure
      // takes from the address's bucket; with no credentials it is no failed sign-in.
      {Caller::kAnonymous, Mode::kAuthOn, State::kFresh,
       {open, Unauthorized(kPool), Unauthorized(kPool), Unauthorized(kPool)}},
      {Caller::kAnonymous, Mode::kAuthOn, State::kRateLimited,
       {open, TooMany(kPool), TooMany(kPool), TooMany(kPool)}},
      {Caller::kAnonymous, Mode::kAuthOn, State::kSigninThrottled,
       {open, Unauthorized(kPool), Unauthorized(kPool), Unauthorized(kPool)}},
      // A wrong password: refused on the I/O thread, before argon2id, once the address is
      // throttled.
      {Caller::kWrongPassword, Mode::kAuthOn, State::kFresh,
       {open, Unauthorized(kPool), Unauthorized(kPool), Unauthorized(kPool)}},
      {Caller::kWrongPassword, Mode::kAuthOn, State::kRateLimited,
       {open, TooMany(kPool), TooMany(kPool), TooMany(kPool)}},
      {Caller::kWrongPassword, Mode::kAuthOn, State::kSigninThrottled,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
      // A remembered caller is decided on the I/O thread: its bucket, then its role; the
      // sign-in throttle does not apply to it.
      {Caller::kRememberedViewer, Mode::kAuthOn, State::kFresh,
       {open, AllowedAs("vera", kIo), Forbidden(kIo), Forbidden(kIo)}},
      {Caller::kRememberedViewer, Mode::kAuthOn, State::kRateLimited,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
      {Caller::kRememberedViewer, Mode::kAuthOn, State::kSigninThrottled,
       {open, AllowedAs("vera", kIo), Forbidden(kIo), Forbidden(kIo)}},
      // A caller signing in is verified on the pool, then limited and authorised there.
      {Caller::kSigningInDeveloper, Mode::kAuthOn, State::kFresh,
       {open, AllowedAs("dave", kPool), AllowedAs("dave", kPool), Forbidden(kPool)}},
      {Caller::kSigningInDeveloper, Mode::kAuthOn, State::kRateLimited,
       {open, TooMany(kPool), TooMany(kPool), TooMany(kPool)}},
      {Caller::kSigningInDeveloper, Mode::kAuthOn, State::kSigninThrottled,
       {open, TooMany(kIo), TooMany(kIo), TooMany(kIo)}},
  };
  const char* modes[] = {"authentication off", "authentication on"};
  const char* states[] = {"fresh", "rate-limited", "sign-in throttled"};
  const char* access_names[] = {"public", "viewer", "developer", "admin"};
  for (const Row& row : table) {
    for (int a = 0; a < 4; ++a) {
      INFO(Name(row.caller) << ", " << modes[static_cast<int>(row.mode)] << ", "
                            << states[static_cast<int>(row.state)] << ", a " << access_names[a]
                            << " route");
      CountingObserver observer;
      auto admission = AdmissionIn(row.mode, row.state, row.caller, accesses[a], observer);
      CHECK(Attempt(*admission, row.caller, accesses[a]) == row.by_access[a]);
    }
  }
}

TEST_CASE("a public route's work on the pool is limited by address, a public page never",
          "[admission][unit]") {
  for (const bool auth_on : {false, true}) {
    INFO("authentication " << (auth_on ? "on" : "off"));
    CountingObserver observer;
    Admission::Settings settings;
    settings.observer = &observer;
    settings.rate_limit_per_second = 1.0 / 3600;
    settings.rate_limit_burst = 2;
    Admission admission(settings, auth_on ? &SharedAuthenticator() : nullptr);
    HttpRequest request{http::verb::post, "/api/trigger/1", 11};
    RequestContext context{request, "/api/trigger/1", "", "test-request", "127.0.0.9:4000",
                           std::nullopt, std::nullopt};
    auto admit = [&](bool public_work, std::string_view address) {
      return admission.Admit({context, address, Access::kPublic, public_work});
    };
    for (int i = 0; i < 5; ++i) CHECK(std::holds_alternative<Allowed>(admit(false, "127.0.0.9")));
    CHECK(std::holds_alternative<Allowed>(admit(true, "127.0.0.9")));
    CHECK(std::holds_alternative<Allowed>(admit(true, "127.0.0.9")));
    auto refused = admit(true, "127.0.0.9");
    REQUIRE(std::holds_alternative<Denied>(refused));
    CHECK(std::get<Denied>(refused).status == http::status::too_many_requests);
    CHECK(std::holds_alternative<Allowed>(admit(true, "127.0.0.10")));  // a bucket of its own
    CHECK(std::holds_alternative<Allowed>(admit(false, "127.0.0.9")));  // pages stay open
  }
}

TEST_CASE("admission counts failed sign-ins and reports its refusals", "[admission][unit]") {
  const Authenticator& auth = SharedAuthenticator();
  auth.Forget();
  CountingObserver observer;
  Admission::Settings settings;
  settings.observer = &observer;
  settings.signin_max_failures = 2;
  Admission admission(settings, &auth);

  // No credentials is no sign-in: neither counted nor throttled.
  for (int i = 0; i < 3; ++i) {
    CHECK(Attempt(admission, Caller::kAnonymous, Access::kViewer) == Unauthorized(kPool));
  }
  CHECK(observer.signin_failures == 0);
  // Two wrong passwords, then the next sign-in from the address is refused before it is
  // verified, whatever the password.
  CHECK(Attempt(admission, Caller::kWrongPassword, Access::kViewer) == Unauthorized(kPool));
  CHECK(Attempt(admission, Caller::kWrongPassword, Access::kViewer) == Unauthorized(kPool));
  CHECK(observer.signin_failures == 2);
  CHECK(Attempt(admission, Caller::kSigningInDeveloper, Access::kViewer) == TooMany(kIo));
  CHECK(observer.refused[Refusal::kSigninThrottled] == 1);
  CHECK(observer.signin_failures == 2);
  // An unknown token is a failed sign-in too.
  Admission tokens(settings, &auth);
  CHECK(Attempt(tokens, Caller::kAnonymous, Access::kViewer, "Bearer mkt_unknown") ==
        Unauthorized(kPool));
  CHECK(observer.signin_failures == 3);
}

TEST_CASE("admission refuses a sign-in past signin-max-concurrent, joins one in flight",
          "[admission][unit]") {
  market::testing::TempDir dir;
  std::string path = (dir.path() / "users").string();
  std::ofstream(path) << "dave:" << CheapHash("dave-pass") << ":developer\n"
                      << "vera:" << CheapHash("vera-pass") << ":viewer\n";
  auto auth = Authenticator::Create(nullptr, path, Authenticator::kDefaultCacheTtl, 1);
  REQUIRE(auth);
  CountingObserver observer;
  Admission::Settings settings;
  settings.observer = &observer;
  Admission admission(settings, auth->get());
  HttpRequest request{http::verb::get, "/api/whoami", 11};
  RequestContext context{request, "/api/whoami", "", "r", "127.0.0.9:4000", std::nullopt,
                         std::nullopt};
  Admission::Attempt attempt{context, "127.0.0.9", Access::kViewer};

  request.set(http::field::authorization, BasicAuthorization("dave", "dave-pass"));
  auto first = admission.Admit(attempt);
  REQUIRE(std::holds_alternative<VerifyOnPool>(first));
  // The same credentials join the verification in flight.
  auto joined = admission.Admit(attempt);
  REQUIRE(std::holds_alternative<VerifyOnPool>(joined));
  CHECK(std::get<VerifyOnPool>(joined).ticket == std::get<VerifyOnPool>(first).ticket);
  // Others are refused at once: one verification at a time.
  request.set(http::field::authorization, BasicAuthorization("vera", "vera-pass"));
  auto other = admission.Admit(attempt);
  REQUIRE(std::holds_alternative<Denied>(other));
  CHECK(std::get<Denied>(other).status == http::status::too_many_requests);
  CHECK(observer.refused[Refusal::kSigninBusy] == 1);

  request.set(http::field::authorization, BasicAuthorization("dave", "dave-pass"));
  Decision verified = admission.Verify(attempt, std::get<VerifyOnPool>(first));
  REQUIRE(std::holds_alternative<Allowed>(verified));
  CHECK(std::get<Allowed>(verified).caller->name == "dave");
  // Verified: dave is remembered, and the place is free for vera.
  auto remembered = admission.Admit(attempt);
  REQUIRE(std::holds_alternative<Allowed>(remembered));
  CHECK(std::get<Allowed>(remembered).caller->role == Role::kDeveloper);
  request.set(http::field::authorization, BasicAuthorization("vera", "vera-pass"));
  CHECK(std::holds_alternative<VerifyOnPool>(admission.Admit(attempt)));
}

}  // namespace market::server::testing
