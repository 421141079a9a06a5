#include "destinations/token_provider.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace outboxd {
namespace {

struct CloudAuth {
  std::string_view cloud;
  std::string_view authority;
  std::string_view scope;
};
// The Entra ID authority and the Azure Monitor audience per cloud; "" is
// public, as for the sentinel destination.
constexpr std::array<CloudAuth, 4> kCloudAuth = {{
    {"", "https://login.microsoftonline.com", "https://monitor.azure.com//.default"},
    {"public", "https://login.microsoftonline.com", "https://monitor.azure.com//.default"},
    {"usgov", "https://login.microsoftonline.us", "https://monitor.azure.us//.default"},
    {"china", "https://login.chinacloudapi.cn", "https://monitor.azure.cn//.default"},
}};

// Token answers are small; a larger body is not one.
constexpr size_t kMaxAnswerBytes = 64 * 1024;
// How much of error_description goes into a status message: Entra's carry
// trace and correlation IDs after the useful first sentence.
constexpr size_t kMaxDescriptionBytes = 300;

struct TokenAnswer {
  std::string access_token;
  std::optional<TimeMs> expires_in_ms;
  std::string error;
  std::string error_description;
};

// expires_in is a number in v2.0 answers and a string in some v1 ones.
std::optional<TimeMs> ReadSeconds(simdjson::ondemand::value value) {
  int64_t seconds = 0;
  std::string_view text;
  if (value.get_int64().get(seconds) != simdjson::SUCCESS) {
    if (value.get_string().get(text) != simdjson::SUCCESS || text.empty()) return std::nullopt;
    seconds = 0;
    for (char c : text) {
      if (c < '0' || c > '9' || seconds > 1'000'000'000) return std::nullopt;
      seconds = seconds * 10 + (c - '0');
    }
  }
  if (seconds <= 0) return std::nullopt;
  return seconds * kSecondMs;
}

TokenAnswer ParseTokenAnswer(std::string_view body) {
  TokenAnswer out;
  if (body.empty() || body.size() > kMaxAnswerBytes) return out;
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return out;
  }
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) break;
    simdjson::ondemand::value value;
    if (field.value().get(value) != simdjson::SUCCESS) break;
    std::string_view text;
    if (key == "expires_in") {
      out.expires_in_ms = ReadSeconds(value);
    } else if (key == "access_token" && value.get_string().get(text) == simdjson::SUCCESS) {
      out.access_token.assign(text);
    } else if (key == "error" && value.get_string().get(text) == simdjson::SUCCESS) {
      out.error.assign(text);
    } else if (key == "error_description" &&
               value.get_string().get(text) == simdjson::SUCCESS) {
      out.error_description.assign(text.substr(0, kMaxDescriptionBytes));
    }
  }
  return out;
}

// Printable ASCII only, so that the text can go into logs and JSON as it is.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, kMaxDescriptionBytes));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = ' ';
  }
  return out;
}

absl::Status TokenError(const HttpResponse& response, const TokenAnswer& answer) {
  if (response.status == 0) {
    return absl::UnavailableError(absl::StrCat(
        kTokenRequestFailed, ": ", response.timed_out ? "timeout" : "no answer",
        response.transport_error.empty() ? "" : ": ", Printable(response.transport_error)));
  }
  std::string message = absl::StrCat(kTokenRequestFailed, ": ", response.status);
  if (!answer.error.empty()) absl::StrAppend(&message, " ", Printable(answer.error));
  if (!answer.error_description.empty()) {
    absl::StrAppend(&message, ": ", Printable(answer.error_description));
  } else if (response.ok()) {
    absl::StrAppend(&message, ": the answer has no access_token and expires_in");
  }
  const bool refused = response.status == 400 || response.status == 401 ||
                       response.status == 403;
  return refused ? absl::UnauthenticatedError(message) : absl::UnavailableError(message);
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

std::string_view TrimSlashes(std::string_view s) {
  while (s.ends_with('/')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(c);
      continue;
    }
    const auto b = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

absl::StatusOr<TokenCredential> DcrTokenCredential(const IntegrationConfig& config) {
  if (config.tenant_id.empty()) return absl::InvalidArgumentError("tenant_id is required");
  if (config.client_id.empty()) return absl::InvalidArgumentError("client_id is required");
  const auto cloud = std::find_if(kCloudAuth.begin(), kCloudAuth.end(),
                                  [&](const CloudAuth& c) { return c.cloud == config.cloud; });
  if (cloud == kCloudAuth.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown cloud \"", config.cloud, "\" (public, usgov or china)"));
  }
  // Debian's abseil has its own string_view type: convert for StrCat.
  const std::string_view trimmed =
      config.authority.empty() ? cloud->authority : TrimSlashes(config.authority);
  const absl::string_view authority(trimmed.data(), trimmed.size());
  TokenCredential credential;
  credential.token_url =
      absl::StrCat(authority, "/", UrlEncode(config.tenant_id), "/oauth2/v2.0/token");
  credential.client_id = config.client_id;
  credential.client_secret = config.client_secret;
  credential.scope = std::string(cloud->scope);
  return credential;
}

