"""What travels between a camera's reader and writer threads: runs of frames, through a bounded
hand-off (used when there are steps), so processing and writing overlap without either side
holding more than a bounded amount of memory."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..frames import FrameHeader, Slot

RUN = 512  # frames taken (from the buffer, from the hand-off) at once at most
POLL_S = 0.05  # how often a waiting thread looks at whether the recording was stopped or failed
HANDOFF_FRAMES = 1024  # frames between the reader and the writer at most ...
HANDOFF_BYTES = 256 << 20  # ... and bytes of step outputs (frames still in the buffer cost nothing extra)


@dataclass
class Run:
    """Frames on their way to the writer: `arrays` are (n, *frame) pieces, `headers` one per
    frame, `slots` the buffer slots to release once written (taken without Frame objects: no
    steps; with steps a frame's slot goes when the last view of its pixels does), `owned` bytes
    of step outputs."""

    arrays: list[np.ndarray] = field(default_factory=list)
    headers: list[FrameHeader] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    owned: int = 0


class Handoff:
    """The bounded queue between a camera's reader and writer (used when there are steps)."""

    def __init__(self) -> None:
        self._runs: deque[Run] = deque()
        self._frames = 0
        self._bytes = 0
        self._lock = threading.Condition()
        self.ended = False
        self.aborted = False

    def put(self, run: Run) -> bool:
        """Wait for room; False once the recording was aborted (the caller keeps the run)."""
        with self._lock:
            while (
                not self.aborted
                and self._runs
                and (self._frames >= HANDOFF_FRAMES or self._bytes + run.owned > HANDOFF_BYTES)
            ):
                self._lock.wait(POLL_S)
            if self.aborted:
                return False
            self._runs.append(run)
            self._frames += len(run.headers)
            self._bytes += run.owned
            self._lock.notify_all()
            return True

    def take(self) -> Run | None:
        """What is queued, as one run (empty if nothing came within POLL_S); None after the end
        (or an abort)."""
        with self._lock:
            if not self._runs and not self.ended and not self.aborted:
                self._lock.wait(POLL_S)
            if not self._runs:
                return None if self.ended or self.aborted else Run()
            merged = Run()
            while self._runs and len(merged.headers) < RUN:
                run = self._runs.popleft()
                merged.arrays += run.arrays
                merged.headers += run.headers
                merged.owned += run.owned
                self._frames -= len(run.headers)
                self._bytes -= run.owned
            self._lock.notify_all()
            return merged

    def end(self) -> None:
        with self._lock:
            self.ended = True
            self._lock.notify_all()

    def abort(self) -> list[Run]:
        """Stop both sides; returns what was still queued (for the caller to release)."""
        with self._lock:
            self.aborted = True
            left = list(self._runs)
            self._runs.clear()
            self._frames = self._bytes = 0
            self._lock.notify_all()
            return left

    def __len__(self) -> int:
        return self._frames
