#include "store/merge_operators.h"

#include <string>

#include "store/coding.h"
#include "store/keys.h"

namespace outboxd::store_internal {
namespace {

// Adds `lanes` consecutive fixed64 values of operand into existing (absent =
// zeros). False when a value has the wrong size.
bool AddLanes(const rocksdb::Slice* existing, const rocksdb::Slice& operand, size_t lanes,
              std::string* out) {
  const size_t width = 8 * lanes;
  if (operand.size() != width) return false;
  if (existing != nullptr && existing->size() != width) return false;
  out->clear();
  for (size_t i = 0; i < lanes; ++i) {
    uint64_t sum = DecodeFixed64(operand.data() + 8 * i);
    if (existing != nullptr) sum += DecodeFixed64(existing->data() + 8 * i);
    PutFixed64(out, sum);
  }
  return true;
}

class LaneAddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  LaneAddOperator(const char* name, size_t lanes, std::string_view required_prefix)
      : name_(name), lanes_(lanes), required_prefix_(required_prefix) {}

  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    if (!key.starts_with(
            rocksdb::Slice(required_prefix_.data(), required_prefix_.size()))) {
      return false;
    }
    return AddLanes(existing_value, value, lanes_, new_value);
  }

  const char* Name() const override { return name_; }

 private:
  const char* name_;
  const size_t lanes_;
  const std::string_view required_prefix_;
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewFixed64AddOperator() {
  return std::make_shared<LaneAddOperator>("outboxd.Fixed64Add", 1, "");
}

std::shared_ptr<rocksdb::MergeOperator> NewQueuedCountOperator() {
  return std::make_shared<LaneAddOperator>("outboxd.QueuedCountAdd", 1,
                                           kQueuedCountPrefix);
}

std::shared_ptr<rocksdb::MergeOperator> NewFixed64PairAddOperator() {
  return std::make_shared<LaneAddOperator>("outboxd.Fixed64PairAdd", 2, "");
}

}  // namespace outboxd::store_internal
