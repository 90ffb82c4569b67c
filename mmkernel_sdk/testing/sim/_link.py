"""SimLink: the byte pipe between a host and a LineSimulator, with the instrument's timing.

Bytes written by the host are split into lines at the simulator's read terminator; each line's
reply chunks are scheduled at their delay (never before an earlier chunk: the wire is FIFO).
Reads see only bytes whose time has come, so a reply that takes 2 s to arrive really does.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ._simulator import LineSimulator


class SimLink:
    def __init__(self, simulator: LineSimulator) -> None:
        self.simulator = simulator
        self._incoming = bytearray()  # host -> instrument, not yet a full line
        self._outgoing: deque[tuple[float, bytes]] = deque()  # (due, bytes), due non-decreasing
        self._ready = bytearray()  # due bytes not yet read
        self._cond = threading.Condition()
        self._terminator = simulator.read_terminator.encode(simulator.encoding)
        self.closed = False
        if simulator.greeting:
            self._schedule([(0.0, simulator.greeting)])

    # -- host side --------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        lines = []
        with self._cond:
            self._incoming += data
            while True:
                end = self._incoming.find(self._terminator)
                if end < 0:
                    break
                lines.append(bytes(self._incoming[:end]))
                del self._incoming[: end + len(self._terminator)]
        for raw in lines:
            text = raw.decode(self.simulator.encoding, errors="replace")
            self._schedule(self.simulator.respond(text).chunks)
        return len(data)

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes; waits up to `timeout` (None: forever) for the first one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._collect()
                if self._ready:
                    out = bytes(self._ready[:size])
                    del self._ready[:size]
                    return out
                if self.closed:
                    return b""
                now = time.monotonic()
                wait = None if deadline is None else deadline - now
                if wait is not None and wait <= 0:
                    return b""
                if self._outgoing:
                    next_due = self._outgoing[0][0] - now
                    wait = next_due if wait is None else min(wait, next_due)
                self._cond.wait(max(wait, 0.0) if wait is not None else None)

    def in_waiting(self) -> int:
        with self._cond:
            self._collect()
            return len(self._ready)

    def next_due(self) -> float | None:
        """Monotonic time of the next pending byte (None: nothing pending)."""
        with self._cond:
            self._collect()
            if self._ready:
                return time.monotonic()
            return self._outgoing[0][0] if self._outgoing else None

    def reset_input(self) -> None:
        """Forget bytes that have arrived (later ones still arrive: they are on the wire)."""
        with self._cond:
            self._collect()
            self._ready.clear()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    # -- instrument side --------------------------------------------------------------------
    def _schedule(self, chunks: list[tuple[float, bytes]]) -> None:
        if not chunks:
            return
        now = time.monotonic()
        with self._cond:
            last = self._outgoing[-1][0] if self._outgoing else now
            for delay, data in chunks:
                last = max(last, now + delay)
                self._outgoing.append((last, data))
            self._cond.notify_all()

    def _collect(self) -> None:
        now = time.monotonic()
        outgoing = self._outgoing
        while outgoing and outgoing[0][0] <= now:
            self._ready += outgoing.popleft()[1]
