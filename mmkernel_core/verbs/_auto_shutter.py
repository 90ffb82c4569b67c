"""ShutterHolds: auto-shutter bookkeeping, so several holders share one shutter correctly.

A snap or a sequence holds the Shutter role open while it exposes. Two cameras streaming at
once both hold it; it closes only when the last holder lets go. A shutter that was already open
when the first holder came (the user opened it) is left open afterwards. No lock is held while
the shutter is driven (that is a call to another device, which may share a runner with a
camera), so a second holder arriving while the first is still opening goes on at once (a snap
chains its exposure on that open, see below).

The Shutter role may change while it is held (MMCore carries the open state over to the new
shutter): `change_role` moves the holds with it, atomically with the holders' releases, so the
last holder closes the shutter that is open then, whatever the role became; no light is left on.
Decisions come from the hold state, not from a shutter's reported state alone: that lags a close
a last holder or a role change has just decided. A first holder waits until such a close is
queued, so its own read of the shutter (queued after it) sees it closed and it opens the shutter
itself; an open shutter is the user's only if the auto-shutter is not closing it, and not open
because the auto-shutter's own close failed (its next last holder closes it).

`hold` opens and waits (sequences); `hold_queued` only queues the open and hands its request
back, so a snap chains its exposure on it and no thread waits between the steps. A snap that
arrives while another snap's open is still on its way chains on that open too: no frame is
exposed before the shutter is open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Hold:
    """One holder's claim on the auto-shutter; `shutter` follows a change of the Shutter role."""

    __slots__ = ("released", "shutter")

    def __init__(self, shutter: str) -> None:
        self.shutter = shutter
        self.released = False

    def __repr__(self) -> str:
        return f"<Hold {self.shutter!r}{' released' if self.released else ''}>"


