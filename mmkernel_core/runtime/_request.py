"""Request: one operation on its way to (or back from) a device runner.

Every face of the kernel (blocking, futures, asyncio) is built on this one object. It is a small
future of our own rather than `concurrent.futures.Future` because the blocking face waits on a
bare lock (cheaper) and the deadline watchdog must be able to fail a queued or running request
atomically without touching private Future state.

Done-callbacks registered here are the kernel's own (chaining, handing a result to a Future or an
event loop) and must be cheap; nothing they raise escapes to the thread that settled the request.
Cleanups (`add_cleanup`) run before anyone waiting is woken, so what a caller sees next already
reflects them (a failed load's label is free again). User callbacks go through `KernelFuture`,
which runs them on the kernel's callback mailbox.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any

from ._waitgraph import current_runner, register_wait, unregister_wait

if TYPE_CHECKING:
    from ._runner import Runner

log = logging.getLogger("mmkernel.request")
_allocate_lock = threading.Lock
Callback = Callable[["Request"], None]
Defer = Callable[..., None]  # post(fn, *args) to a thread that may run user code


class Request:
    """A pending call: created by the dispatcher, finished once by a runner or the watchdog."""

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_cleanups",
        "_done",
        "_exception",
        "_finished",
        "_result",
        "_state_lock",
        "_traceback",
        "args",
        "cancellable",
        "deadline",
        "fn",
        "label",
        "op",
        "runner",
        "started",
        "submitted",
        "target",
    )

    def __init__(
        self,
        label: str,
        op: str,
        fn: Callable[..., Any] | None = None,
        args: tuple[Any, ...] = (),
        runner: Runner | None = None,
        deadline: float = float("inf"),
    ) -> None:
        self.label = label
        self.op = op
        self.fn = fn
        self.args = args
        self.runner = runner
        self.deadline = deadline
        self.submitted = time.monotonic()
        self.started = 0.0
        self.target: Any = None  # the LoadedDevice a device request is for (checked before it runs)
        self.cancellable = True  # False: verbs that span devices, or take effect before they queue
        self._state_lock = _allocate_lock()
        self._done = _allocate_lock()
        self._done.acquire()
        self._finished = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._traceback: Any = None  # the exception's traceback when it was settled
        self._callbacks: list[Callback] | None = None
        self._cleanups: list[Callback] | None = None

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def completed(cls, label: str, op: str, result: Any) -> Request:
        request = cls(label, op)
        request.finish(result)
        return request

    @classmethod
    def failed(cls, label: str, op: str, error: BaseException) -> Request:
        request = cls(label, op)
        request.finish(exception=error)
        return request

    # -- completion -------------------------------------------------------------------------
    def finish(self, result: Any = None, exception: BaseException | None = None) -> bool:
        """Settle the request once; returns False if it was already settled (e.g. timed out)."""
        settled = self.settle(result, exception)
        if settled is None:
            return False
        self.fire(settled)
        return True

    def settle(self, result: Any = None, exception: BaseException | None = None) -> list[Callback] | None:
        """First half of `finish`: record the outcome (None if already settled).

        Split from `fire` so a caller holding a lock can settle atomically and run the callbacks
        (arbitrary user code) after releasing it.
        """
        with self._state_lock:
            if self._finished:
                return None
            self._finished = True
            self._result = result
            self._exception = exception
            self._traceback = exception.__traceback__ if exception is not None else None
            callbacks, self._callbacks = self._callbacks, None
            cleanups, self._cleanups = self._cleanups, None
        return [*(cleanups or ()), _WAKE, *(callbacks or ())]

    def fire(self, callbacks: list[Callback]) -> None:
        """Second half of `finish`: run the cleanups, wake waiters, then run the done-callbacks
        (`callbacks` as `settle` returned them)."""
        if _WAKE not in callbacks:
            self._done.release()
        for callback in callbacks:
            if callback is _WAKE:
                self._done.release()
            else:
                _run_callback(callback, self)

    def add_done_callback(self, callback: Callback) -> None:
        """Run `callback(request)` when settled (immediately, on this thread, if it already is)."""
        with self._state_lock:
            if not self._finished:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        _run_callback(callback, self)

    def add_cleanup(self, callback: Callback) -> None:
        """Run `callback(request)` when settled, before anyone waiting for it is woken (and before
        the done-callbacks); immediately, on this thread, if it already is. For the kernel's own
        bookkeeping only, never user code: it runs on whatever thread settles (a runner, the
        watchdog), must be cheap and must not wait."""
        with self._state_lock:
            if not self._finished:
                if self._cleanups is None:
                    self._cleanups = []
                self._cleanups.append(callback)
                return
        _run_callback(callback, self)

    def done(self) -> bool:
        return self._finished

    def cancel(self) -> bool:
        """Settle with CancelledError unless it has started running (then it runs to the end);
        True if it is cancelled now. A cancelled request is never run."""
        if not self.cancellable:
            return False
        if self.runner is not None:
            return self.runner.cancel(self)
        callbacks = self.settle(exception=CancelledError(f"{self.op!r} on {self.label!r} was cancelled"))
        if callbacks is None:
            return self.cancelled()
        self.fire(callbacks)
        return True

    def cancelled(self) -> bool:
        return self._finished and isinstance(self._exception, CancelledError)

    def exception(self) -> BaseException | None:
        self.wait()
        return self._exception

    def wait(self) -> None:
        """Block until settled; a runner thread waiting on another runner is cycle-checked."""
        if self._finished:
            return
        me = current_runner()
        if me is None or self.runner is None:
            self._done.acquire()
            self._done.release()
            return
        register_wait(me, self)
        try:
            self._done.acquire()
            self._done.release()
        finally:
            unregister_wait(me)

    def result(self) -> Any:
        self.wait()
        if self._exception is not None:
            # As it was settled, each time: re-raising the object itself would add this caller's
            # frames to its traceback at every call (and keep every caller's frames alive).
            raise self._exception.with_traceback(self._traceback)
        return self._result

    # -- faces ------------------------------------------------------------------------------
    def to_future(self, defer: Defer) -> Future[Any]:
        """A concurrent.futures.Future settled with this request; see KernelFuture."""
        future = KernelFuture(self, defer)

        def transfer(request: Request) -> None:
            if request.cancelled():
                Future.cancel(future)
            elif request._exception is not None:
                future.set_exception(request._exception)
            else:
                future.set_result(request._result)

        self.add_done_callback(transfer)
        return future

    def to_asyncio(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future[Any]:
        """An asyncio future on the running loop, settled from whatever thread finishes us.
        Cancelling it (or the task awaiting it) cancels the request if it has not started."""
        loop = loop or asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(request: Request) -> None:
            if future.done():  # cancelled: a frame handed to it is given back, counted as dropped
                discard = getattr(request._result, "discard", None)
                if discard is not None:
                    discard()
                return
            if request._exception is not None:
                future.set_exception(request._exception)
            else:
                future.set_result(request._result)

        def transfer(request: Request) -> None:
            try:
                loop.call_soon_threadsafe(settle, request)
            except RuntimeError:  # the loop closed before the device answered
                pass

        self.add_done_callback(transfer)
        future.add_done_callback(lambda f: f.cancelled() and self.cancel())
        return future


class KernelFuture(Future[Any]):
    """The futures face's Future. `cancel()` succeeds while the request is still queued (it then
    never runs) and fails once it has started. Done-callbacks run on the kernel's callback
    thread, never on a device runner or the watchdog, so they may block or call the kernel."""

    def __init__(self, request: Request, defer: Defer) -> None:
        super().__init__()
        self.mmkernel_request = request  # the watchdog only holds a weak reference
        self._defer = defer

    def add_done_callback(self, fn: Callable[[Future[Any]], object]) -> None:
        defer = self._defer
        super().add_done_callback(lambda future: defer(fn, future))

    def cancel(self) -> bool:
        self.mmkernel_request.cancel()
        return self.cancelled()


def _WAKE(request: Request) -> None:  # noqa: N802 - a marker: where `fire` wakes the waiters
    """Never called: marks the place in a settled request's callbacks where waiters wake."""


