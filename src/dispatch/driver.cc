#include "dispatch/driver.h"

#include <boost/asio/post.hpp>
#include <chrono>

namespace outboxd {

DispatcherDriver::DispatcherDriver(boost::asio::io_context& io, Dispatcher* dispatcher,
                                   Clock* clock)
    : io_(io),
      dispatcher_(dispatcher),
      clock_(clock),
      timer_(io),
      alive_(std::make_shared<std::atomic<bool>>(true)) {
  dispatcher_->set_after_pump([this] { Arm(); });
}

DispatcherDriver::~DispatcherDriver() {
  alive_->store(false);
  dispatcher_->set_after_pump(nullptr);
}

void DispatcherDriver::Wake() {
  if (wake_posted_.exchange(true)) return;  // one is on its way
  boost::asio::post(io_, [this, alive = alive_] {
    if (!alive->load()) return;
    wake_posted_.store(false);
    dispatcher_->Pump();  // re-arms through after_pump
  });
}

void DispatcherDriver::WakeForDue(TimeMs due_ms) {
  if (due_ms < armed_for_.load(std::memory_order_relaxed)) Wake();
}

void DispatcherDriver::Stop() {
  alive_->store(false);
  timer_.cancel();
}

void DispatcherDriver::Arm() {
  if (!alive_->load()) return;
  // While computing, any new write must wake us: it may not be counted in
  // the NextWakeMs() we are about to read.
  armed_for_.store(kNoDue, std::memory_order_seq_cst);
  TimeMs wake = dispatcher_->NextWakeMs();
  armed_for_.store(wake, std::memory_order_seq_cst);
  timer_.cancel();
  if (wake == kNoDue) return;
  TimeMs delay = std::max<TimeMs>(0, wake - clock_->NowMs());
  timer_.expires_after(std::chrono::milliseconds(delay));
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !alive->load()) return;
    armed_for_.store(kNoDue, std::memory_order_relaxed);
    dispatcher_->Pump();
  });
}

}  // namespace outboxd
