#include "hit_records.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <random>
#include <type_traits>


namespace outboxd::loadgen {
namespace {

// Sizes of the fixed prefix the payload follows, for the padding target:
// {"id":"bench-1234567","company_id":1234,"event_type":"hit","occurred_at":"...Z",
constexpr size_t kPrefixEstimate = 100;

// Already JSON-escaped string literals (no quotes around them).
constexpr std::array<std::string_view, 10> kDomains = {
    "shop.example.com",     "api.example.com",       "login.example.org",
    "cdn.example.net",      "admin.example.com",     "m.example.com",
    "payments.example.io",  "graphql.example.com",   "files.example.org",
    "partners.example.net"};
constexpr std::array<std::string_view, 5> kMethods = {"GET", "POST", "PUT", "DELETE", "PATCH"};
constexpr std::array<std::string_view, 10> kPaths = {
    "/api/v1/users/", "/search",        "/login",           "/api/v2/orders/",
    "/static/js/",    "/admin/config",  "/graphql",         "/v1/files/",
    "/wp-login.php",  "/api/v1/payments/"};
struct Attack {
  std::string_view type;
  std::string_view payload;  // JSON-escaped
  std::string_view point;    // a JSON array
};
constexpr std::array<Attack, 12> kAttacks = {{
    {"sqli", "' OR 1=1 --", R"(["post","json_doc","hash","login"])"},
    {"sqli", "1 UNION SELECT username, password FROM users", R"(["get","id"])"},
    {"xss", "<script>alert(document.cookie)</script>", R"(["get","q"])"},
    {"xss", "\\\"><img src=x onerror=alert(1)>", R"(["post","form_urlencoded","comment"])"},
    {"rce", "; cat /etc/passwd", R"(["post","json_doc","hash","cmd"])"},
    {"ptrav", "../../../../etc/shadow", R"(["uri","path"])"},
    {"crlf", "%0d%0aSet-Cookie: session=attacker", R"(["header","X-FORWARDED-FOR"])"},
    {"nosqli", "{\\\"$ne\\\": null}", R"(["post","json_doc","hash","password"])"},
    {"xxe", "<!DOCTYPE x [<!ENTITY e SYSTEM \\\"file:///etc/hosts\\\">]>", R"(["post","xml"])"},
    {"ssrf", "http://169.254.169.254/latest/meta-data/", R"(["get","url"])"},
    {"ldapi", "*)(uid=*))(|(uid=*", R"(["get","user"])"},
    {"scanner", "/.git/config", R"(["uri"])"},
}};
constexpr std::array<std::string_view, 3> kBlockStatus = {"blocked", "monitored", "passed"};
constexpr std::array<std::string_view, 8> kCountries = {"DE", "US", "CN", "RU", "BR", "NL",
                                                        "FR", "IN"};
constexpr std::array<std::string_view, 5> kAgents = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "curl/8.4.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "python-requests/2.31.0"};
constexpr std::string_view kFiller =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Appends each piece: strings as they are, integers in decimal.
void Put(std::string* out) {}
template <typename T, typename... Rest>
void Put(std::string* out, const T& first, const Rest&... rest) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, char>) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, first);
    out->append(digits, end);
  } else {
    out->append(std::string_view(first));
  }
  Put(out, rest...);
}

template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  Put(&out, parts...);
  return out;
}

template <size_t N>
std::string_view Pick(const std::array<std::string_view, N>& a, std::mt19937_64& rng) {
  return a[rng() % N];
}

std::string Hex(std::mt19937_64& rng, size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(digits, '0');
  for (char& c : out) c = kHex[rng() % 16];
  return out;
}

std::string Uuid(std::mt19937_64& rng) {
  return Cat(Hex(rng, 8), "-", Hex(rng, 4), "-4", Hex(rng, 3), "-a", Hex(rng, 3), "-",
                      Hex(rng, 12));
}

// The fields after the prefix, ending with '}', about `target` bytes long.
std::string MakePayload(std::mt19937_64& rng, size_t target) {
  const Attack& attack = kAttacks[rng() % kAttacks.size()];
  std::string out = Cat(
      "\"domain\":\"", Pick(kDomains, rng), "\",\"method\":\"", Pick(kMethods, rng),
      "\",\"path\":\"", Pick(kPaths, rng), rng() % 100000, "\",\"type\":\"", attack.type,
      "\",\"payloads\":[\"", attack.payload, "\"],\"point\":", attack.point,
      ",\"block_status\":\"", Pick(kBlockStatus, rng), "\",\"remote_addr4\":\"",
      rng() % 223 + 1, ".", rng() % 256, ".", rng() % 256, ".", rng() % 254 + 1,
      "\",\"remote_port\":", 1024 + rng() % 64000, ",\"remote_country\":\"",
      Pick(kCountries, rng), "\",\"response_status\":", (rng() % 2) ? 403 : 200,
      ",\"response_time\":", rng() % 2000, ",\"response_len\":", rng() % 100000,
      ",\"request_id\":\"", Hex(rng, 32), "\",\"attack_id\":\"", Uuid(rng),
      "\",\"hit_id\":\"", Uuid(rng), "\",\"node_uuid\":\"", Uuid(rng),
      "\",\"application_id\":", rng() % 50, ",\"poolid\":", rng() % 20,
      ",\"known_attack\":", (rng() % 4 == 0) ? "true" : "false", ",\"user_agent\":\"",
      Pick(kAgents, rng), "\"");
  // Pad with a request excerpt to the target, give or take 15%.
  const size_t jitter = target / 7;
  const size_t want = target - jitter + rng() % (2 * jitter + 1);
  const size_t fixed = kPrefixEstimate + out.size() + std::string_view(",\"excerpt\":\"\"}").size();
  out += ",\"excerpt\":\"";
  for (size_t i = fixed; i < want; ++i) out.push_back(kFiller[rng() % kFiller.size()]);
  out += "\"}";
  return out;
}

}  // namespace

HitRecords::HitRecords(const HitRecordOptions& options) : options_(options) {
  if (options_.companies == 0) options_.companies = 1;
  if (options_.variants == 0) options_.variants = 1;
  std::mt19937_64 rng(options_.seed);
  payloads_.reserve(options_.variants);
  for (size_t i = 0; i < options_.variants; ++i) {
    payloads_.push_back(MakePayload(rng, options_.target_bytes));
  }
}

std::string HitRecords::Id(uint64_t sequence) const {
  return Cat(options_.id_prefix, "-", sequence);
}

void HitRecords::Append(uint64_t sequence, std::string_view occurred_at,
                        std::string* out) const {
  Put(out, "{\"id\":\"", options_.id_prefix, "-", sequence,
                  "\",\"company_id\":", CompanyOf(sequence),
                  ",\"event_type\":\"hit\",\"occurred_at\":\"", occurred_at, "\",",
                  payloads_[sequence % payloads_.size()]);
}

std::string Rfc3339Millis(int64_t unix_ms) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buffer[64];
  snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           static_cast<int>(unix_ms % 1000));
  return buffer;
}

}  // namespace outboxd::loadgen