class ShutterHolds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._role_lock = threading.Lock()  # one Shutter role change at a time, in the order they are made
        self._holds: dict[str, list[Hold]] = {}
        self._opened_by_us: dict[str, bool] = {}  # per held shutter: its last holder closes it
        self._opening: dict[str, threading.Event] = {}  # a first holder is opening this shutter
        self._closing: dict[str, int] = {}  # closes the auto-shutter decided, not yet done
        self._unqueued: dict[str, int] = {}  # ... and not yet queued on the shutter's runner
        self._left_open: set[str] = set()  # the auto-shutter's close failed: still its to close
        self._open_requests: dict[str, Any] = {}  # a queued first open on its way (_NO_REQUEST: hold's own)

    def hold(self, shutter: str, open_if_closed: Callable[[], bool]) -> Hold:
        """Take a hold on `shutter`; the first holder opens it if it is closed
        (`open_if_closed()` says whether it did)."""
        hold, opening = self._claim(shutter)
        if opening is None:
            return hold
        self._open_requested(shutter, opening, _NO_REQUEST)  # waited for here: a snap meanwhile goes on
        try:
            opened = open_if_closed()
        except BaseException:
            self._open_failed(hold, opening)
            raise
        self._open_done(hold, opening, opened)
        return hold

    def hold_queued(self, shutter: str, queue_open: Callable[[], Any]) -> tuple[Hold, Any]:
        """`hold` without waiting for the open: `queue_open()` queues the open and returns its
        request (its result: whether it opened the shutter), returned here too; a later holder
        gets that request while it is on its way (None once the shutter is held open). The
        caller chains its exposure on it, so no thread waits between the open and the exposure."""
        hold, opening = self._claim(shutter)
        if opening is None:
            return hold, self._open_in_flight(shutter)
        try:
            request = queue_open()
        except BaseException:
            self._open_failed(hold, opening)
            raise
        self._open_requested(shutter, opening, request)

        def settled(done: Any) -> None:  # where the open settles (the shutter's runner): no waiting here
            if done.exception() is not None:
                self._open_failed(hold, opening)
            else:
                self._open_done(hold, opening, bool(done.result()))

        request.add_done_callback(settled)
        return hold, request

    def _claim(self, shutter: str) -> tuple[Hold, threading.Event | None]:
        """A new hold, and the event a first holder sets once its open is done (None for the
        others: they go on at once)."""
        hold = Hold(shutter)
        with self._lock:
            holders = self._holds.setdefault(shutter, [])
            first = not holders
            holders.append(hold)
            if not first:
                return hold, None
            opening = self._opening[shutter] = threading.Event()
            while self._unqueued.get(shutter):  # so the open reads the shutter after that close
                self._changed.wait()
        return hold, opening

    def _open_requested(self, shutter: str, opening: threading.Event, request: Any) -> None:
        """A first holder's open is queued (or, `_NO_REQUEST`, being waited for in place)."""
        with self._lock:
            if self._opening.get(shutter) is opening:
                self._open_requests[shutter] = request
            self._changed.notify_all()

    def _open_in_flight(self, shutter: str) -> Any:
        """The first holder's queued open while it is on its way, else None. Its queuing is
        waited for (it only queues); an open `hold` waits for itself is not (None)."""
        with self._lock:
            while True:
                opening = self._opening.get(shutter)
                if opening is None:
                    return None
                request = self._open_requests.get(shutter)
                if request is not None:
                    return None if request is _NO_REQUEST else request
                self._changed.wait()

    def _open_done(self, hold: Hold, opening: threading.Event, opened: bool) -> None:
        """A first holder's open is done: the last holder closes the shutter if it opened it,
        or if it is open only because the auto-shutter's own close failed (not the user's)."""
        with self._lock:
            left_open = hold.shutter in self._left_open
            self._left_open.discard(hold.shutter)
            ours = opened or left_open or self._opened_by_us.get(hold.shutter, False)
            self._opened_by_us[hold.shutter] = ours
        self._opened(opening)

    def _open_failed(self, hold: Hold, opening: threading.Event) -> None:
        if self._drop(hold):
            self._close_done(hold.shutter, queued=False)  # nothing was opened: nothing to close
        self._opened(opening)

    def release(self, hold: Hold, close_it: Callable[[str], T]) -> T | None:
        """Let go; the last holder closes the shutter the hold is on now (`close_it(label)`),
        if a holder opened it. Returns what `close_it` returns (the closing request, when it
        is not waited for). Releasing twice does nothing."""
        shutter = self._drop(hold)
        if not shutter:
            return None
        try:
            closing = close_it(shutter)
        except BaseException:
            self._close_done(shutter, queued=False)
            raise
        self._queued(shutter)
        add_done_callback = getattr(closing, "add_done_callback", None)
        if add_done_callback is None:
            self._close_done(shutter, queued=True)  # it was waited for
        else:
            add_done_callback(lambda done: self._close_done(shutter, queued=True, failed=done.exception() is not None))
        return closing

    def forget_left_open(self, shutter: str) -> None:
        """The user set the shutter: an open one is theirs again, not a close that failed."""
        with self._lock:
            self._left_open.discard(shutter)

    def change_role(
        self,
        new: str,
        swap: Callable[[str], str],
        cached_open: Callable[[str], bool],
        set_open: Callable[[str, bool], Any],
        wait_s: float,
    ) -> None:
        """The Shutter role becomes `new` (`swap(new)` sets it and returns the old label). As
        MMCore, an open old shutter is closed and the new one opened; the holds (and whether
        their last holder closes it) go with it. `set_open(label, open)` queues and returns the
        request; `cached_open` must not call a device. Role changes are serialized; a first
        holder still opening either shutter is waited for (at most `wait_s`), so its open
        cannot land after this close."""
        with self._role_lock:
            old = swap(new)
            if not old or not new or old == new:
                return
            mine = self._take_over(old, new, cached_open, time.monotonic() + wait_s)
            if mine is None:
                return  # the old shutter was closed, or is being closed by its last holder
            try:
                try:
                    closing = set_open(old, False)  # the light goes through the new shutter instead
                except BaseException:
                    self._close_done(old, queued=False)
                    raise
                self._queued(old)
                try:
                    closing.result()
                finally:
                    self._close_done(old, queued=True)
                set_open(new, True).result()
            finally:
                closing_new = self.release(mine, lambda label: set_open(label, False))
                if closing_new is not None:
                    closing_new.result()

    def held(self, shutter: str) -> int:
        return len(self._holds.get(shutter, ()))

    def _take_over(self, old: str, new: str, cached_open: Callable[[str], bool], deadline: float) -> Hold | None:
        """Move `old`'s holds to `new`, with a hold of the role change's own (no holder letting
        go meanwhile closes `new` before it is opened); None if nothing carries over."""
        while True:
            with self._lock:
                opening = self._opening.get(old) or self._opening.get(new)
                if opening is None or time.monotonic() >= deadline:
                    return self._move_locked(old, new, cached_open)
            opening.wait(max(0.0, deadline - time.monotonic()))

    def _move_locked(self, old: str, new: str, cached_open: Callable[[str], bool]) -> Hold | None:
        moved = self._holds.pop(old, [])
        if moved:
            ours = self._opened_by_us.pop(old, True)
        elif not self._closing.get(old) and cached_open(old):
            ours = False  # the user opened it: the light stays on, through `new`
        else:
            return None
        if self._holds.get(new):
            new_ours = self._opened_by_us.get(new, True)
        else:
            new_ours = bool(self._closing.get(new)) or not cached_open(new)
        mine = Hold(new)
        for hold in moved:
            hold.shutter = new
        self._holds.setdefault(new, []).extend([*moved, mine])
        self._opened_by_us[new] = ours and new_ours  # what the user opened stays as the user left it
        self._decide_close_locked(old)
        return mine

    def _decide_close_locked(self, shutter: str) -> None:
        self._closing[shutter] = self._closing.get(shutter, 0) + 1
        self._unqueued[shutter] = self._unqueued.get(shutter, 0) + 1

    def _queued(self, shutter: str) -> None:
        with self._lock:
            _count_down(self._unqueued, shutter)
            self._changed.notify_all()

    def _close_done(self, shutter: str, queued: bool, failed: bool = False) -> None:
        with self._lock:
            if failed:
                self._left_open.add(shutter)
            if not queued:
                _count_down(self._unqueued, shutter)
                self._changed.notify_all()
            _count_down(self._closing, shutter)

    def _opened(self, opening: threading.Event) -> None:
        with self._lock:
            for shutter, pending in list(self._opening.items()):
                if pending is opening:
                    del self._opening[shutter]
                    self._open_requests.pop(shutter, None)
            self._changed.notify_all()
        opening.set()

    def _drop(self, hold: Hold) -> str:
        """Forget `hold`; the label to close if it was the last one on a shutter we opened (a
        close then counts as decided until it is queued and done)."""
        with self._lock:
            if hold.released:
                return ""
            hold.released = True
            shutter = hold.shutter
            holders = self._holds.get(shutter, [])
            if hold in holders:
                holders.remove(hold)
            if holders:
                return ""
            self._holds.pop(shutter, None)
            if not self._opened_by_us.pop(shutter, False):
                return ""
            self._decide_close_locked(shutter)
            return shutter


_NO_REQUEST = object()  # a first holder opening in place (`hold`): nothing to chain on


def _count_down(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
