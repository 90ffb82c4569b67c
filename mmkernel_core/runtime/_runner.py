"""Runner: the worker thread that owns one device (or one hub and its peripherals).

All adapter code for the devices on a runner executes on its thread, one call at a time, which is
what lets adapter authors write plain blocking code without locks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from mmkernel_sdk.errors import (
    DeviceError,
    DeviceFaultedError,
    KernelClosedError,
    MMKernelError,
    UnknownDeviceError,
)

from ._request import Request
from ._threads import ThreadPool, new_thread
from ._waitgraph import bind_current_thread

log = logging.getLogger("mmkernel.runner")
_STOP = object()
_WAKE = object()  # "look at the task again now" (space freed for a blocked sequence)
BURST_S = 0.002  # a task always ready (a free-running camera) runs this long before the loop looks round
Report = Callable[..., None]  # report(logger, level, message, *args, device=label): logging off this thread


def _log_now(logger: logging.Logger, level: int, message: str, *args: Any, device: str | None = None) -> None:
    logger.log(level, message, *args, extra={"device": device})


class Task(Protocol):
    """Background work a runner interleaves with requests (a camera sequence): one step at a
    time, so property calls still get in between frames."""

    label: str  # the device the task works for
    step_name: str  # what one step is, for messages ("frame read")

    def step(self) -> float | None:
        """Do one unit of work; return when (monotonic) the next step is due, or None if done."""

    def cancel(self, reason: str) -> None:
        """The runner is closing: end now."""


class Runner:
    """A queue and a thread; tracks in-flight calls (for `busy`) and a hung call (for health)."""

    def __init__(
        self, name: str, slow_call_s: float = 1.0, report: Report | None = None, threads: ThreadPool | None = None
    ) -> None:
        self.name = name
        self.slow_call_s = slow_call_s
        self._budget = slow_call_s  # the call running now: slow_call_s unless the adapter expects longer
        self._report = report or _log_now
        self._queue: SimpleQueue[Request | object] = SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._idle_waiters = 0
        self._idle_callbacks: list[Callable[[], None]] = []
        self._inflight = 0
        self._users = 1  # devices on this runner (a hub and its peripherals, devices on one wire)
        self._closed = False
        self._closed_reason = "the kernel is closed"
        self.current: Request | None = None
        self.hung: Request | None = None
        # Tasks (camera sequences) interleaved with requests: each has its next due time and a
        # Request standing for its running step (so deadlines and health see a hung frame read).
        self._tasks: dict[Task, _TaskSlot] = {}
        self.thread_name = thread_name = f"mmkernel-runner-{name}"  # its thread's name while it serves this runner
        if threads is not None:
            self.thread = threads.run(self._loop, thread_name)
        else:
            self.thread = new_thread(self._loop, thread_name)
            self.thread.start()

    def __repr__(self) -> str:
        return f"<Runner {self.name} inflight={self._inflight}>"

    # -- submitting -------------------------------------------------------------------------
    def on_own_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def submit(self, request: Request, force: bool = False) -> None:
        """Queue a request; fails fast if the runner is closed or stuck in a timed-out call
        (unless `force`: then it runs when the stuck call returns, e.g. a deferred shutdown)."""
        with self._lock:
            if self._closed:
                raise KernelClosedError(f"device {request.label!r}: {self._closed_reason}")
            hung = self.hung
            if hung is None or force:
                self._inflight += 1
                self._queue.put(request)  # under the lock: close() cannot slip in between
                return
        raise self.faulted_error(request.label, request.op, hung)

    def faulted_error(self, label: str, op: str, hung: Request) -> DeviceFaultedError:
        stuck_for = time.monotonic() - hung.started
        return DeviceFaultedError(
            label,
            op,
            f"device {label!r} is faulted: {hung.op!r} on {hung.label!r} overran its "
            f"deadline and has been running for {stuck_for:.1f} s; {op!r} refused "
            "until it returns",
        )

    def cancel(self, request: Request) -> bool:
        """Settle a request that has not started as cancelled; the runner then skips it."""
        with self._lock:  # the runner claims requests under this lock: no race with the claim
            if self.current is request or request.started:
                return False
            callbacks = request.settle(exception=CancelledError(f"{request.op!r} on {request.label!r} was cancelled"))
        if callbacks is None:
            return request.cancelled()
        request.fire(callbacks)
        return True

    def run_inline(self, request: Request) -> Request:
        """Execute on the calling thread, which must be this runner's own (re-entrant call)."""
        self._invoke(request)
        return request

    # -- state ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def inflight(self) -> int:
        """Calls queued or executing on this runner."""
        return self._inflight

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or executing; False if `timeout` passed first."""
        with self._lock:
            self._idle_waiters += 1
            try:
                return self._idle.wait_for(lambda: self._inflight == 0, timeout)
            finally:
                self._idle_waiters -= 1

    def when_idle(self, callback: Callable[[], None]) -> None:
        """Call `callback()` once nothing is queued or executing: now, on this thread, if that is
        already so, else on the runner's thread when the last call returns (or the runner ends).
        It must be cheap: it runs between two device calls."""
        with self._lock:
            if self._inflight and self.thread.is_alive():
                self._idle_callbacks.append(callback)
                return
        callback()

    def wake(self, task: Task) -> None:
        """Make a task waiting for an outside event (buffer space) try its next step now."""
        slot = self._tasks.get(task)
        if slot is not None:
            slot.due = 0.0
            self._queue.put(_WAKE)

    def fail_queued(self, belongs: Callable[[Request], bool], error: Callable[[Request], BaseException]) -> int:
        """Settle, with `error(request)`, every queued request that `belongs`, and take them off
        the queue (a device detached while its runner is stuck: nothing may wait behind the stuck
        call for a kernel that has moved on). Returns how many."""
        failed: list[tuple[Request, list[Any] | None]] = []
        with self._lock:
            kept: list[object] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except Empty:
                    break
                if isinstance(item, Request) and belongs(item):
                    self._inflight -= 1
                    failed.append((item, item.settle(exception=error(item))))
                else:
                    kept.append(item)
            for item in kept:
                self._queue.put(item)
        for request, callbacks in failed:
            if callbacks is not None:
                request.fire(callbacks)
        return len(failed)

    def expire(self, request: Request, error: DeviceError) -> bool:
        """Fail a request at its deadline (watchdog). A running one marks the runner hung, and so
        does a task step that has itself been running for longer than the request's deadline."""
        with self._lock:
            callbacks = request.settle(exception=error)
            current = self.current
            if callbacks is not None and current is request:
                self.hung = request
            elif callbacks is not None and current is not None and current.fn is _STEP:
                if time.monotonic() - current.started > request.deadline - request.submitted:
                    self.hung = current
        if callbacks is None:
            return False
        request.fire(callbacks)
        return True

    def start_task(self, task: Task) -> None:
        """Run `task` between requests until it reports it is done (call on this runner). Several
        tasks (two cameras on one hub) take turns."""
        assert self.on_own_thread(), "tasks are started from a request on the runner"
        step = Request(getattr(task, "label", self.name), task.step_name, _STEP, (), self)
        self._tasks[task] = _TaskSlot(step)

    def remove_task(self, task: Task) -> None:
        """Drop a task without another step (its device is being unloaded; call on this runner)."""
        self._tasks.pop(task, None)

    @property
    def tasks(self) -> list[Task]:
        return list(self._tasks)

    def retain(self) -> None:
        """One more device lives on this runner (refused once it is closed)."""
        with self._lock:
            if self._closed:
                raise KernelClosedError(f"runner {self.name}: {self._closed_reason}")
            self._users += 1

    def release(self, reason: str) -> None:
        """A device left this runner; the last one to leave closes it."""
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close(reason)

    def close(self, reason: str = "the kernel is closed") -> None:
        """Stop accepting work; the thread ends after the calls already queued."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closed_reason = reason
            self._queue.put(_STOP)

    # -- the thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        bind_current_thread(self)
        queue_get = self._queue.get
        while True:
            request = self._next_with_task() if self._tasks else queue_get()
            if request is None or request is _WAKE:
                continue
            if request is _STOP:
                break
            assert isinstance(request, Request)
            target = request.target
            if target is not None and target.runner is not self and not request.done():
                self._forward(request, target.runner)  # its device moved to another runner meanwhile
                for callback in self._done_running(request, dequeued=True):
                    _call_safely(callback)
                continue
            with self._lock:
                claimed = not request.done()
                if claimed:
                    self.current = request
            outcome = self._execute(request) if claimed else None
            idle_callbacks = self._done_running(request, dequeued=True)
            if outcome is not None:
                # Settled last: the woken caller then finds this thread already heading back to
                # its queue instead of holding the GIL for bookkeeping.
                request.finish(*outcome)
            for callback in idle_callbacks:
                _call_safely(callback)
        for task in list(self._tasks):
            self._tasks.pop(task, None)
            try:
                task.cancel("the kernel closed")
            except BaseException:  # noqa: BLE001 - the runner still drains its queue
                self._report(log, logging.ERROR, "runner %s: cancelling %r failed", self.name, task, device=task.label)
        self._drain()

    def _forward(self, request: Request, runner: Runner) -> None:
        request.runner = runner
        try:
            runner.submit(request, force=True)
        except MMKernelError as error:
            request.finish(exception=error)

    def _done_running(self, item: Request, dequeued: bool) -> list[Callable[[], None]]:
        """`item` (a request, or the task step) has returned: clear it, and the hung state if it
        was the one that overran (logged as a recovery); a dequeued request leaves the count.
        Returns the idle callbacks now due (run them after settling `item`)."""
        idle_callbacks: list[Callable[[], None]] = []
        with self._lock:
            self.current = None
            recovered = self.hung is item
            if recovered:
                self.hung = None
            if dequeued:
                self._inflight -= 1
                if self._inflight == 0:
                    if self._idle_waiters:
                        self._idle.notify_all()
                    idle_callbacks, self._idle_callbacks = self._idle_callbacks, []
        if recovered:
            self._report(
                log,
                logging.WARNING,
                "device %r recovered: %r returned after %.2f s",
                item.label,
                item.op,
                time.monotonic() - item.started,
                device=item.label,
            )
        return idle_callbacks

    def _next_with_task(self) -> Request | object | None:
        """Alternate task steps (the one due first) with queued requests; sleep on the queue
        until a task's next step is due. None means: nothing to handle this round."""
        tasks = self._tasks
        task, slot = next(iter(tasks.items())) if len(tasks) == 1 else min(tasks.items(), key=_due_of)
        now = time.monotonic()
        if now >= slot.due:
            due = self._run_steps(task, slot.step, now)
            if due is None:
                tasks.pop(task, None)
                return None
            # "now" rather than 0: a task that is always ready takes turns with the others
            slot.due = max(due, time.monotonic()) if due <= 0 else due
        if not tasks:
            return None
        wait = (slot.due if len(tasks) == 1 else min(s.due for s in tasks.values())) - time.monotonic()
        if wait <= 0:
            return None if self._queue.empty() else self._queue.get()
        try:
            return self._queue.get(timeout=wait)
        except Empty:
            return None

    def _run_steps(self, task: Task, step: Request, now: float) -> float | None:
        """Run `task`'s steps while it is ready at once, alone on this runner and nothing is
        queued (for at most BURST_S): requests still get in between any two steps, and a
        fast camera does not pay the round trip through the loop for every frame."""
        self.current = step
        queue_empty = self._queue.empty
        alone = len(self._tasks) == 1
        until = now + BURST_S
        while True:
            step.started = now
            try:
                due = task.step()
            except BaseException as error:  # noqa: BLE001 - a task bug must not kill the runner
                self._report(log, logging.ERROR, "runner %s: %r failed: %r", self.name, task, error, device=task.label)
                try:
                    task.cancel(f"it failed: {type(error).__name__}: {error}")
                except BaseException:  # noqa: BLE001 - already reported; the task is dropped
                    pass
                due = None
            if due is None or due > 0 or not alone or not queue_empty():
                break
            now = time.monotonic()
            if now >= until:
                break
        self._done_running(step, dequeued=False)
        return due

    def _invoke(self, request: Request) -> None:
        """Execute and settle at once (re-entrant calls on this thread)."""
        request.finish(*self._execute(request))

    def _execute(self, request: Request) -> tuple[object, BaseException | None]:
        """Run adapter code; returns (result, error) with foreign errors wrapped in DeviceError."""
        request.started = time.monotonic()
        outer_budget, self._budget = self._budget, self.slow_call_s  # re-entrant calls keep the outer one's
        target = request.target
        if target is not None and target.unloaded:
            gone = UnknownDeviceError(f"device {request.label!r} was unloaded before {request.op!r} could run")
            return (None, gone)
        try:
            outcome: tuple[object, BaseException | None] = (request.fn(*request.args), None)  # type: ignore[misc]
        except MMKernelError as error:
            outcome = (None, error)
        except BaseException as error:  # noqa: BLE001 - an adapter bug must not kill the runner
            wrapped = DeviceError(
                request.label,
                request.op,
                f"device {request.label!r}: {request.op} failed: {type(error).__name__}: {error}",
            )
            wrapped.__cause__ = error
            outcome = (None, wrapped)
        elapsed = time.monotonic() - request.started
        budget, self._budget = self._budget, outer_budget
        if elapsed > budget:
            self._report(
                log,
                logging.WARNING,
                "slow call: %r on device %r took %.3f s (budget %.3f s)",
                request.op,
                request.label,
                elapsed,
                budget,
                device=request.label,
            )
        return outcome

    def allow_call_time(self, seconds: float) -> None:
        """The call running now on this runner's thread may take `seconds` without a slow-call
        warning (the adapter said so: a long move is not slow). Only from that thread."""
        self._budget = max(self.slow_call_s, seconds)

    def _drain(self) -> None:
        with self._lock:
            self._closed = True  # the thread is ending whatever the reason: queue nothing more
        while not self._queue.empty():
            request = self._queue.get()
            if not isinstance(request, Request):
                continue
            target = request.target
            if target is not None and target.runner is not self and not request.done():
                self._forward(request, target.runner)
            else:
                request.finish(exception=KernelClosedError(f"device {request.label!r}: {self._closed_reason}"))
        with self._lock:
            self._inflight = 0
            idle_callbacks, self._idle_callbacks = self._idle_callbacks, []
            self._idle.notify_all()
        for callback in idle_callbacks:
            _call_safely(callback)


def _due_of(item: tuple[Task, _TaskSlot]) -> float:
    return item[1].due


def _STEP() -> None:  # noqa: N802 - a marker: the `fn` of the Requests that stand for task steps
    """Never called."""


class _TaskSlot:
    __slots__ = ("due", "step")

    def __init__(self, step: Request) -> None:
        self.step = step
        self.due = 0.0


def _call_safely(callback: Callable[[], None]) -> None:
    try:
        callback()
    except BaseException:  # noqa: BLE001 - kernel callbacks must never stop the runner
        try:
            log.exception("idle callback %r raised", callback)
        except BaseException:  # noqa: BLE001
            pass
