"""Sequence: a camera streaming into its buffer, one frame per runner step.

It runs as the camera runner's task, so requests (setting Exposure mid-sequence, stopping) are
served between frames. Each frame's header carries only the property changes since the previous
frame (plus the camera's tags); the full system state is captured once, in `summary`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from mmkernel_sdk.errors import BufferOverflowError, DeviceError, KernelClosedError, MMKernelError

from ._buffer import FrameBuffer, _Stopped
from ._cache import StateCache
from ._frames import NO_METADATA, FrameHeader
from ._loaded import LoadedDevice


class Sequence:
    step_name = "frame read"

    def __init__(
        self,
        loaded: LoadedDevice,
        buffer: FrameBuffer,
        cache: StateCache,
        count: int | None,
        interval_ms: float,
        metadata: bool,
    ) -> None:
        self.loaded = loaded
        self.camera = self.label = loaded.label
        self.buffer = buffer
        self.count = count
        self.interval_s = interval_ms / 1000.0
        self.metadata = metadata
        self.stop_requested = threading.Event()
        self.running = True
        self.produced = 0
        self.error: MMKernelError | None = None
        self._cache = cache
        self._changes: deque[tuple[str, str, Any]] = deque()
        self._shape: tuple[int, ...] = ()
        self._dtype = np.dtype(np.uint8)
        self._components = 1
        self._next_due = 0.0
        self.summary: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"the sequence of camera {self.camera!r}"

    def begin(self) -> None:
        """On the camera's runner: capture the summary, arm the hardware, subscribe to changes."""
        device: Any = self.loaded.device
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
        device: Any = self.loaded.device
        self._shape = tuple(device.frame_shape())
        self._dtype = np.dtype(device.frame_dtype())
        self._components = self._shape[2] if len(self._shape) == 3 else 1
        nbytes = int(np.prod(self._shape)) * self._dtype.itemsize
        if nbytes > self.buffer.capacity:
            raise BufferOverflowError(
                f"camera {self.camera!r}: a {self._shape} {self._dtype} frame ({nbytes / 2**20:g} MB) does not "
                f"fit its {self.buffer.capacity / 2**20:g} MB buffer; enlarge it with set_buffer_size"
            )

    # -- Task protocol ----------------------------------------------------------------------
    def step(self) -> float | None:
        try:
            return self._step()
        except Exception as error:  # noqa: BLE001 - anything unexpected ends the sequence, loudly
            failure = DeviceError(
                self.camera,
                "sequence",
                f"camera {self.camera!r}: the sequence failed after {self.produced} frames: "
                f"{type(error).__name__}: {error}",
            )
            failure.__cause__ = error
            self.end(failure)
            return None

    def _step(self) -> float | None:
        if not self.running or self.stop_requested.is_set() or (self.count is not None and self.produced >= self.count):
            self.end()
            return None
        metadata = self._collect_changes()
        try:
            slot, view = self.buffer.acquire(self._shape, self._dtype, self.stop_requested)
        except BufferOverflowError as error:
            self.end(error)
            return None
        except _Stopped:
            self.end()
            return None
        try:
            tags = self.loaded.device.read_frame(view)  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001 - ends the sequence; the consumer gets it
            self.buffer.abort(slot)
            failure = DeviceError(
                self.camera,
                "read_frame",
                f"camera {self.camera!r} failed during a sequence after {self.produced} frames: "
                f"{type(error).__name__}: {error}",
            )
            failure.__cause__ = error
            self.end(failure)
            return None
        camera_time = tags.get("ElapsedTime-ms") if tags else None
        if tags and self.metadata:
            metadata = dict(tags) if metadata is NO_METADATA else {**metadata, **tags}
        header = FrameHeader(
            self.produced, self.camera, self._shape, self._dtype, self._components, time.time(), camera_time, metadata
        )
        self.buffer.commit(slot, header)
        self.produced += 1
        if self.interval_s:
            self._next_due += self.interval_s
            return self._next_due
        return 0.0

    def cancel(self, reason: str) -> None:
        self.end(KernelClosedError(f"camera {self.camera!r}: sequence ended: {reason}"))

    # -- helpers ----------------------------------------------------------------------------
    def _collect_changes(self) -> Any:
        """Drain the changes since the last frame; a change on this camera may change the frame
        format, so it is asked again."""
        changes = self._changes
        if not changes:
            return NO_METADATA
        found: dict[str, Any] = {}
        camera_changed = False
        while changes:
            label, name, value = changes.popleft()
            found[f"{label}-{name}"] = value
            camera_changed = camera_changed or label == self.camera
        if camera_changed:
            self._query_format()
        return found if self.metadata else NO_METADATA

    def end(self, error: MMKernelError | None = None) -> None:
        """Stop for good (idempotent): disarm the hardware and tell the consumers."""
        if not self.running:
            return
        self.running = False
        self.stop_requested.set()
        self.error = error
        self._cache.remove_listener(self._changes)
        try:
            self.loaded.device.stop_sequence()  # type: ignore[attr-defined]
        finally:
            self.buffer.finish(error)
