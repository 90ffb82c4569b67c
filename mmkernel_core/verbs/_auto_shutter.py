"""ShutterHolds: auto-shutter bookkeeping, so several holders share one shutter correctly.

A snap or a sequence holds the Shutter role open while it exposes. Two cameras streaming at
once both hold it; it closes only when the last holder lets go. A shutter that was already open
when the first holder came (the user opened it) is left open afterwards. No lock is held while
the shutter is driven (that is a call to another device, which may share a runner with a
camera), so a second holder arriving while the first is still opening goes on at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ShutterHolds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, int] = {}
        self._opened_by_us: dict[str, bool] = {}

    def hold(self, shutter: str, is_open: Callable[[], bool], open_it: Callable[[], None]) -> None:
        """Take a hold on `shutter`; the first holder opens it if it is closed."""
        with self._lock:
            first = self._holds.get(shutter, 0) == 0
            self._holds[shutter] = self._holds.get(shutter, 0) + 1
        if not first:
            return
        try:
            opened = not is_open()
            if opened:
                open_it()
        except BaseException:
            self._drop(shutter)
            raise
        with self._lock:
            self._opened_by_us[shutter] = opened

    def release(self, shutter: str, close_it: Callable[[], T]) -> T | None:
        """Let go; the last holder closes the shutter if a holder opened it (returns what
        `close_it` returns: the closing request, when it is not waited for)."""
        if self._drop(shutter):
            return close_it()
        return None

    def held(self, shutter: str) -> int:
        return self._holds.get(shutter, 0)

    def _drop(self, shutter: str) -> bool:
        with self._lock:
            count = self._holds.get(shutter, 0) - 1
            if count > 0:
                self._holds[shutter] = count
                return False
            self._holds.pop(shutter, None)
            return self._opened_by_us.pop(shutter, False)
