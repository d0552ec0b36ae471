#include "market/testing/recording_event_sink.hpp"

namespace market::testing {

void RecordingEventSink::Publish(const Event& event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
    threads_.push_back(std::this_thread::get_id());
  }
  heard_.notify_all();
}

std::vector<Event> RecordingEventSink::Events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::vector<EventType> RecordingEventSink::Types() const {
  std::lock_guard lock(mutex_);
  std::vector<EventType> types;
  for (const Event& event : events_) types.push_back(event.type);
  return types;
}

std::vector<std::thread::id> RecordingEventSink::Threads() const {
  std::lock_guard lock(mutex_);
  return threads_;
}

bool RecordingEventSink::WaitForCount(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return heard_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
}

void RecordingEventSink::Clear() {
  std::lock_guard lock(mutex_);
  events_.clear();
  threads_.clear();
}

}  // namespace market::testing
