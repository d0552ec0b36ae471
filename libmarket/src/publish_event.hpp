#pragma once
// How the services hand an event to their sink, written once: nothing is made when there is no
// sink (no id is drawn for nobody), and publishing never fails the change the event reports,
// which is committed by then.

#include <exception>

#include "log.hpp"
#include "market/events.hpp"

namespace market {

// `make` returns the Event; it is called only when `sink` is set, on the calling thread.
template <class MakeEvent>
void PublishEvent(EventSink* sink, MakeEvent&& make) noexcept {
  if (sink == nullptr) return;
  try {
    sink->Publish(make());
  } catch (const std::exception& e) {
    MARKET_LOG_ERROR("an event of a committed change was not published: {}", e.what());
  }
}

}  // namespace market
