#include "api/json_writer.h"

#include <limits>

#include "gtest/gtest.h"

namespace outboxd {
namespace {

TEST(JsonWriterTest, NestsAndSeparates) {
  JsonWriter w;
  w.BeginObject()
      .Key("a")
      .Uint(1)
      .Key("b")
      .BeginArray()
      .Int(-2)
      .Bool(true)
      .Null()
      .EndArray();
  w.Key("c").BeginObject().EndObject().Key("d").Double(0.25).EndObject();
  EXPECT_EQ(w.str(), R"({"a":1,"b":[-2,true,null],"c":{},"d":0.25})");
}

TEST(JsonWriterTest, EscapesStrings) {
  JsonWriter w;
  w.BeginArray().String("q\"b\\n\n\t\x01\x7f").String("caf\xc3\xa9").EndArray();
  EXPECT_EQ(w.str(), "[\"q\\\"b\\\\n\\n\\t\\u0001\\u007f\",\"caf\xc3\xa9\"]");
}

TEST(JsonWriterTest, InvalidUtf8IsEscapedNotPassedThrough) {
  JsonWriter w;
  w.String("a\xff\xc3");
  EXPECT_EQ(w.str(), "\"a\\u00ff\\u00c3\"");
}

TEST(JsonWriterTest, NonFiniteDoubleIsNull) {
  JsonWriter w;
  w.BeginArray().Double(std::numeric_limits<double>::infinity());
  w.Double(std::numeric_limits<double>::quiet_NaN()).EndArray();
  EXPECT_EQ(w.str(), "[null,null]");
}

TEST(JsonWriterTest, AbbreviateCutsOnCharacterBoundary) {
  EXPECT_EQ(Abbreviate("short", 10), "short");
  EXPECT_EQ(Abbreviate("abcdef", 3), "abc...");
  // "é" is two bytes: a cut at 2 would split it, so it backs off to 1.
  EXPECT_EQ(Abbreviate("a\xc3\xa9z", 2), "a...");
}

}  // namespace
}  // namespace outboxd
