"""Gate: hold adapter code at a known point from a test, then release it; no sleeping."""

from __future__ import annotations

import threading


class Gate:
    """`hold()` in adapter code signals arrival and waits; the test calls `release.set()`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def hold(self, limit: float = 30.0) -> None:
        """Called from adapter code: signal arrival, then wait (at most `limit` s) to be released."""
        self.entered.set()
        self.release.wait(limit)

    def wait_entered(self, limit: float = 5.0) -> None:
        """Called from the test: wait until adapter code has reached `hold()`."""
        if not self.entered.wait(limit):
            raise AssertionError(f"adapter code did not reach the gate within {limit} s")
