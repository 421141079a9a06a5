// SharedBytes: immutable bytes that share their storage. Copying one copies a
// pointer and a reference count, never the bytes.
//
// A delivery's event lives in one of these. Read back from RocksDB it owns a
// buffer of its own; handed out fresh (docs/storage.md) it points into the
// WriteBatch that stored it, so the events of one ingest request share that
// batch instead of being copied and freed one by one. The storage lives until
// the last SharedBytes referring to it is gone.
//
//   SharedBytes a = std::string(R"({"id":"e1"})");   // owns a copy
//   SharedBytes b = a;                                // same bytes, no copy
//   std::string_view v = b;                           // valid while b lives
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace outboxd {

class SharedBytes {
 public:
  SharedBytes() = default;
  // A copy of `bytes` in a buffer of its own (one allocation).
  SharedBytes(std::string_view bytes) { Assign(bytes); }    // NOLINT: implicit
  SharedBytes(const std::string& bytes) { Assign(bytes); }  // NOLINT: implicit
  SharedBytes(const char* bytes) { Assign(bytes); }         // NOLINT: implicit
  // `bytes` inside storage that `owner` keeps alive.
  SharedBytes(std::shared_ptr<const void> owner, std::string_view bytes)
      : owner_(std::move(owner)), data_(bytes.data()), size_(bytes.size()) {}

  std::string_view view() const { return {data_, size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: implicit
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Whether both keep the same storage alive (false for two empty ones).
  bool SharesStorageWith(const SharedBytes& other) const {
    return owner_ != nullptr && !owner_.owner_before(other.owner_) &&
           !other.owner_.owner_before(owner_);
  }

  friend bool operator==(const SharedBytes& a, const SharedBytes& b) {
    return a.view() == b.view();
  }
  // Any string-like right-hand side, matched exactly (a `std::string_view`
  // parameter would be as good a match as converting it to SharedBytes).
  template <typename T>
  requires std::is_convertible_v<const T&, std::string_view>
  friend bool operator==(const SharedBytes& a, const T& b) {
    return a.view() == std::string_view(b);
  }
  friend std::ostream& operator<<(std::ostream& os, const SharedBytes& b) {
    return os << b.view();
  }

 private:
  void Assign(std::string_view bytes) {
    size_ = bytes.size();
    if (size_ == 0) return;
    std::shared_ptr<char[]> buffer = std::make_shared_for_overwrite<char[]>(size_);
    bytes.copy(buffer.get(), size_);
    data_ = buffer.get();
    owner_ = std::move(buffer);
  }

  std::shared_ptr<const void> owner_;
  const char* data_ = "";
  size_t size_ = 0;
};

}  // namespace outboxd
