"""SimLink: the byte pipe between a host and a LineSimulator, with the instrument's timing.

Bytes written by the host are cut into commands by the simulator's framing (lines at its read
terminator, or binary frames); each command's reply chunks get their own due time, so a move
that answers when it ends does not hold back a status query answered at once (a `sequential`
simulator keeps the old order: every reply waits for the one before). Bytes are delivered in
due-time order, ties in the order they were scheduled. Reads see only bytes whose time has
come, so a reply that takes 2 s to arrive really does.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time

from ._simulator import LineSimulator, Output


class SimLink:
    def __init__(self, simulator: LineSimulator) -> None:
        self.simulator = simulator
        self._framing = simulator.wire_framing
        self._incoming = bytearray()  # host -> instrument, not yet a whole command
        self._outgoing: list[tuple[float, int, bytes]] = []  # heap of (due, order, bytes)
        self._order = itertools.count()
        self._replies_until = 0.0  # a sequential simulator's replies come after this
        self._ready = bytearray()  # due bytes not yet read
        self._cond = threading.Condition()
        self.closed = False
        if simulator.greeting:
            self._schedule(Output(chunks=[(0.0, simulator.greeting)]))
        self.deliver(simulator._attach(self))

    # -- host side --------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        frames = []
        with self._cond:
            self._incoming += data
            while (frame := self._framing.take(self._incoming)) is not None:
                frames.append(frame)
        for frame in frames:
            self._schedule(self.simulator.receive(frame))
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
            if self.closed:
                return
            self.closed = True
            self._cond.notify_all()
        self.simulator._detach(self)

    # -- instrument side --------------------------------------------------------------------
    def deliver(self, items: list[tuple[float, bytes]]) -> None:
        """Schedule bytes at monotonic due times (the simulator's unasked messages)."""
        if not items:
            return
        with self._cond:
            for due, data in items:
                heapq.heappush(self._outgoing, (due, next(self._order), data))
            self._cond.notify_all()

    def _schedule(self, output: Output) -> None:
        if not output.chunks and not output.caused:
            return
        now = time.monotonic()
        with self._cond:
            last = max(now, self._replies_until) if self.simulator.sequential else now
            for delay, data in output.chunks:  # one reply's chunks stay in order
                last = max(last, now + delay)
                heapq.heappush(self._outgoing, (last, next(self._order), data))
            self._replies_until = max(self._replies_until, last)
            for delay, data in output.caused:
                heapq.heappush(self._outgoing, (now + delay, next(self._order), data))
            self._cond.notify_all()

    def _collect(self) -> None:
        now = time.monotonic()
        outgoing = self._outgoing
        while outgoing and outgoing[0][0] <= now:
            self._ready += heapq.heappop(outgoing)[2]
