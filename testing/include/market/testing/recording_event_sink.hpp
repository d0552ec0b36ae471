#pragma once
// An EventSink that keeps what it hears, and on which thread: for unit tests of what the
// services publish, and when.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "market/events.hpp"

namespace market::testing {

class RecordingEventSink final : public EventSink {
 public:
  // EventSink
  void Publish(const Event& event) override;

  std::vector<Event> Events() const;  // in the order heard
  std::vector<EventType> Types() const;
  std::vector<std::thread::id> Threads() const;  // Publish's caller for each event
  // Waits until at least `n` events were heard (builds publish from worker threads).
  bool WaitForCount(std::size_t n, std::chrono::milliseconds timeout) const;
  void Clear();

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable heard_;
  std::vector<Event> events_;
  std::vector<std::thread::id> threads_;
};

}  // namespace market::testing
