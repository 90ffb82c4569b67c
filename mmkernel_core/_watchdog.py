"""Watchdog: fails every request that passes its deadline, queued or running.

One thread and one heap of deadlines serve all devices and all three faces, so a futures or
asyncio caller that never waits still gets a DeviceTimeoutError on time. Entries hold weak
references: a finished request's result is not kept alive until its deadline.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import weakref

from mmkernel_sdk.errors import DeviceTimeoutError

from ._request import Request
from ._runner import Runner

log = logging.getLogger("mmkernel.watchdog")
_Entry = tuple[float, int, "weakref.ref[Request]"]


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._cond = threading.Condition(threading.Lock())
        self._sequence = itertools.count()
        self._compact_at = 4096
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="mmkernel-watchdog", daemon=True)
        self._thread.start()

    def track(self, request: Request) -> None:
        entry = (request.deadline, next(self._sequence), weakref.ref(request))
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
        """Drop entries of requests already settled; amortised O(1) per tracked request."""
        self._heap = [e for e in self._heap if (r := e[2]()) is not None and not r.done()]
        heapq.heapify(self._heap)
        self._compact_at = max(4096, 2 * len(self._heap))

    def _loop(self) -> None:
        while True:
            with self._cond:
                expired = self._wait_for_expired()
                if expired is None:
                    return
            for request in expired:
                self._expire(request)

    def _wait_for_expired(self) -> list[Request] | None:
        while not self._closed:
            now = time.monotonic()
            expired = []
            while self._heap and self._heap[0][0] <= now:
                request = heapq.heappop(self._heap)[2]()
                if request is not None and not request.done():
                    expired.append(request)
            if expired:
                return expired
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
            log.error("%s", error, extra={"device": request.label})


def _describe(runner: Runner) -> str:
    request = runner.current
    if request is not None:
        return f"{request.op!r} on {request.label!r}"
    return "nothing (the runner was about to start it)"
