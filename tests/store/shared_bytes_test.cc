// SharedBytes: the event bytes of a Delivery, shared instead of copied.

#include "outboxd/shared_bytes.h"

#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

TEST(SharedBytesTest, CopiesShareTheBytes) {
  const SharedBytes a = std::string(R"({"id":"e1"})");
  const SharedBytes b = a;
  EXPECT_EQ(b.data(), a.data());
  EXPECT_TRUE(b.SharesStorageWith(a));
  EXPECT_FALSE(b.SharesStorageWith(SharedBytes(std::string(R"({"id":"e1"})"))));
  EXPECT_EQ(b, R"({"id":"e1"})");
  EXPECT_EQ(b.size(), 11u);
}

TEST(SharedBytesTest, OwnsACopyOfWhatItWasMadeFrom) {
  std::string text = "abc";
  const SharedBytes bytes = text;
  text[0] = 'x';
  EXPECT_EQ(bytes, "abc");
  EXPECT_NE(bytes.data(), text.data());
}

TEST(SharedBytesTest, KeepsItsOwnerAlive) {
  auto owner = std::make_shared<std::string>("header|event|trailer");
  std::weak_ptr<std::string> watch = owner;
  const SharedBytes event(owner, std::string_view(*owner).substr(7, 5));
  owner.reset();
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(event, "event");
  {
    const SharedBytes copy = event;
    EXPECT_EQ(copy.data(), event.data());
  }
  EXPECT_FALSE(watch.expired());
}

TEST(SharedBytesTest, ReleasesItsOwnerWithTheLastCopy) {
  auto owner = std::make_shared<std::string>("bytes");
  std::weak_ptr<std::string> watch = owner;
  auto a = std::make_unique<SharedBytes>(owner, *owner);
  SharedBytes b = *a;
  owner.reset();
  a.reset();
  EXPECT_FALSE(watch.expired());
  b = SharedBytes();
  EXPECT_TRUE(watch.expired());
}

TEST(SharedBytesTest, EmptyAndComparisons) {
  const SharedBytes none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.SharesStorageWith(SharedBytes()));
  EXPECT_NE(none.data(), nullptr);
  EXPECT_EQ(none, "");
  EXPECT_EQ(SharedBytes(""), none);
  const SharedBytes x = "x";
  EXPECT_EQ(x, std::string("x"));
  EXPECT_EQ(x, std::string_view("x"));
  EXPECT_EQ(x, SharedBytes("x"));
  EXPECT_FALSE(x == "y");
  EXPECT_FALSE(x == none);
  std::ostringstream out;
  out << x;
  EXPECT_EQ(out.str(), "x");
}

}  // namespace
}  // namespace outboxd
