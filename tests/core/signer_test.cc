#include "outboxd/signer.h"

#include <string>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string AllBytes(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// RFC 4648 section 10.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    absl::StatusOr<std::string> decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64Test, BinaryVectors) {
  // python3 -c 'import base64; print(base64.b64encode(bytes(range(64))).decode())'
  const std::string kRange64 =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD"
      "0+Pw==";
  EXPECT_EQ(Base64Encode(AllBytes(64)), kRange64);
  EXPECT_EQ(Base64Decode(kRange64).value(), AllBytes(64));
  // python3 -c 'import base64; print(base64.b64encode(bytes([0xfb,0xff])).decode(),
  //   base64.b64encode(bytes(3)).decode(), base64.b64encode(bytes([0xff]*4)).decode())'
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64Encode(std::string(3, '\0')), "AAAA");
  EXPECT_EQ(Base64Encode("\xff\xff\xff\xff"), "/////w==");
  EXPECT_EQ(Base64Decode("+/8=").value(), "\xfb\xff");
  EXPECT_EQ(Base64Decode("/////w==").value(), "\xff\xff\xff\xff");
}

TEST(Base64Test, LargeInputRoundTrips) {
  std::string big(10'000'001, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 9));
  const std::string encoded = Base64Encode(big);
  EXPECT_EQ(encoded.size(), (big.size() + 2) / 3 * 4);
  EXPECT_EQ(Base64Decode(encoded).value(), big);
}

TEST(Base64Test, RejectsMalformedText) {
  for (const char* bad : {
           "Zg",             // length not a multiple of 4
           "Zg=",            // ditto
           "Zm9v\n",         // whitespace
           " Zm9v",          //
           "Zm9v Zg==",      //
           "Zm-v",           // base64url alphabet
           "Zm_v",           //
           "Zg==Zg==",       // padding in the middle
           "=Zg=",           //
           "Z===",           // too much padding
           "====",           //
           "Zh==",           // non-zero padding bits (canonical: Zg==)
           "Zm9=",           // non-zero padding bits (canonical: Zm8=)
           "Zm9v\xc3\xa9=",  // non-ASCII
       }) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << '"' << bad << '"';
  }
  EXPECT_FALSE(Base64Decode(std::string_view("Zm9\0", 4)).ok());
  EXPECT_EQ(Base64Decode("Zh==").status().code(), absl::StatusCode::kInvalidArgument);
}