def _run_callback(callback: Callback, request: Request) -> None:
    try:
        callback(request)
    except BaseException:  # noqa: BLE001 - a kernel callback bug must not kill the settling thread
        try:
            log.exception("internal callback %r for %r on %r raised", callback, request.op, request.label)
        except BaseException:  # noqa: BLE001
            pass


def gather(
    label: str,
    op: str,
    requests: Iterable[Request],
    combine: Callable[[list[Request]], Any] | None = None,
) -> Request:
    """One request settled when all `requests` are; `combine` builds its result (or raises)."""
    parts = list(requests)
    combined = Request(label, op)
    combined.cancellable = False  # its parts run on several runners: it cannot be taken back whole
    if not parts:
        _settle_with(combined, combine, parts)
        return combined
    remaining = [len(parts)]
    lock = _allocate_lock()

    def part_done(_: Request) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            _settle_with(combined, combine, parts)

    for part in parts:
        part.add_done_callback(part_done)
    return combined


def _settle_with(combined: Request, combine: Callable[[list[Request]], Any] | None, parts: list[Request]) -> None:
    try:
        result = combine(parts) if combine is not None else [p.result() for p in parts]
    except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the request
        combined.finish(exception=error)
    else:
        combined.finish(result)


def then(first: Request, after: Callable[[Request], Request | None]) -> Request:
    """A request settled once `first` is and then the request `after(first)` returns (if any):
    `first`'s result, or the first error of the two. `after` runs where `first` settles (often a
    runner), so it must only queue work, never wait for it."""
    combined = Request(first.label, first.op)
    combined.cancellable = False

    def finish_with(second: Request | None) -> None:
        error = first.exception() or (second.exception() if second is not None else None)
        if error is not None:
            combined.finish(exception=error)
        else:
            combined.finish(first.result())

    def first_done(_: Request) -> None:
        try:
            second = after(first)
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the request
            combined.finish(exception=first.exception() or error)
            return
        if second is None:
            finish_with(None)
        else:
            second.add_done_callback(lambda _: finish_with(second))

    first.add_done_callback(first_done)
    return combined


def after_ok(first: Request, start: Callable[[], Request], label: str, op: str) -> Request:
    """A request settled as the one `start()` returns, started once `first` has succeeded
    (`first`'s error otherwise, and `start` is not called). `start` runs where `first` settles
    (often a runner), so it must only queue work: no thread waits between the two steps."""
    combined = Request(label, op)
    combined.cancellable = False

    def settle_as(second: Request) -> None:
        error = second.exception()
        if error is not None:
            combined.finish(exception=error)
        else:
            combined.finish(second.result())

    def first_done(done: Request) -> None:
        error = done.exception()
        if error is not None:
            combined.finish(exception=error)
            return
        try:
            second = start()
        except BaseException as failure:  # noqa: BLE001 - handed to whoever waits on the request
            combined.finish(exception=failure)
            return
        second.add_done_callback(settle_as)

    first.add_done_callback(first_done)
    return combined
