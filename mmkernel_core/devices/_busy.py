"""BusyWatch: every pending `wait_for` on one device, served by one polling cycle.

A wait holds no thread. The cycle goes: the runner has nothing queued or running (a callback
from the runner) -> the post-set delay is over (a watchdog timer) -> the adapter's own `busy()`
says False (one queued `busy` call, re-asked every `busy_poll_s`). However many callers wait on
a device, it is asked once per poll, and each wait has its own deadline timer, so a thousand
waits on a moving stage cost nothing to a wait on an idle device.

A wait is settled by a round only if it was registered before that round began: a caller that
queued a move and then waits is never released by a `busy()` answer given before its move ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mmkernel_sdk.errors import DeviceTimeoutError, MMKernelError

from ..runtime import Request, Timer

if TYPE_CHECKING:
    from ..runtime import Dispatcher
    from ._loaded import LoadedDevice


class _Waiter:
    __slots__ = ("deadline", "round", "timer")

    def __init__(self, round_: int, deadline: float, timer: Timer | None) -> None:
        self.round = round_
        self.deadline = deadline
        self.timer = timer


class BusyWatch:
    def __init__(self, loaded: LoadedDevice, dispatch: Dispatcher, ask_busy: Callable[[Any], bool]) -> None:
        self._loaded = loaded
        self._dispatch = dispatch
        self._ask_busy = ask_busy
        self._lock = threading.Lock()
        self._waiters: dict[Request, _Waiter] = {}
        self._round = 0
        self._cycling = False
        self._polling = False  # a busy() query of ours is queued or running

    def wait(self, request: Request, deadline: float) -> None:
        """Settle `request` (None) once the device is idle, or fail it at `deadline`."""
        waiter = _Waiter(self._round, deadline, None)
        with self._lock:  # registered before its deadline is armed, so the deadline cannot be lost
            waiter.round = self._round
            self._waiters[request] = waiter
            start = not self._cycling
            self._cycling = True
        waiter.timer = self._dispatch.watchdog.call_at(deadline, lambda: self._expire(request))
        if request.done():  # settled while the timer was being armed
            waiter.timer.cancel()
        if start:
            self._cycle()
        elif self._loaded.unloaded:
            self.gone()

    def gone(self) -> None:
        """The device was unloaded: it is busy no more, every wait on it is over."""
        self._settle(None, everyone=True)

    @property
    def pending(self) -> int:
        return len(self._waiters)

    # -- the cycle --------------------------------------------------------------------------
    def _cycle(self) -> None:
        with self._lock:
            if not self._waiters:
                self._cycling = False
                return
            self._round += 1
            round_ = self._round
        if self._loaded.unloaded:
            self.gone()
            return
        self._loaded.runner.when_idle(lambda: self._after_idle(round_))

    def _after_idle(self, round_: int) -> None:
        loaded = self._loaded
        if loaded.unloaded:
            self.gone()
            return
        now = time.monotonic()
        if loaded.busy_until > now:
            self._fail_outlasted(loaded.busy_until)
            self._dispatch.watchdog.call_at(loaded.busy_until, self._cycle)
            return
        if not (loaded.has_busy and loaded.initialized):
            self._settle(round_)
            return
        longest = max((w.deadline for w in list(self._waiters.values())), default=now) - now
        self._polling = True
        try:
            poll = self._dispatch.queue(loaded, "busy", self._ask_busy, loaded, timeout=max(longest, 0.001))
        except MMKernelError as error:
            self._polling = False
            self._settle(round_, None if loaded.unloaded else error)
            return
        poll.add_done_callback(lambda done: self._polled(done, round_))

    def _polled(self, poll: Request, round_: int) -> None:
        self._polling = False
        error = poll.exception()
        if error is not None:
            self._settle(round_, None if self._loaded.unloaded else error)
        elif poll.result():
            self._dispatch.watchdog.call_at(time.monotonic() + self._loaded.busy_poll_s, self._cycle)
        else:
            self._settle(round_)

    # -- settling ---------------------------------------------------------------------------
    def _settle(self, round_: int | None, error: BaseException | None = None, everyone: bool = False) -> None:
        """Settle the waits registered before `round_` (all of them with `everyone`), then go on
        with the next round if any wait remains."""
        with self._lock:
            ready = [r for r, w in self._waiters.items() if everyone or (round_ is not None and w.round < round_)]
            waiters = [self._waiters.pop(r) for r in ready]
        for request, waiter in zip(ready, waiters, strict=True):
            _cancel(waiter.timer)
            request.finish(exception=error) if error is not None else request.finish(None)
        if not everyone:
            self._dispatch.watchdog.call_soon(self._cycle)

    def _fail_outlasted(self, busy_until: float) -> None:
        """Waits whose deadline comes before the post-set delay ends fail now, not later."""
        with self._lock:
            doomed = [r for r, w in self._waiters.items() if w.deadline < busy_until]
            waiters = [self._waiters.pop(r) for r in doomed]
        for request, waiter in zip(doomed, waiters, strict=True):
            _cancel(waiter.timer)
            request.finish(exception=still_busy(self._loaded.label, "its post-set delay outlasts the deadline"))

    def _expire(self, request: Request) -> None:
        with self._lock:
            if self._waiters.pop(request, None) is None:
                return
        request.finish(exception=still_busy(self._loaded.label, self._why()))

    def _why(self) -> str:
        runner = self._loaded.runner
        current = runner.current
        if runner.inflight - (1 if self._polling else 0) > 0:  # our own busy() query does not count
            if current is not None and current.fn != self._ask_busy:
                return f"{current.op!r} is still running"
            return "calls are still queued"
        if self._loaded.busy_until > time.monotonic():
            return "its post-set delay outlasts the deadline"
        return "the device still reports busy"


def _cancel(timer: Timer | None) -> None:
    if timer is not None:
        timer.cancel()


def still_busy(label: str, why: str) -> DeviceTimeoutError:
    return DeviceTimeoutError(label, "wait_for", f"device {label!r}: wait_for timed out ({why})")
