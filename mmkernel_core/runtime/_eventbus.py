"""EventBus: the notification thread, and the bounded queue of events waiting for it.

Emitters (runner threads, vendor SDK threads) only enqueue and never wait for a subscriber.
Subscribers that keep up see every event, in the order emitted. One slow callback holds up the
one thread, and the queue would grow without bound (150,000 changes behind a 2 ms callback held
138,000 events and kept a `device_loaded` waiting 4.6 minutes), so once `coalesce_after` events
wait, value changes are coalesced (below that, a burst is delivered in full):

- A *value* event has a key (a device's property). When it is posted while `coalesce_after` or
  more events wait, every waiting event of the same key posted since the last fence is dropped
  and the new one is queued at the end: the subscriber gets the latest value, not each
  intermediate one.
- A *fence* (lifecycle events, Core properties such as role changes, `flush()` markers) is never
  dropped, and no value event is dropped in favour of one posted after a fence: whatever each
  property's last value was when a fence was posted is delivered before the fence.
- Other events (log records) are never dropped and keep their place, but are not fences.

So what is delivered is always the emitted sequence with some superseded value events left out:
order is never changed, so a change of A.x is never delivered after a later `device_unloaded(A)`.
The dropped events are counted; the count is handed to `coalesced` (the `events_coalesced`
signal) when the backlog clears (and once a second while it lasts), and logged at most once a
minute through `mmkernel.events` (what is left unlogged goes into the next line, or at close).
Both run on this thread, never on an emitter's.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from ._mailbox import _print_error, _run_guarded
from ._threads import new_thread

if TYPE_CHECKING:
    from ._events import Signal

log = logging.getLogger("mmkernel.events")
Callback = Callable[..., Any]
COALESCE_AFTER = 64  # a subscriber this many events behind gets latest values only
REPORT_INTERVAL = 1.0  # seconds between events_coalesced reports while a backlog lasts
LOG_INTERVAL = 60.0  # seconds between log lines about coalescing

_STOP = object()


class EventBus:
    """The notification thread: events are delivered on it in the order they were emitted;
    value events coalesce while a subscriber is `coalesce_after` events behind."""

    def __init__(self, name: str = "mmkernel-events", coalesce_after: int = COALESCE_AFTER) -> None:
        self.name = name
        self.coalesce_after = coalesce_after
        self.coalesced: Signal | None = None  # told the count of dropped value events
        self._cond = threading.Condition(threading.Lock())
        # token -> (key or None, fn, args); tokens only grow, so this is emission order.
        self._pending: OrderedDict[int, tuple[Hashable | None, Callback, tuple[Any, ...]]] = OrderedDict()
        self._keys: dict[Hashable, deque[int]] = {}  # waiting tokens per key since the last fence
        self._next = 0
        self._idle = False  # the thread waits for work: posts must wake it
        self._closed = False
        self._unreported = 0  # dropped, not yet handed to `coalesced`
        self._reported_at = time.monotonic()
        self._unlogged = 0  # reported, not yet logged
        self._logged_at: float | None = None
        self.thread = new_thread(self._loop, name)
        self.thread.start()

    @property
    def pending(self) -> int:
        """Events waiting for delivery (not counting one being delivered now)."""
        return len(self._pending)

    def post(self, fn: Callback, *args: Any) -> None:
        """Queue `fn(*args)` as a fence: never dropped, never overtaken by a coalesced value."""
        self._put(None, fn, args, fence=True)

    def post_event(self, fn: Callback, args: tuple[Any, ...], fence: bool) -> None:
        """Queue an event that is never dropped; a fence also closes coalescing before it."""
        self._put(None, fn, args, fence)

    def post_value(self, key: Hashable, fn: Callback, args: tuple[Any, ...]) -> None:
        """Queue a value event; while the queue is long it replaces the waiting ones of `key`."""
        self._put(key, fn, args, fence=False)

    def _put(self, key: Hashable | None, fn: Callback, args: tuple[Any, ...], fence: bool) -> None:
        with self._cond:
            if not self._closed:
                self._put_locked(key, fn, args, fence)

    def _put_locked(self, key: Hashable | None, fn: Callback, args: tuple[Any, ...], fence: bool) -> None:
        token = self._next
        self._next = token + 1
        pending = self._pending
        if key is not None:
            tokens = self._keys.get(key)
            if tokens is None:
                tokens = self._keys[key] = deque()
            elif len(pending) >= self.coalesce_after:
                self._unreported += len(tokens)
                while tokens:
                    del pending[tokens.popleft()]
            tokens.append(token)
        elif fence:
            self._keys.clear()  # values posted from now on never replace ones before this
        pending[token] = (key, fn, args)
        if self._idle:
            self._cond.notify()

    def on_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event posted before this call has been delivered (True), or `timeout`."""
        if self.on_thread() or not self.thread.is_alive():
            return True
        if self._closed:  # close() delivers what is queued, then the thread ends
            self.thread.join(timeout)
            return not self.thread.is_alive()
        done = threading.Event()
        self.post(done.set)
        return done.wait(timeout)

    def close(self) -> None:
        """Deliver what is queued, then end the thread; later posts are dropped."""
        with self._cond:
            if not self._closed:
                self._put_locked(None, _STOP, (), fence=True)
                self._closed = True

    def report_callback_error(self, signal: Signal, callback: Callback) -> None:
        try:
            if signal.name == "log_record":  # reporting through logging would loop back here
                print(f"mmkernel: log callback {callback!r} raised", file=sys.stderr)
                return
            log.exception("event callback %r for %s raised", callback, signal.name)
        except BaseException:  # noqa: BLE001 - a failing log handler must not stop delivery
            pass

    def _loop(self) -> None:
        cond, pending, keys = self._cond, self._pending, self._keys
        while True:
            with cond:
                while not pending:
                    self._idle = True
                    cond.wait()
                self._idle = False
                token, (key, fn, args) = pending.popitem(last=False)
                if key is not None:
                    tokens = keys.get(key)
                    if tokens and tokens[0] == token:  # else posted before a fence: not tracked
                        tokens.popleft()
                        if not tokens:
                            del keys[key]
                dropped = 0
                if self._unreported and (not pending or time.monotonic() - self._reported_at >= REPORT_INTERVAL):
                    dropped, self._unreported = self._unreported, 0
                    self._reported_at = time.monotonic()
            # Reported before this event: a flush() marker returns only after the report.
            if dropped or fn is _STOP:
                self._report(dropped, final=fn is _STOP)
            if fn is _STOP:
                return
            _run_guarded(fn, args, _print_error)

    def _report(self, dropped: int, final: bool = False) -> None:
        """On this thread: hand the count to `events_coalesced`, and log now and then."""
        if dropped and self.coalesced is not None:
            _run_guarded(self.coalesced.deliver, ((dropped,),), _print_error)
        self._unlogged += dropped
        now = time.monotonic()
        due = self._logged_at is None or now - self._logged_at >= LOG_INTERVAL
        if self._unlogged and (due or final):
            more = (
                "" if self._logged_at is None else f" more (in the {now - self._logged_at:.0f} s since the last line)"
            )
            count, self._unlogged, self._logged_at = self._unlogged, 0, now
            try:
                log.warning(
                    "event subscribers fell behind: %d value changes were coalesced%s, each "
                    "superseded by a later value of the same property before it could be delivered",
                    count,
                    more,
                )
            except BaseException:  # noqa: BLE001 - a failing log handler must not stop delivery
                pass
