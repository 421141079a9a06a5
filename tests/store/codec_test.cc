// Key and value codecs, merge operators.

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "rocksdb/merge_operator.h"
#include "store/coding.h"
#include "store/keys.h"
#include "store/merge_operators.h"
#include "store/values.h"

namespace outboxd::store_internal {
namespace {

std::string Hex(std::string_view s) {
  return absl::BytesToHexString(absl::string_view(s.data(), s.size()));
}

TEST(KeysTest, OutboxKeyIsBigEndianTuple) {
  // python3 -c "import struct;print(struct.pack('>QQQ',0x0102030405060708,
  //   1700000000000,42).hex())"
  EXPECT_EQ(Hex(OutboxKey(DeliveryKey{0x0102030405060708, 1700000000000, 42})),
            "01020304050607080000018bcfe56800000000000000002a");
}

TEST(KeysTest, EncodeOutboxKeyWritesTheSameBytes) {
  const DeliveryKey key{0x0102030405060708, 1700000000000, 42};
  char buf[kOutboxKeySize + 1];
  buf[kOutboxKeySize] = '#';  // must stay untouched
  EncodeOutboxKey(key, buf);
  EXPECT_EQ(std::string(buf, kOutboxKeySize), OutboxKey(key));
  EXPECT_EQ(buf[kOutboxKeySize], '#');
}

TEST(KeysTest, OutboxKeyRoundTripsAndRejectsOtherSizes) {
  const DeliveryKey key{UINT64_MAX, INT64_MAX, UINT64_MAX - 1};
  EXPECT_EQ(ParseOutboxKey(OutboxKey(key)), key);
  EXPECT_FALSE(ParseOutboxKey(OutboxKey(key).substr(1)).has_value());
  EXPECT_FALSE(ParseOutboxKey(OutboxKey(key) + "x").has_value());
  // A due time with the top bit set cannot come from the encoder.
  EXPECT_FALSE(ParseOutboxKey(std::string(24, '\xff')).has_value());
}

TEST(KeysTest, NegativeTimesAreStoredAsZero) {
  EXPECT_EQ(ParseOutboxKey(OutboxKey(7, OutboxPos{-5, 3}))->due_ms, 0);
  EXPECT_EQ(ParsePairKey(TimePairKey(7, -60))->second, 0u);
}

TEST(KeysTest, ByteOrderEqualsTupleOrder) {
  const std::vector<uint64_t> edges = {0,
                                       1,
                                       255,
                                       256,
                                       65535,
                                       1ull << 32,
                                       (1ull << 32) + 1,
                                       INT64_MAX,
                                       UINT64_MAX - 1,
                                       UINT64_MAX};
  std::mt19937_64 rng(20240501);
  std::vector<DeliveryKey> keys;
  for (int i = 0; i < 2000; ++i) {
    auto pick = [&](bool time) {
      uint64_t v = (rng() % 3 == 0) ? edges[rng() % edges.size()] : rng() >> (rng() % 64);
      return time ? std::min<uint64_t>(v, INT64_MAX) : v;
    };
    keys.push_back({pick(false), static_cast<TimeMs>(pick(true)), pick(false)});
  }
  auto tuple = [](const DeliveryKey& k) {
    return std::tuple(k.integration_id, k.due_ms, k.seq);
  };
  for (size_t i = 1; i < keys.size(); ++i) {
    const DeliveryKey& a = keys[i - 1];
    const DeliveryKey& b = keys[i];
    EXPECT_EQ(OutboxKey(a) < OutboxKey(b), tuple(a) < tuple(b));
    EXPECT_EQ(PairKey(a.integration_id, a.seq) < PairKey(b.integration_id, b.seq),
              std::pair(a.integration_id, a.seq) < std::pair(b.integration_id, b.seq));
  }
}

TEST(KeysTest, PrefixEndSeparatesIntegrations) {
  for (uint64_t id :
       {uint64_t{0}, uint64_t{41}, uint64_t{255}, UINT64_MAX - 1, UINT64_MAX}) {
    const std::string end = IdPrefixEnd(id);
    EXPECT_LT(IdKey(id), end);
    EXPECT_LT(OutboxKey(id, kInfinitePos), end) << id;
    EXPECT_LT(PairKey(id, UINT64_MAX), end) << id;
    if (id != UINT64_MAX) {
      EXPECT_LE(end, OutboxKey(id + 1, kBeginPos)) << id;
    }
  }
  EXPECT_EQ(KeyOwner(OutboxKey(99, OutboxPos{5, 6})), 99u);
  EXPECT_EQ(ParseIdKey(IdKey(12345)), 12345u);
  EXPECT_FALSE(ParseIdKey("1234567").has_value());
}

TEST(KeysTest, SuccessorIsTheNextPosition) {
  EXPECT_EQ(Successor(OutboxPos{5, 7}), (OutboxPos{5, 8}));
  EXPECT_EQ(Successor(OutboxPos{5, UINT64_MAX}), (OutboxPos{6, 0}));
  EXPECT_EQ(Successor(kInfinitePos), kInfinitePos);
  EXPECT_LT((OutboxPos{5, UINT64_MAX}), Successor(OutboxPos{5, UINT64_MAX}));
}

TEST(KeysTest, PairKeyAndQueuedName) {
  auto parts = ParsePairKey(PairKey(3, 1ull << 40));
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->first, 3u);
  EXPECT_EQ(parts->second, 1ull << 40);
  EXPECT_FALSE(ParsePairKey("short").has_value());
  EXPECT_EQ(QueuedCountName(18446744073709551615ull), "q/18446744073709551615");
}

TEST(CodingTest, VarintRoundTripAndRejectsOverlong) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{UINT32_MAX}, UINT64_MAX}) {
    std::string s;
    PutVarint64(&s, v);
    std::string_view in = s;
    uint64_t out = 0;
    ASSERT_TRUE(GetVarint64(&in, &out));
    EXPECT_EQ(out, v);
    EXPECT_TRUE(in.empty());
  }
  std::string_view eleven("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  uint64_t out = 0;
  EXPECT_FALSE(GetVarint64(&eleven, &out));
  std::string_view unterminated("\x80\x80", 2);
  EXPECT_FALSE(GetVarint64(&unterminated, &out));
}