std::string TokenRequestBody(const TokenCredential& credential) {
  return absl::StrCat("grant_type=client_credentials&client_id=",
                      UrlEncode(credential.client_id),
                      "&client_secret=", UrlEncode(credential.client_secret),
                      "&scope=", UrlEncode(credential.scope));
}

std::shared_ptr<TokenProvider> TokenProvider::Create(Transport* transport, Clock* clock,
                                                     TokenCredential credential,
                                                     TokenProviderOptions options) {
  return std::shared_ptr<TokenProvider>(
      new TokenProvider(transport, clock, std::move(credential), options));
}

TokenProvider::TokenProvider(Transport* transport, Clock* clock, TokenCredential credential,
                             TokenProviderOptions options)
    : transport_(transport),
      clock_(clock),
      credential_(std::move(credential)),
      options_(options) {}

void TokenProvider::GetToken(Callback done) {
  const TimeMs now = clock_->NowMs();
  if (token_.has_value() && now < token_->stale_ms) {
    // Refresh ahead: the cached token still serves while a new one is
    // fetched, so no request waits for a routine refresh.
    if (now >= token_->refresh_ms && !fetching_ && now >= next_background_ms_) Fetch();
    done(token_->value);
    return;
  }
  waiters_.push_back(std::move(done));
  if (!fetching_) Fetch();
}

void TokenProvider::Invalidate(TimeMs sent_ms) {
  if (token_.has_value() && token_->obtained_ms <= sent_ms) token_.reset();
}

void TokenProvider::Fetch() {
  fetching_ = true;
  ++fetches_;
  HttpRequest request;
  request.method = "POST";
  request.url = credential_.token_url;
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  request.headers.emplace_back("Accept", "application/json");
  request.body = TokenRequestBody(credential_);
  request.timeout_ms = options_.request_timeout_ms;
  const TimeMs sent_ms = clock_->NowMs();
  transport_->Send(std::move(request), [self = shared_from_this(), sent_ms](
                                           HttpResponse response) {
    self->OnAnswer(sent_ms, response);
  });
}

TokenProvider::Token TokenProvider::MakeToken(std::string value, TimeMs lifetime_ms,
                                              TimeMs sent_ms) const {
  // The lifetime counts from when the token was asked for: the answer may
  // have taken a while to arrive.
  Token token;
  token.value = std::move(value);
  token.obtained_ms = clock_->NowMs();
  const TimeMs expires_ms = sent_ms + lifetime_ms;
  token.refresh_ms = expires_ms - std::min(options_.refresh_ahead_ms, lifetime_ms / 10);
  token.stale_ms = expires_ms - std::min(options_.stale_margin_ms, lifetime_ms / 20);
  return token;
}

void TokenProvider::OnAnswer(TimeMs sent_ms, const HttpResponse& response) {
  fetching_ = false;
  const TokenAnswer answer =
      response.status == 0 ? TokenAnswer{} : ParseTokenAnswer(response.body);
  absl::StatusOr<std::string> result;
  if (response.ok() && !answer.access_token.empty() && answer.expires_in_ms.has_value()) {
    token_ = MakeToken(answer.access_token, *answer.expires_in_ms, sent_ms);
    next_background_ms_ = 0;
    result = token_->value;
  } else {
    next_background_ms_ = clock_->NowMs() + options_.refresh_backoff_ms;
    result = TokenError(response, answer);
  }
  // A waiter may ask for a token again (or drop the last other holder of
  // this provider): answer a detached list.
  std::vector<Callback> waiters;
  waiters.swap(waiters_);
  for (Callback& waiter : waiters) waiter(result);
}

std::shared_ptr<TokenProvider> TokenProviders::Get(const TokenCredential& credential) {
  std::string key = absl::StrCat(credential.token_url, "\n", credential.client_id, "\n",
                                 credential.client_secret, "\n", credential.scope);
  auto it = providers_.find(key);
  if (it != providers_.end()) {
    if (std::shared_ptr<TokenProvider> provider = it->second.lock()) return provider;
  }
  for (auto stale = providers_.begin(); stale != providers_.end();) {
    if (stale->second.expired()) {
      providers_.erase(stale++);
    } else {
      ++stale;
    }
  }
  std::shared_ptr<TokenProvider> provider =
      TokenProvider::Create(transport_, clock_, credential, options_);
  providers_[key] = provider;
  return provider;
}

}  // namespace outboxd
