#include "ndjson_chunker.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace outboxd::ctl {
namespace {

std::vector<Chunk> ChunkAll(const std::vector<std::string>& pieces, ChunkLimits limits) {
  NdjsonChunker chunker(limits);
  std::vector<Chunk> out;
  for (const std::string& p : pieces) chunker.Add(p, &out);
  chunker.Finish(&out);
  return out;
}

TEST(NdjsonChunkerTest, CutsByLineCount) {
  const std::vector<Chunk> chunks =
      ChunkAll({"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n"}, {2, 1 << 20});
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].body, "{\"a\":1}\n{\"a\":2}\n");
  EXPECT_EQ(chunks[0].first_line, 1u);
  EXPECT_EQ(chunks[1].first_line, 3u);
  EXPECT_EQ(chunks[2].body, "{\"a\":5}\n");
  EXPECT_EQ(chunks[2].first_line, 5u);
  EXPECT_EQ(chunks[2].events, 1u);
}

TEST(NdjsonChunkerTest, CutsByBytesAndKeepsAnOversizedLineWhole) {
  const std::string big(30, 'x');
  const std::vector<Chunk> chunks =
      ChunkAll({"aaaa\nbbbb\n" + big + "\ncc\n"}, {100, 12});
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].body, "aaaa\nbbbb\n");
  EXPECT_EQ(chunks[1].body, big + "\n");
  EXPECT_EQ(chunks[1].first_line, 3u);
  EXPECT_EQ(chunks[2].body, "cc\n");
  EXPECT_EQ(chunks[2].first_line, 4u);
}

TEST(NdjsonChunkerTest, BlankLinesCountForNumberingButNotAsEvents) {
  // Lines: 1 event, 2 blank, 3 blank, 4 spaces, 5 event, 6 blank, 7 event.
  const std::vector<Chunk> chunks = ChunkAll({"e1\n\n\n  \r\ne5\n\ne7\n"}, {2, 1 << 20});
  // The chunk of lines 3-4 holds no event and is not sent.
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].events, 1u);
  EXPECT_EQ(chunks[1].first_line, 5u);
  EXPECT_EQ(chunks[1].body, "e5\n\n");
  EXPECT_EQ(chunks[2].first_line, 7u);
  EXPECT_EQ(FileLine(chunks[2], 1), 7u);
  EXPECT_EQ(FileLine(chunks[1], 2), 6u);
}

TEST(NdjsonChunkerTest, LinesSplitAcrossReadsAndNoFinalNewline) {
  const std::vector<Chunk> chunks =
      ChunkAll({"{\"id\":", "\"a\"}\n{\"i", "d\":\"b\"}"}, {10, 1 << 20});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].body, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
  EXPECT_EQ(chunks[0].events, 2u);
}

TEST(NdjsonChunkerTest, EmptyInputMakesNoChunks) {
  EXPECT_TRUE(ChunkAll({}, {}).empty());
  EXPECT_TRUE(ChunkAll({"\n\n"}, {}).empty());
}

TEST(NdjsonChunkerTest, IsEventLine) {
  EXPECT_TRUE(IsEventLine("{}"));
  EXPECT_TRUE(IsEventLine(" x "));
  EXPECT_FALSE(IsEventLine(""));
  EXPECT_FALSE(IsEventLine(" \t\r"));
}

}  // namespace
}  // namespace outboxd::ctl