// python3 -c "import struct
// def varint(n):
//   b=b''
//   while n>=0x80: b+=bytes([n&0x7f|0x80]); n>>=7
//   return b+bytes([n])
// lt=b'new_hits'; ev=b'{\"id\":\"a\"}'
// d=varint(300)+struct.pack('<Q',1700000000000)+bytes([len(lt)])+lt+ev
// print(d.hex())
// r=b'max age'
// print((struct.pack('<Q',1700000600000)+varint(len(r))+r
//        +struct.pack('<Q',1700000000500)+d).hex())
// print(struct.pack('<QQ',7,3).hex())"
constexpr char kDeliveryHex[] =
    "ac020068e5cf8b010000086e65775f686974737b226964223a2261227d";
constexpr char kDeadHex[] =
    "c08feecf8b010000076d617820616765f469e5cf8b010000"
    "ac020068e5cf8b010000086e65775f686974737b226964223a2261227d";
constexpr char kStatsHex[] = "07000000000000000300000000000000";

TEST(ValuesTest, DeliveryKnownAnswerAndRoundTrip) {
  std::string value;
  EncodeDeliveryValue(300, 1700000000000, "new_hits", R"({"id":"a"})", &value);
  EXPECT_EQ(Hex(value), kDeliveryHex);
  Delivery d;
  ASSERT_TRUE(DecodeDeliveryValue(value, &d));
  EXPECT_EQ(d.attempts, 300u);
  EXPECT_EQ(d.first_enqueued_ms, 1700000000000);
  EXPECT_EQ(d.log_type, "new_hits");
  EXPECT_EQ(d.event, R"({"id":"a"})");
}

TEST(ValuesTest, DeliveryHeaderIsTheValueWithoutTheEvent) {
  // The store writes header and event as two slices (Changes::Impl::PutDelivery).
  char header[kMaxDeliveryHeaderSize];
  const size_t n = EncodeDeliveryHeader(300, 1700000000000, "new_hits", header);
  EXPECT_EQ(Hex(std::string(header, n) + R"({"id":"a"})"), kDeliveryHex);
  // The largest header fits the bound.
  const std::string long_type(kMaxLogTypeSize, 't');
  EXPECT_EQ(EncodeDeliveryHeader(UINT32_MAX, -1, long_type, header), 5 + 8 + 1 + kMaxLogTypeSize);
  // A caller that let a longer one through still stays inside the buffer.
  char guarded[kMaxDeliveryHeaderSize + 1];
  guarded[kMaxDeliveryHeaderSize] = '#';
  EXPECT_EQ(EncodeDeliveryHeader(UINT32_MAX, -1, long_type + "xx", guarded),
            kMaxDeliveryHeaderSize - 5);
  EXPECT_EQ(guarded[kMaxDeliveryHeaderSize], '#');
}

