#include "api/secret_box.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/absl_compat.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "openssl/rand.h"
#include "outboxd/signer.h"

namespace outboxd {
namespace {

constexpr size_t kMaxKeyFileBytes = 1024;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  const int err = errno;
  return absl::Status(
      err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
      absl::StrCat(ToAbsl(what), " ", path, ": ", std::strerror(err)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("cannot write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) return ErrnoStatus("cannot fsync", dir);
  return absl::OkStatus();
}

// Writes a new random key to `path` without ever replacing an existing file.
absl::Status CreateKeyFile(const std::string& path) {
  unsigned char key[SecretBox::kKeyBytes];
  if (RAND_bytes(key, sizeof(key)) != 1) return absl::InternalError("RAND_bytes failed");
  std::string text =
      Base64Encode(std::string_view(reinterpret_cast<char*>(key), sizeof(key)));
  OPENSSL_cleanse(key, sizeof(key));
  text.push_back('\n');

  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());  // a leftover of a crashed earlier attempt
  absl::Status status;
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoStatus("cannot create", tmp);
    status = WriteAll(fd.get(), text, tmp);
    if (status.ok() && ::fchmod(fd.get(), 0600) != 0)
      status = ErrnoStatus("cannot chmod", tmp);
    if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoStatus("cannot fsync", tmp);
  }
  OPENSSL_cleanse(text.data(), text.size());
  // link() fails with EEXIST instead of replacing a key another process
  // created meanwhile; that key is then the one loaded.
  if (status.ok() && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    status = ErrnoStatus("cannot link key file", path);
  }
  ::unlink(tmp.c_str());
  if (!status.ok()) return status;
  return SyncDirectoryOf(path);
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("cannot open key file", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key file ", path, " is accessible by group or others (mode ",
        absl::StrFormat("%04o", st.st_mode & 07777), "); run: chmod 600 ", path));
  }
  std::string text(kMaxKeyFileBytes, '\0');
  size_t len = 0;
  while (len < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read", path);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  text.resize(len);
  absl::StatusOr<std::string> key = Base64Decode(ToStd(absl::StripAsciiWhitespace(text)));
  OPENSSL_cleanse(text.data(), text.size());
  if (!key.ok() || key->size() != SecretBox::kKeyBytes) {
    return absl::DataLossError(
        absl::StrCat("key file ", path, " must hold the base64 text of 32 bytes"));
  }
  return key;
}

}  // namespace

absl::StatusOr<SecretBox> SecretBox::LoadOrCreate(const std::string& path) {
  absl::StatusOr<std::string> key = ReadKeyFile(path);
  if (absl::IsNotFound(key.status())) {
    if (absl::Status created = CreateKeyFile(path); !created.ok()) return created;
    key = ReadKeyFile(path);
  }
  if (!key.ok()) return key.status();
  return SecretBox(*std::move(key));
}

absl::StatusOr<SecretBox> SecretBox::FromKey(std::string_view key) {
  if (key.size() != kKeyBytes) {
    return absl::InvalidArgumentError("an AES-256 key has 32 bytes");
  }
  return SecretBox(std::string(key));
}

SecretBox::SecretBox(SecretBox&& other) noexcept : key_(std::move(other.key_)) {
  other.key_.clear();
}

SecretBox& SecretBox::operator=(SecretBox&& other) noexcept {
  if (this != &other) {
    OPENSSL_cleanse(key_.data(), key_.size());
    key_ = std::move(other.key_);
    other.key_.clear();
  }
  return *this;
}

SecretBox::~SecretBox() { OPENSSL_cleanse(key_.data(), key_.size()); }

absl::StatusOr<std::string> SecretBox::Seal(std::string_view plaintext,
                                            std::string_view associated_data) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  auto* cipher = nonce + kNonceBytes;
  const auto* key = reinterpret_cast<const unsigned char*>(key_.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool ok =
      ctx != nullptr && RAND_bytes(nonce, kNonceBytes) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key, nonce) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(associated_data.data()),
                        static_cast<int>(associated_data.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), cipher, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), cipher + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          cipher + plaintext.size()) == 1;
  if (!ok) return absl::InternalError("AES-256-GCM encryption failed");
  return out;
}

absl::StatusOr<std::string> SecretBox::Open(std::string_view sealed,
                                            std::string_view associated_data) const {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError("sealed secret is truncated");
  }
  const size_t text_len = sealed.size() - kNonceBytes - kTagBytes;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const auto* cipher = nonce + kNonceBytes;
  std::string tag(sealed.substr(kNonceBytes + text_len));
  std::string out(text_len, '\0');
  auto* plain = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()),
                         nonce) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(associated_data.data()),
                        static_cast<int>(associated_data.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), plain, &len, cipher, static_cast<int>(text_len)) ==
          1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), plain + len, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return absl::DataLossError(
        "sealed secret does not open: wrong key, wrong field or integration, or "
        "tampered");
  }
  return out;
}

std::string SecretAssociatedData(std::string_view field, uint64_t integration_id) {
  return absl::StrCat(ToAbsl(field), "/", integration_id);
}

}  // namespace outboxd
