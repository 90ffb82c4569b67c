"""ConcurrencyProbe: proves the kernel's promise that adapter code is never entered twice at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ConcurrencyProbe:
    """Count entries into adapter code; any overlap or thread change is recorded as a violation.

    Deliberately not using a lock to count: a lock would serialise the very overlap it must see.
    """

    def __init__(self) -> None:
        self.inside = 0
        self.entries = 0
        self.violations = 0
        self.threads: set[int] = set()

    @contextmanager
    def enter(self) -> Iterator[None]:
        self.inside += 1
        if self.inside != 1:
            self.violations += 1
        self.entries += 1
        self.threads.add(threading.get_ident())
        try:
            yield
        finally:
            self.inside -= 1
