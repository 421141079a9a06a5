// A Transport whose requests complete only when the test says so, in any
// order, or never. Single-threaded, like the loop it stands in for.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "outboxd/transport.h"

namespace outboxd {

class ScriptedTransport final : public Transport {
 public:
  struct Pending {
    uint64_t id = 0;  // order of Send, from 0
    HttpRequest request;
    Callback done;
  };

  void Send(HttpRequest request, Callback done) override {
    pending_.push_back({next_id_++, std::move(request), std::move(done)});
    sent_.push_back(pending_.back().request);
  }
  size_t InFlight() const override { return pending_.size(); }

  // Requests started and not completed, oldest first.
  std::vector<Pending>& pending() { return pending_; }
  // Every request ever sent, in order.
  const std::vector<HttpRequest>& sent() const { return sent_; }

  // Completes pending()[index] with `response`.
  void Complete(size_t index, HttpResponse response) {
    Pending p = std::move(pending_.at(index));
    pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(index));
    p.done(std::move(response));
  }
  // Completes every pending request (including ones sent meanwhile) with
  // what `answer` says, until none is pending. Returns how many completed.
  size_t CompleteAll(const std::function<HttpResponse(const HttpRequest&)>& answer) {
    size_t n = 0;
    while (!pending_.empty()) {
      HttpResponse r = answer(pending_.front().request);
      Complete(0, std::move(r));
      ++n;
    }
    return n;
  }

  static HttpResponse Status(int status, std::string body = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }

 private:
  uint64_t next_id_ = 0;
  std::vector<Pending> pending_;
  std::vector<HttpRequest> sent_;
};

}  // namespace outboxd
