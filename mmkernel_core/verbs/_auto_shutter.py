"""ShutterHolds: auto-shutter bookkeeping, so several holders share one shutter correctly.

A snap or a sequence holds the Shutter role open while it exposes. Two cameras streaming at
once both hold it; it closes only when the last holder lets go. A shutter that was already open
when the first holder came (the user opened it) is left open afterwards. No lock is held while
the shutter is driven (that is a call to another device, which may share a runner with a
camera), so a second holder arriving while the first is still opening goes on at once.

The Shutter role may change while it is held (MMCore carries the open state over to the new
shutter): `transfer` moves the holds with it, so the last holder closes the shutter that is open
then, whatever the role became; no light is left on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

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
        self._holds: dict[str, list[Hold]] = {}
        self._opened_by_us: dict[str, bool] = {}

    def hold(self, shutter: str, is_open: Callable[[], bool], open_it: Callable[[], None]) -> Hold:
        """Take a hold on `shutter`; the first holder opens it if it is closed."""
        hold = Hold(shutter)
        with self._lock:
            holders = self._holds.setdefault(shutter, [])
            first = not holders
            holders.append(hold)
        if not first:
            return hold
        try:
            opened = not is_open()
            if opened:
                open_it()
        except BaseException:
            self._drop(hold)
            raise
        with self._lock:
            self._opened_by_us[hold.shutter] = opened or self._opened_by_us.get(hold.shutter, False)
        return hold

    def release(self, hold: Hold, close_it: Callable[[str], T]) -> T | None:
        """Let go; the last holder closes the shutter the hold is on now (`close_it(label)`),
        if a holder opened it. Returns what `close_it` returns (the closing request, when it
        is not waited for). Releasing twice does nothing."""
        shutter = self._drop(hold)
        return close_it(shutter) if shutter else None

    def transfer(self, old: str, new: str) -> bool:
        """The Shutter role moved from `old` to `new` while held: the holds go with it, and the
        new shutter counts as opened by us (the role change opened it). False if none held."""
        with self._lock:
            moved = self._holds.pop(old, [])
            if not moved:
                return False
            self._opened_by_us.pop(old, None)
            for hold in moved:
                hold.shutter = new
            self._holds.setdefault(new, []).extend(moved)
            self._opened_by_us[new] = True
            return True

    def held(self, shutter: str) -> int:
        return len(self._holds.get(shutter, ()))

    def _drop(self, hold: Hold) -> str:
        """Forget `hold`; the label to close if it was the last one on a shutter we opened."""
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
            return shutter if self._opened_by_us.pop(shutter, False) else ""
