// Runs a Dispatcher on a Boost.Asio io_context: one timer armed for
// NextWakeMs(), and wake-ups from any thread when the store gets new due
// deliveries. No polling: an idle dispatcher costs nothing.
#pragma once

#include <atomic>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dispatch/dispatcher.h"

namespace outboxd {

class DispatcherDriver {
 public:
  // `dispatcher` must outlive the driver; both belong to `io`'s thread.
  DispatcherDriver(boost::asio::io_context& io, Dispatcher* dispatcher, Clock* clock);
  ~DispatcherDriver();

  // Any thread: a Pump runs soon on the loop (wake-ups coalesce).
  void Wake();
  // Any thread: wake only when `due_ms` is earlier than the armed timer.
  void WakeForDue(TimeMs due_ms);
  // Loop thread: stop the timer; later wake-ups are ignored.
  void Stop();

 private:
  void Arm();

  boost::asio::io_context& io_;
  Dispatcher* dispatcher_;
  Clock* clock_;
  boost::asio::steady_timer timer_;
  std::atomic<TimeMs> armed_for_{kNoDue};
  std::atomic<bool> wake_posted_{false};
  std::shared_ptr<std::atomic<bool>> alive_;
};

}  // namespace outboxd
