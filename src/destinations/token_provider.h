// Bearer tokens from Microsoft Entra ID with the OAuth 2.0 client
// credentials grant, for the Logs Ingestion API (sentinel_dcr).
//
//   POST <authority>/<tenant>/oauth2/v2.0/token
//   grant_type=client_credentials&client_id=..&client_secret=..&scope=..
//   -> 200 {"token_type":"Bearer","expires_in":3599,"access_token":"..."}
//
// A provider caches its token and refreshes it ahead of expiry; it runs at
// most one token request at a time, and requests that need a token while one
// is being fetched wait for that one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "outboxd/clock.h"
#include "outboxd/integration.h"
#include "outboxd/transport.h"

namespace outboxd {

// Every token error's message starts with this, so that a failed request
// whose request could not be built can be told apart from one with no answer.
inline constexpr char kTokenRequestFailed[] = "token request failed";

// Who asks for a token, and where.
struct TokenCredential {
  std::string token_url;  // https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
  std::string client_id;
  std::string client_secret;
  std::string scope;  // https://monitor.azure.com//.default

  bool operator==(const TokenCredential&) const = default;
};

// The credential of a sentinel_dcr config: the authority is config.authority
// when set, else the cloud's (public login.microsoftonline.com, usgov
// login.microsoftonline.us, china login.chinacloudapi.cn); the scope is the
// cloud's Azure Monitor audience (monitor.azure.com / .us / .cn).
// InvalidArgument for an unknown cloud or an empty tenant or client ID.
absl::StatusOr<TokenCredential> DcrTokenCredential(const IntegrationConfig& config);

// application/x-www-form-urlencoded body of the client credentials grant.
std::string TokenRequestBody(const TokenCredential& credential);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(std::string_view text);

struct TokenProviderOptions {
  // A token is refreshed once this much of its lifetime is left: the
  // smaller of refresh_ahead_ms and a tenth of the lifetime. Until it is
  // nearly expired (stale_margin_ms, or a twentieth of the lifetime, left)
  // the old token is still handed out while the new one is fetched.
  TimeMs refresh_ahead_ms = 5 * kMinuteMs;
  TimeMs stale_margin_ms = 30 * kSecondMs;
  // After a failed background refresh, the next one waits this long (the
  // cached token is still good; a failing token endpoint is not hammered).
  TimeMs refresh_backoff_ms = 10 * kSecondMs;
  TimeMs request_timeout_ms = 30 * kSecondMs;
};

// Not thread-safe: every call, and every callback, is on the transport's
// loop thread (like the dispatcher). Keep it in a shared_ptr: a token request
// in flight holds the provider until it completes, so its waiters are always
// answered even when the destination that asked is gone.
//
// Example:
//   auto tokens = TokenProvider::Create(transport, clock, *credential, {});
//   tokens->GetToken([](absl::StatusOr<std::string> token) { ... });
class TokenProvider : public std::enable_shared_from_this<TokenProvider> {
 public:
  using Callback = std::function<void(absl::StatusOr<std::string>)>;

  static std::shared_ptr<TokenProvider> Create(Transport* transport, Clock* clock,
                                               TokenCredential credential,
                                               TokenProviderOptions options);

  // Calls `done` with the access token: inside the call when a usable token
  // is cached, else when the token request completes. Errors (the token
  // endpoint's answer, e.g. "401 invalid_client: AADSTS7000215 ..."):
  // Unauthenticated for a 400/401/403 answer, Unavailable for any other
  // answer or none. A failure is not cached: the next call asks again.
  void GetToken(Callback done);

  // Drops the cached token if it was obtained at or before `sent_ms` (a 401
  // for a request sent then means the token was refused); a token fetched
  // after that request was sent is kept.
  void Invalidate(TimeMs sent_ms);

  const TokenCredential& credential() const { return credential_; }
  // Token requests sent so far (for tests and metrics).
  uint64_t fetches() const { return fetches_; }
  bool fetching() const { return fetching_; }

 private:
  struct Token {
    std::string value;
    TimeMs obtained_ms = 0;
    TimeMs refresh_ms = 0;  // fetch a new one from here on
    TimeMs stale_ms = 0;    // do not hand it out from here on
  };

  TokenProvider(Transport* transport, Clock* clock, TokenCredential credential,
                TokenProviderOptions options);
  void Fetch();
  void OnAnswer(TimeMs sent_ms, const HttpResponse& response);
  Token MakeToken(std::string value, TimeMs lifetime_ms, TimeMs sent_ms) const;

  Transport* const transport_;
  Clock* const clock_;
  const TokenCredential credential_;
  const TokenProviderOptions options_;
  std::optional<Token> token_;
  bool fetching_ = false;
  TimeMs next_background_ms_ = 0;
  uint64_t fetches_ = 0;
  std::vector<Callback> waiters_;
};

// One TokenProvider per credential, shared by every destination that uses
// it (an integration's main and notice lanes, integrations of one app
// registration). Loop thread only, like the providers.
class TokenProviders {
 public:
  TokenProviders(Transport* transport, Clock* clock, TokenProviderOptions options = {})
      : transport_(transport), clock_(clock), options_(options) {}

  // The provider of `credential`, made on first use; kept while any holder
  // keeps it.
  std::shared_ptr<TokenProvider> Get(const TokenCredential& credential);

 private:
  Transport* const transport_;
  Clock* const clock_;
  const TokenProviderOptions options_;
  // By the credential's fields joined with '\n' (a separator none contains).
  absl::flat_hash_map<std::string, std::weak_ptr<TokenProvider>> providers_;
};

}  // namespace outboxd
