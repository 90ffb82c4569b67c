"""Sequence: a camera streaming into its buffer, one frame per runner step.

It runs as the camera runner's task, so requests (setting Exposure mid-sequence, stopping) are
served between frames. Each frame's header carries only the property changes since the previous
frame (plus the camera's tags); the full system state is captured once, in `summary`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mmkernel_sdk.errors import BufferOverflowError, DeviceError, KernelClosedError, MMKernelError

from ..devices import LoadedDevice, StateCache
from ._arena import Slot
from ._buffer import FrameBuffer, NoSpace
from ._frame_format import frame_format
from ._frames import NO_METADATA, FrameHeader

log = logging.getLogger("mmkernel.sequence")

# A "block" sequence waiting for space is woken when a reader frees some; it also looks again
# this often, for space freed in ways that do not wake it (a frame released by the GC).
BLOCK_RECHECK_S = 0.05
_UNSET: Any = object()


def _log_now(logger: logging.Logger, level: int, message: str, *args: Any, device: str | None = None) -> None:
    logger.log(level, message, *args, extra={"device": device})


class Sequence:
    step_name = "frame read"

    def __init__(
        self,
        loaded: LoadedDevice,
        cache: StateCache,
        count: int | None,
        interval_ms: float,
        metadata: bool,
    ) -> None:
        self.loaded = loaded
        self.camera = self.label = loaded.label
        self.buffer: FrameBuffer = _UNSET  # chosen on the camera's runner, in begin()
        self.count = count
        self.interval_s = interval_ms / 1000.0
        self.metadata = metadata
        self.stop_requested = threading.Event()
        self.running = True
        self._ending = False  # end() has begun (running stays True until it has run on_end)
        self.produced = 0
        self.error: MMKernelError | None = None
        self.on_end: Callable[[], None] | None = None  # e.g. closing the auto-shutter
        self.closing: Any = None  # the auto-shutter's closing request, once the sequence has ended
        self.report: Callable[..., None] = _log_now  # logging, handed off the camera's thread
        self._cache = cache
        self._changes: deque[tuple[str, str, Any]] = deque()
        self._pending: dict[str, Any] = {}  # changes not yet attached to a frame
        self._shape: tuple[int, ...] = ()
        self._dtype = np.dtype(np.uint8)
        self._components = 1
        self._nbytes = 0
        self._read_frame: Callable[[np.ndarray], Any] = loaded.device.read_frame  # type: ignore[attr-defined]
        self._next_due = 0.0
        self._slot: Slot | None = None  # reserved and not yet committed
        self.summary: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"the sequence of camera {self.camera!r}"

    def begin(self, buffer: FrameBuffer) -> None:
        """On the camera's runner: capture the summary, arm the hardware, subscribe to changes."""
        device: Any = self.loaded.device
        self.buffer = buffer
        self._query_format()
        self.summary = {
            "camera": self.camera,
            "count": self.count,
            "interval_ms": self.interval_s * 1000.0,
            "overflow": self.buffer.policy,
            "started": time.time(),
            "shape": self._shape,
            "dtype": str(self._dtype),
            "system_state": self._cache.snapshot(),
        }
        device.start_sequence(self.count, self.interval_s * 1000.0)
        self._cache.add_listener(self._changes)
        self._next_due = time.monotonic()

    def _query_format(self) -> None:
        self._shape, self._dtype = frame_format(self.loaded.device, self.camera)
        self._components = self._shape[2] if len(self._shape) == 3 else 1
        self._nbytes = nbytes = int(np.prod(self._shape)) * self._dtype.itemsize
        if nbytes > self.buffer.capacity:
            raise BufferOverflowError(
                f"camera {self.camera!r}: a {self._shape} {self._dtype} frame ({nbytes / 2**20:g} MB) does not "
                f"fit its {self.buffer.capacity / 2**20:g} MB buffer; enlarge it with set_buffer_size"
            )

    # -- Task protocol ----------------------------------------------------------------------
    def step(self) -> float | None:
        try:
            return self._step()
        except BaseException as error:  # noqa: BLE001 - anything unexpected ends the sequence, loudly
            self._give_back()
            failure = error if isinstance(error, MMKernelError) else self._failure("sequence", error)
            self.end(failure)
            return None

    def _step(self) -> float | None:
        if not self.running or self.stop_requested.is_set() or (self.count is not None and self.produced >= self.count):
            self.end()
            return None
        if self._changes:
            self._collect_changes()
        buffer = self.buffer
        try:
            slot, view = buffer.acquire(self._shape, self._dtype, self._nbytes)
        except BufferOverflowError as error:
            self.end(error)
            return None
        except NoSpace:  # "block": serve requests meanwhile, look again when space is freed
            return time.monotonic() + BLOCK_RECHECK_S
        self._slot = slot
        try:
            tags = self._read_frame(view)
        except BaseException as error:  # noqa: BLE001 - ends the sequence; the consumer gets it
            self._give_back()
            self.end(self._failure("read_frame", error))
            return None
        buffer.commit(slot, self._header(tags))
        self._slot = None
        self.produced += 1
        if self.interval_s:
            self._next_due += self.interval_s
            return self._next_due
        return 0.0

    def cancel(self, reason: str) -> None:
        self.end(KernelClosedError(f"camera {self.camera!r}: sequence ended: {reason}"))

    # -- helpers ----------------------------------------------------------------------------
    def _header(self, tags: Any) -> FrameHeader:
        if tags is None:  # the common case first: no tags, usually nothing changed
            camera_time = None
            metadata: Any = NO_METADATA
            if self._pending:
                metadata = self._pending if self.metadata else NO_METADATA
                self._pending = {}
            return FrameHeader(self.produced, self.camera, self._shape, self._dtype, self._components, time.time(),
                               camera_time, metadata)  # fmt: skip
        if not isinstance(tags, Mapping):
            raise DeviceError(
                self.camera,
                "read_frame",
                f"camera {self.camera!r}: read_frame() returned {tags!r}; allowed: a dict of tags or None",
            )
        camera_time = tags.get("ElapsedTime-ms") if tags else None
        metadata = NO_METADATA
        if self.metadata and (self._pending or tags):
            metadata = {**self._pending, **tags} if tags else self._pending
        self._pending = {}
        return FrameHeader(
            self.produced, self.camera, self._shape, self._dtype, self._components, time.time(), camera_time, metadata
        )

    def _collect_changes(self) -> None:
        """Drain the changes since the last look into the next frame's metadata; a change on
        this camera may change the frame format, so it is asked again."""
        changes = self._changes
        if not changes:
            return
        found = self._pending
        camera_changed = False
        while changes:
            label, name, value = changes.popleft()
            if self.metadata:
                found[f"{label}-{name}"] = value
            camera_changed = camera_changed or label == self.camera
        if camera_changed:
            self._query_format()

    def _give_back(self) -> None:
        """A reserved slot the camera did not fill goes back to the buffer."""
        slot, self._slot = self._slot, None
        if slot is not None:
            self.buffer.abort(slot)

    def _failure(self, operation: str, error: BaseException) -> DeviceError:
        what = {"read_frame": " failed during a sequence", "sequence": ": the sequence failed"}.get(
            operation, f": {operation}() failed in a sequence"
        )
        failure = DeviceError(
            self.camera,
            operation,
            f"camera {self.camera!r}{what} after {self.produced} frames: {type(error).__name__}: {error}",
        )
        failure.__cause__ = error
        return failure

    def end(self, error: MMKernelError | None = None) -> None:
        """Stop for good (idempotent): disarm the hardware, run `on_end`, tell the consumers.
        Each step runs whatever the one before raised. The sequence reads as running until
        `on_end` has run, so whoever sees it ended (and then waits for the system) finds the
        auto-shutter's close already queued."""
        if self._ending:
            return
        self._ending = True
        self.stop_requested.set()
        self._cache.remove_listener(self._changes)
        try:
            self.loaded.device.stop_sequence()  # type: ignore[attr-defined]
        except BaseException as problem:  # noqa: BLE001 - reported to the consumers instead
            error = error or self._failure("stop_sequence", problem)
        if self.on_end is not None:
            try:
                self.on_end()
            except BaseException as problem:  # noqa: BLE001 - the frames are fine; say so in the log
                self.report(log, logging.WARNING, "camera %r: after the sequence: %s", self.camera, problem,
                            device=self.camera)  # fmt: skip
        self.error = error
        self.running = False
        if self.buffer is not _UNSET:
            self.buffer.finish(error)