TEST(ValuesTest, DeliveryEdgeCases) {
  std::string value;
  const std::string long_type(kMaxLogTypeSize, 't');
  const std::string binary("\0\xff\n", 3);
  EncodeDeliveryValue(UINT32_MAX, -1, long_type, binary, &value);
  Delivery d;
  ASSERT_TRUE(DecodeDeliveryValue(value, &d));
  EXPECT_EQ(d.attempts, UINT32_MAX);
  EXPECT_EQ(d.first_enqueued_ms, -1);
  EXPECT_EQ(d.log_type, long_type);
  EXPECT_EQ(d.event, binary);
  // Every truncation that cuts into the header or the log type fails.
  for (size_t n = 0; n < value.size() - binary.size(); ++n) {
    EXPECT_FALSE(DecodeDeliveryValue(std::string_view(value).substr(0, n), &d)) << n;
  }
  // An attempt count above 32 bits is not ours.
  std::string big;
  PutVarint64(&big, uint64_t{UINT32_MAX} + 1);
  big.append(9, '\0');
  EXPECT_FALSE(DecodeDeliveryValue(big, &d));
}

TEST(ValuesTest, DeadKnownAnswerAndRoundTrip) {
  std::string delivery;
  EncodeDeliveryValue(300, 1700000000000, "new_hits", R"({"id":"a"})", &delivery);
  const std::string value =
      EncodeDeadValue(1700000600000, "max age", 1700000000500, delivery);
  EXPECT_EQ(Hex(value), kDeadHex);
  DeadDelivery dead;
  ASSERT_TRUE(DecodeDeadValue(value, &dead));
  EXPECT_EQ(dead.died_ms, 1700000600000);
  EXPECT_EQ(dead.reason, "max age");
  EXPECT_EQ(dead.delivery.key.due_ms, 1700000000500);
  EXPECT_EQ(dead.delivery.attempts, 300u);
  EXPECT_EQ(dead.delivery.log_type, "new_hits");
  EXPECT_EQ(dead.delivery.event, R"({"id":"a"})");
  for (size_t n = 0; n < 8 + 1 + 7 + 8 + 2 + 8 + 1 + 8; ++n) {
    EXPECT_FALSE(DecodeDeadValue(std::string_view(value).substr(0, n), &dead)) << n;
  }
}

TEST(ValuesTest, StatsKnownAnswer) {
  EXPECT_EQ(Hex(EncodeStatsValue(7, 3)), kStatsHex);
  uint64_t r = 0;
  uint64_t f = 0;
  ASSERT_TRUE(DecodeStatsValue(EncodeStatsValue(UINT64_MAX, 1), &r, &f));
  EXPECT_EQ(r, UINT64_MAX);
  EXPECT_EQ(f, 1u);
  EXPECT_FALSE(DecodeStatsValue("123456789012345", &r, &f));
}

// Drives an associative operator the way RocksDB does for one operand.
bool MergeOnce(const std::shared_ptr<rocksdb::MergeOperator>& op, std::string_view key,
               const std::string* existing, const std::string& operand,
               std::string* out) {
  auto* assoc = static_cast<rocksdb::AssociativeMergeOperator*>(op.get());
  rocksdb::Slice existing_slice;
  if (existing != nullptr) existing_slice = rocksdb::Slice(*existing);
  return assoc->Merge(rocksdb::Slice(key.data(), key.size()),
                      existing != nullptr ? &existing_slice : nullptr, operand, out,
                      nullptr);
}

TEST(MergeOperatorsTest, QueuedCountAddsSignedDeltas) {
  auto op = NewQueuedCountOperator();
  std::string sum;
  ASSERT_TRUE(MergeOnce(op, "q/1", nullptr, EncodeFixed64(5), &sum));
  std::string next;
  ASSERT_TRUE(
      MergeOnce(op, "q/1", &sum, EncodeFixed64(static_cast<uint64_t>(-7)), &next));
  EXPECT_EQ(static_cast<int64_t>(DecodeFixed64(next.data())), -2);
  EXPECT_FALSE(MergeOnce(op, "other", nullptr, EncodeFixed64(1), &next));
  EXPECT_FALSE(MergeOnce(op, "q/1", nullptr, "1234", &next));
  const std::string bad = "123";
  EXPECT_FALSE(MergeOnce(op, "q/1", &bad, EncodeFixed64(1), &next));
}

TEST(MergeOperatorsTest, PairAddAddsLanes) {
  auto op = NewFixed64PairAddOperator();
  std::string a = EncodeStatsValue(10, 1);
  std::string out;
  ASSERT_TRUE(MergeOnce(op, "k", &a, EncodeStatsValue(5, 4), &out));
  uint64_t r = 0;
  uint64_t f = 0;
  ASSERT_TRUE(DecodeStatsValue(out, &r, &f));
  EXPECT_EQ(r, 15u);
  EXPECT_EQ(f, 5u);
  EXPECT_FALSE(MergeOnce(op, "k", nullptr, EncodeFixed64(1), &out));
  auto counter = NewFixed64AddOperator();
  ASSERT_TRUE(MergeOnce(counter, "any", nullptr, EncodeFixed64(9), &out));
  EXPECT_EQ(DecodeFixed64(out.data()), 9u);
}

}  // namespace
}  // namespace outboxd::store_internal
