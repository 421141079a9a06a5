#include "api/secret_box.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

SecretBox TestBox(char fill = 'k') {
  return *SecretBox::FromKey(std::string(SecretBox::kKeyBytes, fill));
}

TEST(SecretBoxTest, RoundTrip) {
  const SecretBox box = TestBox();
  for (std::string_view secret :
       {std::string_view(""), std::string_view("p"),
        std::string_view("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")}) {
    absl::StatusOr<std::string> sealed = box.Seal(secret, "primary_key/1");
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->size(),
              SecretBox::kNonceBytes + secret.size() + SecretBox::kTagBytes);
    if (secret.size() >= 8) {  // shorter ones may occur in random bytes by chance
      EXPECT_EQ(sealed->find(secret), std::string::npos);
    }
    absl::StatusOr<std::string> opened = box.Open(*sealed, "primary_key/1");
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, secret);
  }
}

TEST(SecretBoxTest, FreshNonceEveryTime) {
  const SecretBox box = TestBox();
  EXPECT_NE(*box.Seal("same", "ad"), *box.Seal("same", "ad"));
}

TEST(SecretBoxTest, AnyTamperingIsDetected) {
  const SecretBox box = TestBox();
  const std::string sealed = *box.Seal("a secret value", "primary_key/1");
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    absl::StatusOr<std::string> opened = box.Open(bad, "primary_key/1");
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  EXPECT_EQ(box.Open(sealed.substr(0, 27), "primary_key/1").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(box.Open("", "primary_key/1").status().code(), absl::StatusCode::kDataLoss);
}

TEST(SecretBoxTest, WrongAssociatedDataOrKeyFails) {
  const SecretBox box = TestBox();
  const std::string sealed = *box.Seal("v", SecretAssociatedData("primary_key", 1));
  EXPECT_EQ(SecretAssociatedData("primary_key", 1), "primary_key/1");
  EXPECT_FALSE(box.Open(sealed, SecretAssociatedData("primary_key", 2)).ok());
  EXPECT_FALSE(box.Open(sealed, SecretAssociatedData("client_secret", 1)).ok());
  EXPECT_FALSE(TestBox('x').Open(sealed, SecretAssociatedData("primary_key", 1)).ok());
}

TEST(SecretBoxTest, FromKeyNeeds32Bytes) {
  EXPECT_FALSE(SecretBox::FromKey(std::string(31, 'k')).ok());
  EXPECT_FALSE(SecretBox::FromKey(std::string(33, 'k')).ok());
}

class SecretBoxFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "secret_box_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/secret.key";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string ReadFile() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WriteFile(const std::string& content, mode_t mode) {
    std::ofstream(path_, std::ios::binary) << content;
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SecretBoxFileTest, CreatesA0600Base64KeyOnce) {
  absl::StatusOr<SecretBox> first = SecretBox::LoadOrCreate(path_);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const std::string text = ReadFile();
  EXPECT_EQ(text.size(), 45u);  // base64 of 32 bytes + '\n'
  EXPECT_EQ(text.back(), '\n');

  // A second start loads the same key: what one sealed the other opens.
  absl::StatusOr<SecretBox> second = SecretBox::LoadOrCreate(path_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(ReadFile(), text);
  EXPECT_EQ(*second->Open(*first->Seal("v", "ad"), "ad"), "v");
}

TEST_F(SecretBoxFileTest, RefusesAKeyReadableByOthers) {
  ASSERT_TRUE(SecretBox::LoadOrCreate(path_).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
    absl::StatusOr<SecretBox> box = SecretBox::LoadOrCreate(path_);
    EXPECT_EQ(box.status().code(), absl::StatusCode::kFailedPrecondition) << mode;
    EXPECT_NE(box.status().message().find("chmod 600"), std::string::npos);
  }
  ASSERT_EQ(::chmod(path_.c_str(), 0400), 0);
  EXPECT_TRUE(SecretBox::LoadOrCreate(path_).ok());
}

// The key written by `openssl rand -base64 32 > secret.key` is accepted.
TEST_F(SecretBoxFileTest, LoadsAnExistingKeyAndRejectsBadContent) {
  // python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode())'
  WriteFile("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600);
  absl::StatusOr<SecretBox> box = SecretBox::LoadOrCreate(path_);
  ASSERT_TRUE(box.ok()) << box.status();
  std::string raw;
  for (int i = 0; i < 32; ++i) raw.push_back(static_cast<char>(i));
  EXPECT_EQ(*SecretBox::FromKey(raw)->Open(*box->Seal("v", "ad"), "ad"), "v");

  for (const std::string& bad :
       {std::string("short"), std::string(32, 'k'),
        std::string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==")}) {
    WriteFile(bad, 0600);
    EXPECT_EQ(SecretBox::LoadOrCreate(path_).status().code(), absl::StatusCode::kDataLoss)
        << bad;
  }
}

TEST_F(SecretBoxFileTest, MissingDirectoryIsAnError) {
  EXPECT_FALSE(SecretBox::LoadOrCreate(dir_ + "/no/such/dir/key").ok());
}

}  // namespace
}  // namespace outboxd
