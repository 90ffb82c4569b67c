"""An acquisition's writer thread: the engine hands each frame (with its table row and its
datastream rows) across a hand-off bounded in bytes, so snapping the next event overlaps
writing this one, and a slow disk costs the bounded memory, not the run's timing.

`overflow="block"`: the engine waits while the hand-off is full. `overflow="drop"`: the frame
is dropped (counted by the caller) and only its row goes over, marked `"dropped": true`, so
the table still says the plane is empty. Each job is announced (`written`, the engine's
acquisition_frame_ready) once it is in the dataset, in the order taken; a dropped one too,
without its pixels (they are not kept). The hand-off always takes a frame when nothing is
pending (a frame larger than the bound is still written). A writer that fails (any exception,
a BaseException too) stops the thread; the engine's next hand-over, or the end, raises
`WriterError` and nothing waits on a dead thread. The thread only touches the dataset writer
while it runs: the engine opens and finalizes it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..runtime import new_thread

HANDOFF_BYTES = 256 << 20  # frames between the engine and the writer at most (bytes of pixels)
OVERFLOWS = ("block", "drop")
WRITER_OPTIONS = {"handoff_bytes": "a whole number of bytes >= 0 (default 256 MiB; 0: one frame at a time)"}
THREAD_NAME = "mmkernel-acquire-writer"
log = logging.getLogger("mmkernel.acquisition")
_LOOK_S = 0.5  # a waiting engine looks this often whether the writer thread is still alive


class WriterError(RuntimeError):
    """The dataset writer raised: the acquisition ends as failed, with what was written."""


@dataclass
class Job:
    """One frame for the writer: the image it goes to (by name), its (t, c, z) index, its pixels
    (None: dropped, only the row is written), its table row, its channel, datastream rows, and
    its event (for the announcement)."""

    place: str
    index: dict[str, int]
    image: np.ndarray | None
    row: dict[str, Any]
    channel: str | None
    streams: list[dict[str, Any]] = field(default_factory=list)
    event: Any = None


def check_overflow(overflow: Any) -> str:
    if overflow not in OVERFLOWS:
        raise ValueError(
            f"acquire: overflow {overflow!r} is not allowed; allowed: 'block' (the engine waits for the "
            "writer) or 'drop' (frames the writer has no room for are dropped and counted)"
        )
    return str(overflow)


def check_writer_options(options: Any) -> dict[str, Any]:
    """The writer's options, checked before anything starts; every key known."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"acquire: writer_options must be a dict, not {type(options).__name__}")
    allowed = "; ".join(f"{key!r}: {what}" for key, what in WRITER_OPTIONS.items())
    for key, value in options.items():
        if key not in WRITER_OPTIONS:
            raise ValueError(f"acquire: writer_options key {key!r} is not known; allowed: {allowed}")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"acquire: writer_options {key}={value!r} is not allowed; allowed: {allowed}")
    return {key: int(value) for key, value in options.items()}


class WriterThread:
    """`put(job)` from the engine thread; `finish()` once, at the end, waits for every job
    handed over to be written and returns the writer's failure if there was one. `written(job)`
    is called on the writer thread after each job is in the dataset."""

    def __init__(self, writer: Any, overflow: str, handoff_bytes: int = HANDOFF_BYTES,
                 written: Callable[[Job], None] | None = None) -> None:  # fmt: skip
        self.writer = writer
        self._announce = written
        self.overflow = overflow
        self.handoff_bytes = handoff_bytes
        self.written = 0  # frames whose pixels are in the dataset
        self.error: WriterError | None = None
        self.waiting = False  # the engine waits for room now (the writer is behind)
        self._jobs: deque[Job] = deque()
        self._bytes = 0  # pixels queued or being written
        self._ending = False
        self._lock = threading.Condition()
        self._thread = new_thread(self._main, THREAD_NAME)

    def start(self) -> WriterThread:
        self._thread.start()
        return self

    def put(self, job: Job, copy: bool = False) -> bool:
        """Hand `job` over; False if its frame was dropped (its row still goes). `copy`: the
        pixels are a view the caller releases (a camera's ring): copied once room is found,
        so no frame is overwritten before it is written and a dropped one costs no copy."""
        size = job.image.nbytes if job.image is not None else 0
        with self._lock:
            while not self._room(size):
                self._check()
                if self.overflow == "drop":
                    job.image, size = None, 0
                    job.row = {**job.row, "dropped": True}
                    break
                self.waiting = True
                self._lock.wait(_LOOK_S)
            self.waiting = False
            self._check()
            self._bytes += size
        if copy and job.image is not None:
            job.image = np.array(job.image)
        with self._lock:
            self._jobs.append(job)
            self._lock.notify_all()
        return job.image is not None

    def _room(self, size: int) -> bool:
        return self._bytes == 0 or self._bytes + size <= self.handoff_bytes

    def _check(self) -> None:
        """Raise the writer's failure (or the thread's unexplained end) instead of waiting."""
        if self.error is None and not self._thread.is_alive() and self._thread.ident is not None:
            self.error = WriterError("acquire: the dataset writer thread ended without finishing its frames")
        if self.error is not None:
            raise self.error

    def finish(self) -> WriterError | None:
        """Wait until everything handed over is written (or the writer failed); the thread ends."""
        with self._lock:
            self._ending = True
            self._lock.notify_all()
        if self._thread.ident is not None:
            self._thread.join()
        return self.error

    def _main(self) -> None:
        while True:
            with self._lock:
                while not self._jobs and not self._ending:
                    self._lock.wait()
                if not self._jobs:
                    return
                job = self._jobs[0]  # left in the queue while it is written: its bytes still count
            try:
                self._write(job)
            except BaseException as exc:  # noqa: BLE001 - any failure ends the run, reported by the engine
                failure = WriterError(
                    f"acquire: writing the dataset failed at event {job.row.get('event')} {job.index} "
                    f"({type(exc).__name__}: {exc}); the run ended with "
                    f"the {self.written} frames written, and the dataset was finalized with them"
                )
                failure.__cause__ = exc
                with self._lock:
                    self.error = failure
                    self._jobs.clear()
                    self._bytes = 0
                    self._lock.notify_all()
                return
            with self._lock:
                self._jobs.popleft()
                if job.image is not None:
                    self._bytes -= job.image.nbytes
                    self.written += 1
                self._lock.notify_all()
            if self._announce is not None:
                try:
                    self._announce(job)
                except Exception:  # the frame is written; telling about it is not the run
                    log.exception("acquire: announcing a written frame failed")

    def _write(self, job: Job) -> None:
        writer = self.writer
        writer.write(writer.place(job.place), job.index, job.image, job.row, job.channel)
        if job.streams:
            writer.add_streams(job.streams)