// RFC 4231 test cases 1 and 2, checked with
//   printf 'Hi There' |
//     openssl dgst -sha256 -mac HMAC -macopt
//     hexkey:0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b
//   printf 'what do ya want for nothing?' | openssl dgst -sha256 -mac HMAC -macopt
//   key:Jefe
TEST(HmacSha256Test, KnownAnswers) {
  EXPECT_EQ(Hex(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Hex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // printf '' | openssl dgst -sha256 -mac HMAC -macopt hexkey:00   (= the empty key)
  EXPECT_EQ(Hex(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(HmacSha256("k", "m").size(), 32u);
}

TEST(SharedKeyTest, StringToSign) {
  EXPECT_EQ(
      SharedKeyStringToSign(1234, "Tue, 14 Nov 2023 22:13:20 GMT"),
      "POST\n1234\napplication/json\nx-ms-date:Tue, 14 Nov 2023 22:13:20 GMT\n/api/logs");
}

// Key = bytes(range(64)); vectors from
//   python3 -c 'import hmac,hashlib,base64; k=bytes(range(64)); n=17;
//     s="POST\n%d\napplication/json\nx-ms-date:Tue, 14 Nov 2023 22:13:20
//     GMT\n/api/logs"%n;
//     print(base64.b64encode(hmac.new(k,s.encode(),hashlib.sha256).digest()).decode())'
// with n = 17, 0 and 30000000.
TEST(SharedKeyTest, SignatureKnownAnswers) {
  const std::string kKey = Base64Encode(AllBytes(64));
  absl::StatusOr<SharedKeySigner> signer =
      SharedKeySigner::Create("7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b", kKey);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string date = "Tue, 14 Nov 2023 22:13:20 GMT";
  EXPECT_EQ(signer->Signature(17, date), "s2RZU5ljQrEo5LLWdR71iuzomDmAc1J0M6Yqetrfqfk=");
  EXPECT_EQ(signer->Signature(0, date), "0IEasOGOC96i7OyUlxqMiaSMQLlPj9zPdogK0zR/4p4=");
  EXPECT_EQ(signer->Signature(30'000'000, date),
            "8VqSOsRhlyj0PZp8BuQHKOK1hcrUbYVzcKirn3HXOqY=");
  EXPECT_EQ(signer->Authorization(17, date),
            "SharedKey 7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b:"
            "s2RZU5ljQrEo5LLWdR71iuzomDmAc1J0M6Yqetrfqfk=");
  EXPECT_EQ(signer->workspace_id(), "7b6f0e2a-5c1d-4f3e-9a8b-0c1d2e3f4a5b");
}

TEST(SharedKeyTest, RejectsBadKeys) {
  EXPECT_EQ(SharedKeySigner::Create("ws", "not base64!").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SharedKeySigner::Create("ws", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// python3 -c 'import email.utils; print(email.utils.formatdate(T, usegmt=True))'
TEST(Rfc1123DateTest, KnownAnswers) {
  const std::pair<TimeMs, const char*> vectors[] = {
      {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
      {784111777'000, "Sun, 06 Nov 1994 08:49:37 GMT"},
      {1700000000'000, "Tue, 14 Nov 2023 22:13:20 GMT"},
      {951782400'000, "Tue, 29 Feb 2000 00:00:00 GMT"},
      {1709251199'000, "Thu, 29 Feb 2024 23:59:59 GMT"},
      {4102444799'000, "Thu, 31 Dec 2099 23:59:59 GMT"},
      {-1'000, "Wed, 31 Dec 1969 23:59:59 GMT"},
  };
  for (const auto& [t, text] : vectors) {
    EXPECT_EQ(Rfc1123Date(t), text);
    absl::StatusOr<TimeMs> parsed = ParseRfc1123Date(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    EXPECT_EQ(*parsed, t) << text;
  }
}

TEST(Rfc1123DateTest, DropsMilliseconds) {
  EXPECT_EQ(Rfc1123Date(1700000000'999), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(Rfc1123Date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(Rfc1123DateTest, RoundTripsEveryDayFor130Years) {
  constexpr TimeMs kDay = 24 * kHourMs;
  // A step that is not a whole day visits every time of day as well.
  for (TimeMs t = 0; t < 4102444800'000; t += kDay + 7 * kSecondMs + 13 * kMinuteMs) {
    const std::string text = Rfc1123Date(t);
    ASSERT_EQ(text.size(), 29u) << text;
    absl::StatusOr<TimeMs> parsed = ParseRfc1123Date(text);
    ASSERT_TRUE(parsed.ok()) << text;
    ASSERT_EQ(*parsed, t - t % kSecondMs) << text;
  }
}

// A leap second is taken as the next second:
//   python3 -c 'import email.utils; print(email.utils.formatdate(1483228800,
//   usegmt=True))'
//   -> Sun, 01 Jan 2017 00:00:00 GMT
TEST(Rfc1123DateTest, AcceptsLeapSecond) {
  EXPECT_EQ(ParseRfc1123Date("Sat, 31 Dec 2016 23:59:60 GMT").value(), 1483228800'000);
}

TEST(Rfc1123DateTest, RejectsOtherText) {
  for (const char* bad : {
           "",
           "Tue, 14 Nov 2023 22:13:20",        // no zone
           "Tue, 14 Nov 2023 22:13:20 UTC",    // not GMT
           "Tue, 14 Nov 2023 22:13:20 gmt",    // case-sensitive
           "tue, 14 Nov 2023 22:13:20 GMT",    //
           "Tue, 14 nov 2023 22:13:20 GMT",    //
           "Wed, 14 Nov 2023 22:13:20 GMT",    // wrong day name
           "Tue, 4 Nov 2023 22:13:20 GMT",     // one-digit day
           "Tue,  14 Nov 2023 22:13:20 GMT",   //
           "Tuesday, 14-Nov-23 22:13:20 GMT",  // RFC 850
           "Tue Nov 14 22:13:20 2023",         // asctime
           "Tue, 14 Nov 2023 24:00:00 GMT",    // hour
           "Tue, 14 Nov 2023 22:60:00 GMT",    // minute
           "Tue, 14 Nov 2023 22:13:61 GMT",    // second
           "Fri, 30 Feb 2024 00:00:00 GMT",    // no such day
           "Thu, 29 Feb 1900 00:00:00 GMT",    // 1900 is not a leap year
           "Mon, 29 Feb 2100 00:00:00 GMT",    // nor 2100
           "Tue, 00 Nov 2023 22:13:20 GMT",    //
           "Tue, 14 Nov 2023 22:13:20 GMT ",   // trailing space
           "Tue, 14 Nov +023 22:13:20 GMT",    //
           "Tue, 1a Nov 2023 22:13:20 GMT",    //
       }) {
    EXPECT_FALSE(ParseRfc1123Date(bad).ok()) << '"' << bad << '"';
  }
}

TEST(ValidateLogTypeTest, Rules) {
  EXPECT_TRUE(ValidateLogType("new_hits").ok());
  EXPECT_TRUE(ValidateLogType("Wallarm_Events_2").ok());
  EXPECT_TRUE(ValidateLogType("_").ok());
  EXPECT_TRUE(ValidateLogType(std::string(100, 'a')).ok());
  EXPECT_EQ(ValidateLogType(std::string(101, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLogType("").code(), absl::StatusCode::kInvalidArgument);
  for (const char* bad :
       {"new-hits", "new hits", "new.hits", "hits\n", "t\xc3\xa9", "a/b", "x;y"}) {
    EXPECT_EQ(ValidateLogType(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateLogType(std::string_view("a\0b", 3)).ok());
}

}  // namespace
}  // namespace outboxd
