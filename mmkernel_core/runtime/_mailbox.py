"""Mailbox: a FIFO of calls and the one thread that runs them, in order.

The kernel runs user code it does not control (event callbacks, Future done-callbacks, log
handlers) on mailboxes, never on a runner or the watchdog, so a slow or misbehaving callback
delays only the mailbox it runs on. Nothing a call raises, `BaseException` included
(`SystemExit`, `KeyboardInterrupt`, `GeneratorExit`), stops the thread.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from ._threads import new_thread

_STOP = object()
ErrorReport = Callable[[Callable[..., Any], BaseException], None]


def _print_error(call: Callable[..., Any], error: BaseException) -> None:
    try:
        print(f"mmkernel: {call!r} raised {type(error).__name__}: {error}", file=sys.stderr)
    except BaseException:  # noqa: BLE001 - stderr itself may be gone at interpreter exit
        pass


class Mailbox:
    """`post(fn, *args)` from any thread; `fn(*args)` runs later on this mailbox's thread."""

    def __init__(self, name: str, on_error: ErrorReport = _print_error, inline_when_closed: bool = False) -> None:
        self.name = name
        self._on_error = on_error
        self._inline_when_closed = inline_when_closed  # else calls posted after close() are dropped
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._closed = False
        self.thread = new_thread(self._loop, name)
        self.thread.start()

    def post(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if kwargs:
            fn, args = _Bound(fn, args, kwargs), ()
        if not self._closed:
            self._queue.put((fn, args))
        elif self._inline_when_closed:
            _run_guarded(fn, args, self._on_error)

    def on_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call posted before this one has run (True), or `timeout` passed."""
        if self.on_thread() or not self.thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put((done.set, ()))
        return done.wait(timeout)

    def close(self) -> None:
        """Run what is queued, then end the thread; later posts are dropped."""
        self._closed = True
        self._queue.put(_STOP)

    def _loop(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            _run_guarded(*item, self._on_error)


class _Bound:
    __slots__ = ("args", "fn", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self) -> None:
        self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return repr(self.fn)


def _run_guarded(fn: Callable[..., Any], args: tuple[Any, ...], on_error: ErrorReport) -> None:
    try:
        fn(*args)
    except BaseException as error:  # noqa: BLE001 - the mailbox must outlive any call
        try:
            on_error(fn, error)
        except BaseException:  # noqa: BLE001 - even a broken reporter cannot stop it
            pass
