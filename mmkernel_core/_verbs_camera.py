"""Camera verbs: snap, and streaming through each camera's own buffer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mmkernel_sdk.errors import DeviceStateError, MMKernelError, PropertyError, StreamEnded

from ._base import KernelBase
from ._buffer import POLICIES, BufferStats, FrameBuffer
from ._faces import closed_error, verb
from ._frame_format import frame_format
from ._frames import Frame
from ._loaded import LoadedDevice
from ._request import Request
from ._sequence import Sequence
from ._stream import Stream

MB = 1024 * 1024
log = logging.getLogger("mmkernel.camera")


class CameraVerbs(KernelBase):
    roles: Any
    frame_metadata: bool
    default_buffer_mb: float
    _buffers: dict[str, FrameBuffer]
    _buffer_mb: dict[str, float]
    _sequences: dict[str, Sequence]

    # -- snap -------------------------------------------------------------------------------
    @verb
    def snap(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """Expose one image on `camera` (default: the Camera role) and return it as a numpy
        array. With auto-shutter on, the Shutter role is opened for the exposure and closed
        after it."""
        loaded = self._camera(camera, "snap")
        self._not_streaming(loaded, "snap")
        shutter = self.roles.shutter if self.roles.auto_shutter else ""
        limit = self._dispatch.limit(timeout) + (0.0 if timeout is not None else self._exposure_s(loaded.label))
        return self._call(loaded, "snap", self._snap, loaded, shutter, timeout=limit)

    def _snap(self, loaded: LoadedDevice, shutter: str) -> np.ndarray:
        device: Any = loaded.device
        shape, dtype = frame_format(device, loaded.label)
        image = np.empty(shape, dtype=dtype)
        with self._shutter_open_for(shutter):
            device.snap(image)
        return image

    def _exposure_s(self, label: str) -> float:
        """The camera's cached exposure in seconds (0 if unknown): added to default deadlines of
        calls that expose, so a long exposure does not time out or fault the camera."""
        try:
            exposure_ms = float(self._cache.get(label, "Exposure"))
        except (MMKernelError, TypeError, ValueError):
            return 0.0
        return max(0.0, exposure_ms) / 1000.0 if exposure_ms == exposure_ms else 0.0

    @contextmanager
    def _shutter_open_for(self, shutter: str) -> Iterator[None]:
        """Open `shutter` (if any, and if closed) around the block, and close it after."""
        opened = self._open_shutter(shutter)
        try:
            yield
        finally:
            if opened:
                self._close_shutter(shutter)

    def _open_shutter(self, shutter: str) -> bool:
        """Auto-shutter: open `shutter` if it is closed and wait for it; True if it was opened.
        (Verbs are called by their request functions: this also runs while the kernel closes.)"""
        verbs: Any = type(self)
        if not shutter or verbs.get_shutter_open.fn(self, shutter).result():
            return False
        verbs.set_shutter_open.fn(self, shutter, True).result()
        verbs.wait_for.fn(self, shutter).result()
        return True

    def _close_shutter(self, shutter: str) -> None:
        type(self).set_shutter_open.fn(self, shutter, False).result()  # type: ignore[attr-defined]

    # -- region of interest -----------------------------------------------------------------
    @verb
    def set_roi(
        self, camera: str | None, x: int, y: int, width: int, height: int, *, timeout: float | None = None
    ) -> Request:
        """Read out only (x, y, width, height), in binned pixels; not while streaming."""
        loaded = self._camera(camera, "set_roi")
        for name, value, low in (("x", x, 0), ("y", y, 0), ("width", width, 1), ("height", height, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise bad_argument(loaded.label, f"ROI {name}", value, f"a whole number >= {low}")
        self._not_streaming(loaded, "set_roi")
        return self._call(loaded, "set_roi", loaded.device.set_roi, x, y, width, height, timeout=timeout)  # type: ignore[attr-defined]

    @verb
    def get_roi(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """(x, y, width, height) being read out."""
        loaded = self._camera(camera, "get_roi")
        return self._call(loaded, "get_roi", loaded.device.get_roi, timeout=timeout)  # type: ignore[attr-defined]

    @verb
    def clear_roi(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """Read out the whole sensor again; not while streaming."""
        loaded = self._camera(camera, "clear_roi")
        self._not_streaming(loaded, "clear_roi")
        return self._call(loaded, "clear_roi", loaded.device.clear_roi, timeout=timeout)  # type: ignore[attr-defined]

    def _not_streaming(self, loaded: LoadedDevice, verb_name: str) -> None:
        if self._streaming(loaded.label):
            raise DeviceStateError(f"camera {loaded.label!r} is streaming; stop_sequence() before {verb_name}()")

    # -- buffers ----------------------------------------------------------------------------
    @verb
    def set_buffer_size(self, camera: str, mb: float) -> Request:
        """Size of `camera`'s frame buffer in MB; the buffer is reallocated (and populated in the
        background) now if the camera is initialized, else at initialize."""
        loaded = self._camera(camera, "set_buffer_size", need_init=False)
        if not isinstance(mb, (int, float)) or isinstance(mb, bool) or not 1 <= mb <= 1024 * 1024:
            raise bad_argument(loaded.label, "buffer size", mb, "1 .. 1048576 MB")
        self._not_streaming(loaded, "set_buffer_size")
        # On the camera's runner, so it is ordered with start_sequence (which picks the buffer there).
        return self._call(loaded, "set_buffer_size", self._resize_buffer, loaded, float(mb))

    def _resize_buffer(self, loaded: LoadedDevice, mb: float) -> None:
        if self._streaming(loaded.label):
            raise DeviceStateError(f"camera {loaded.label!r} is streaming; stop it before resizing its buffer")
        old = self._buffers.get(loaded.label)
        if loaded.initialized:  # allocate first: if that fails, the old size and buffer remain
            self._buffers[loaded.label] = FrameBuffer(loaded.label, int(mb * MB))
        else:
            self._buffers.pop(loaded.label, None)
        self._buffer_mb[loaded.label] = mb
        if old is not None:
            old.close()

    @verb
    def buffer_size(self, camera: str | None = None) -> Request:
        """`camera`'s buffer size in MB."""
        label = self._camera(camera, "buffer_size", need_init=False).label
        return Request.completed(label, "buffer_size", self._buffer_mb.get(label, self.default_buffer_mb))

    @verb
    def buffer_stats(self, camera: str | None = None) -> Request:
        """Frames produced, delivered, dropped, pending, and high-water marks of the last sequence."""
        buffer: BufferStats = self._buffer_of(camera, "buffer_stats").stats()
        return Request.completed(str(camera), "buffer_stats", buffer)

    # -- sequences --------------------------------------------------------------------------
    @verb
    def start_sequence(
        self,
        camera: str | None = None,
        count: int | None = None,
        interval_ms: float = 0.0,
        overflow: str = "stop",
        *,
        timeout: float | None = None,
    ) -> Request:
        """Stream `count` frames (None: until stopped) into the camera's buffer, one every
        `interval_ms` at most. overflow: "stop" (end with BufferOverflowError after the kept
        frames), "overwrite" (drop the oldest unread, live mode) or "block" (camera waits)."""
        loaded = self._camera(camera, "start_sequence")
        if overflow not in POLICIES:
            raise bad_argument(loaded.label, "overflow", overflow, ", ".join(POLICIES))
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise bad_argument(loaded.label, "count", count, "a whole number >= 1, or None")
        if not isinstance(interval_ms, (int, float)) or isinstance(interval_ms, bool) or interval_ms < 0:
            raise bad_argument(loaded.label, "interval_ms", interval_ms, "a number >= 0")
        if self._streaming(loaded.label):
            raise DeviceStateError(f"camera {loaded.label!r} is already streaming; stop_sequence() first")
        sequence = Sequence(loaded, self._cache, count, float(interval_ms), self.frame_metadata)
        shutter = self.roles.shutter if self.roles.auto_shutter else ""
        return self._call(loaded, "start_sequence", self._begin, loaded, sequence, overflow, shutter, timeout=timeout)

    def _begin(self, loaded: LoadedDevice, sequence: Sequence, overflow: str, shutter: str) -> None:
        """On the camera's runner, so concurrent starts (and buffer resizes) are decided one
        after the other; the sequence is published only once it really runs. With auto-shutter,
        the shutter opens before the first frame and closes when the sequence ends (as MMCore)."""
        if self._streaming(loaded.label):
            raise DeviceStateError(f"camera {loaded.label!r} is already streaming; stop_sequence() first")
        buffer = self._buffer_for(loaded.label)
        buffer.start(overflow, loaded.runner.wake)
        opened = False
        try:
            opened = self._open_shutter(shutter)
            sequence.begin(buffer)
        except BaseException:
            sequence.running = False
            buffer.finish()
            if opened:
                self._close_shutter_quietly(loaded.label, shutter)
            raise
        if opened:
            sequence.on_end = lambda: self._close_shutter(shutter)
        self._sequences[loaded.label] = sequence
        loaded.runner.start_task(sequence)

    def _close_shutter_quietly(self, camera: str, shutter: str) -> None:
        try:
            self._close_shutter(shutter)
        except BaseException as error:  # noqa: BLE001 - the start's own failure is what the caller needs
            log.warning("camera %r: closing shutter %r after a failed start: %s", camera, shutter, error)

    @verb
    def stop_sequence(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """Stop streaming after the frame in progress; frames already taken stay readable. If that
        frame read hangs (camera faulted), the stop is registered and happens when it returns."""
        loaded = self._camera(camera, "stop_sequence")
        sequence = self._sequences.get(loaded.label)
        if sequence is None or not sequence.running:
            return Request.completed(loaded.label, "stop_sequence", None)
        self._interrupt_sequence(loaded.label)
        if loaded.runner.hung is not None:  # a frame read hangs: the sequence ends when it returns
            return Request.completed(loaded.label, "stop_sequence", None)
        return self._call(loaded, "stop_sequence", sequence.end, timeout=timeout)

    def _interrupt_sequence(self, label: str) -> None:
        """From any thread: make the sequence end at its next step, even if it waits for space."""
        sequence = self._sequences.get(label)
        if sequence is not None and sequence.running:
            sequence.stop_requested.set()
            sequence.buffer.wake_writer()

    @verb
    def is_sequence_running(self, camera: str | None = None) -> Request:
        label = self._camera(camera, "is_sequence_running", need_init=False).label
        return Request.completed(label, "is_sequence_running", self._streaming(label))

    @verb
    def sequence_summary(self, camera: str | None = None) -> Request:
        """The last sequence's summary: camera, count, interval, overflow, format, full system state."""
        label = self._camera(camera, "sequence_summary", need_init=False).label
        sequence = self._sequences.get(label)
        if sequence is None:
            raise StreamEnded(f"camera {label!r}: no sequence has been started")
        return Request.completed(label, "sequence_summary", dict(sequence.summary))

    # -- consuming --------------------------------------------------------------------------
    @verb
    def pop_next(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """The oldest unread frame (waiting up to `timeout`); after the last frame, StreamEnded or
        the error that ended the sequence. Release frames (or use `with`) when done with them."""
        buffer = self._buffer_of(camera, "pop_next")
        request = Request(buffer.camera, "pop_next")
        buffer.pop_into(request, self._dispatch.limit(timeout), self._dispatch.watchdog.call_at)
        return request

    @pop_next.blocking
    def pop_next(self, camera: str | None = None, *, timeout: float | None = None) -> Frame:
        if self._closed:
            raise closed_error("pop_next")
        return self._buffer_of(camera, "pop_next").pop(self._dispatch.limit(timeout))

    @verb
    def latest(self, camera: str | None = None) -> Request:
        """The newest frame without taking it from the queue (live view); release it when done."""
        buffer = self._buffer_of(camera, "latest")
        return Request.completed(buffer.camera, "latest", buffer.latest())

    @verb
    def remaining(self, camera: str | None = None) -> Request:
        """Frames waiting to be popped."""
        buffer = self._buffer_of(camera, "remaining")
        return Request.completed(buffer.camera, "remaining", buffer.remaining())

    def stream(
        self, camera: str | None = None, count: int | None = None, interval_ms: float = 0.0, overflow: str = "stop"
    ) -> Stream:
        """Iterate a sequence's frames: `with kernel.stream("Cam", count=1000) as s: for f in s`.
        Each frame is released when the loop moves on; leaving the block stops the sequence."""
        return Stream(self, camera, count, interval_ms, overflow)

    # -- helpers ----------------------------------------------------------------------------
    def _camera(self, camera: str | None, verb_name: str, need_init: bool = True) -> LoadedDevice:
        label = camera or self.roles.camera
        if not label:
            raise DeviceStateError(f"{verb_name}(): no camera given and no Camera role is set")
        loaded = self._loaded(label)
        loaded.require_type("Camera", verb_name)
        if need_init and not loaded.initialized:
            raise DeviceStateError(f"device {label!r} is not initialized; {verb_name}() needs initialize() first")
        return loaded

    def _streaming(self, label: str) -> bool:
        sequence = self._sequences.get(label)
        return sequence is not None and sequence.running

    def _buffer_for(self, label: str) -> FrameBuffer:
        buffer = self._buffers.get(label)
        if buffer is None:
            size = int(self._buffer_mb.get(label, self.default_buffer_mb) * MB)
            buffer = self._buffers[label] = FrameBuffer(label, size)
        return buffer

    def _buffer_of(self, camera: str | None, verb_name: str) -> FrameBuffer:
        label = self._camera(camera, verb_name, need_init=False).label
        buffer = self._buffers.get(label)
        if buffer is None:
            raise StreamEnded(f"camera {label!r}: no sequence has been started, so there are no frames")
        return buffer

    def _forget_camera(self, label: str) -> None:
        """The camera is being unloaded (on its runner): end its sequence, free its buffer."""
        sequence = self._sequences.pop(label, None)
        try:
            if sequence is not None:
                if sequence.loaded.runner.task is sequence:  # a hub's runner lives on: drop the task now
                    sequence.loaded.runner.task = None
                sequence.end()
        finally:
            buffer = self._buffers.pop(label, None)
            if buffer is not None:
                buffer.close()
            self._buffer_mb.pop(label, None)


def bad_argument(camera: str, name: str, value: Any, allowed: str) -> PropertyError:
    """The rejection every camera verb argument gets: names camera, argument, value, what is allowed."""
    return PropertyError(
        f"camera {camera!r}: {name} {value!r} is not allowed; allowed: {allowed}",
        device=camera,
        property=name,
        value=value,
        allowed=allowed,
    )
