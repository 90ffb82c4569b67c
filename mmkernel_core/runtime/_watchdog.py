"""Watchdog: fails every request that passes its deadline, queued or running; runs the kernel's
own timers (the steps of waits).

One thread and one heap of deadlines serve all devices and all three faces, so a futures or
asyncio caller that never waits still gets a DeviceTimeoutError on time, and a thousand pending
`wait_for`s cost a thousand heap entries, not a thousand threads. Request entries hold weak
references: a finished request's result is not kept alive until its deadline.

Only kernel code runs here. Whatever could be slow or user-supplied — log handlers, Future
done-callbacks — is handed to `defer` (the kernel's callback mailbox), so one slow log handler
cannot make the next deadline late.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from mmkernel_sdk.errors import DeviceTimeoutError

from ._request import Request
from ._runner import Runner
from ._threads import new_thread

log = logging.getLogger("mmkernel.watchdog")
Defer = Callable[..., None]


class Timer:
    """A kernel callback due at `when`; `cancel()` drops it if it has not run yet."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _nothing  # let go of what the callback holds (a request, a frame)


_Entry = tuple[float, int, "weakref.ref[Request] | Timer"]


def _nothing() -> None:
    pass


def _run_inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    fn(*args, **kwargs)


class Watchdog:
    def __init__(self, defer: Defer = _run_inline) -> None:
        self._defer = defer
        self._heap: list[_Entry] = []
        self._cond = threading.Condition(threading.Lock())
        self._sequence = itertools.count()
        self._compact_at = 4096
        self._closed = False
        self._thread = new_thread(self._loop, "mmkernel-watchdog")
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def track(self, request: Request) -> None:
        self._push((request.deadline, next(self._sequence), weakref.ref(request)))

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run `callback()` on the watchdog thread at monotonic time `when` (kernel code only:
        it must be quick and never block)."""
        timer = Timer(when, callback)
        self._push((when, next(self._sequence), timer))
        return timer

    def call_soon(self, callback: Callable[[], None]) -> Timer:
        return self.call_at(0.0, callback)

    def _push(self, entry: _Entry) -> None:
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._cond.notify()
            if len(self._heap) > self._compact_at:
                self._compact()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _compact(self) -> None:
        """Drop entries of requests already settled and cancelled timers; amortised O(1) each."""
        self._heap = [e for e in self._heap if _live(e[2])]
        heapq.heapify(self._heap)
        self._compact_at = max(4096, 2 * len(self._heap))

    def _loop(self) -> None:
        while True:
            with self._cond:
                due = self._wait_for_due()
                if due is None:
                    return
            for item in due:
                try:
                    if isinstance(item, Timer):
                        item.callback()
                    else:
                        self._expire(item)
                except BaseException:  # noqa: BLE001 - the watchdog must outlive any bug
                    self._defer(log.exception, "watchdog: %r failed", item)

    def _wait_for_due(self) -> list[Request | Timer] | None:
        while not self._closed:
            now = time.monotonic()
            due: list[Request | Timer] = []
            while self._heap and self._heap[0][0] <= now:
                ref = heapq.heappop(self._heap)[2]
                if isinstance(ref, Timer):
                    if not ref.cancelled:
                        due.append(ref)
                elif (request := ref()) is not None and not request.done():
                    due.append(request)
            if due:
                return due
            self._cond.wait(self._heap[0][0] - now if self._heap else None)
        return None

    def _expire(self, request: Request) -> None:
        runner = request.runner
        if runner is None:
            return
        running = runner.current is request
        waited = time.monotonic() - request.submitted
        where = "running" if running else f"still queued behind {_describe(runner)}"
        error = DeviceTimeoutError(
            request.label,
            request.op,
            f"device {request.label!r}: {request.op!r} timed out after {waited:.3f} s "
            f"({where}); the device is marked faulted until the call returns"
            if running
            else f"device {request.label!r}: {request.op!r} timed out after {waited:.3f} s ({where})",
        )
        if runner.expire(request, error):
            self._defer(log.error, "%s", error, extra={"device": request.label})


def _live(ref: weakref.ref[Request] | Timer) -> bool:
    if isinstance(ref, Timer):
        return not ref.cancelled
    request = ref()
    return request is not None and not request.done()


def _describe(runner: Runner) -> str:
    request = runner.current
    if request is not None:
        return f"{request.op!r} on {request.label!r}"
    return "nothing (the runner was about to start it)"
