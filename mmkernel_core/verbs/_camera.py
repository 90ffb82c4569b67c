"""Camera verbs: snap, region of interest, buffers, auto-shutter; the shared camera helpers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mmkernel_sdk.errors import DeviceStateError, MMKernelError, PropertyError, StreamEnded

from ..devices import LoadedDevice
from ..frames import BufferStats, FrameBuffer, FrameMemory, SpareMemory, frame_format
from ..runtime import Request, ThreadPool, after_ok, then
from ._auto_shutter import Hold, ShutterHolds
from ._base import KernelBase
from ._faces import verb

MB = 1024 * 1024
log = logging.getLogger("mmkernel.camera")


class CameraVerbs(KernelBase):
    _spare_memory: SpareMemory
    _loading_config: bool  # a configuration load is running (an unloaded camera's memory is kept for the next)
    _threads: ThreadPool
    roles: Any
    frame_metadata: bool
    default_buffer_mb: float
    _shutter_holds: ShutterHolds

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
        if not shutter:
            return self._call(loaded, "snap", self._snap, loaded, timeout=limit)
        # The auto-shutter's open is queued from here; once it is done, its runner queues the
        # snap, and the camera's runner queues the close: nothing waits on a runner (the shutter
        # may need the camera's runner itself, a Utilities shutter driving a hub's state device,
        # and a runner waiting on it would be a deadlock), and no thread wakes between the steps.
        hold, opening = self._hold_shutter_queued(shutter)
        try:
            if opening is None:  # held open already (another holder): expose at once
                snapped = self._call(loaded, "snap", self._snap, loaded, timeout=limit)
            else:
                queue_snap = lambda: self._dispatch.queue(loaded, "snap", self._snap, loaded, timeout=limit)  # noqa: E731
                snapped = after_ok(opening, queue_snap, loaded.label, "snap")
        except BaseException:
            self._release_shutter(hold)
            raise
        return then(snapped, lambda _: self._release_shutter_later(hold))

    def _snap(self, loaded: LoadedDevice) -> np.ndarray:
        self._not_streaming(loaded, "snap")  # again on the runner: a start may have been queued first
        device: Any = loaded.device
        shape, dtype = frame_format(device, loaded.label)
        image = np.empty(shape, dtype=dtype)
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

    # -- auto-shutter -----------------------------------------------------------------------
    def _hold_shutter(self, shutter: str) -> Hold:
        """Auto-shutter: hold `shutter` open (opened, and waited for, by its first holder).
        Verbs are called by their request functions: this also runs while the kernel closes."""
        call_open = self._shutter_opener(shutter, self._dispatch.call)  # inline on the shutter's own runner
        return self._shutter_holds.hold(shutter, lambda: bool(call_open().result()))

    def _hold_shutter_queued(self, shutter: str) -> tuple[Hold, Request | None]:
        """`_hold_shutter` without waiting: the open's request (None if held open already)."""
        return self._shutter_holds.hold_queued(shutter, self._shutter_opener(shutter, self._dispatch.queue))

    def _shutter_opener(self, shutter: str, dispatch: Callable[..., Request]) -> Callable[[], Request]:
        """What starts the auto-shutter's open (`dispatch`: the dispatcher's call or queue): read,
        open and wait in place on the shutter's runner (one hand-off); its result says whether
        it opened the shutter."""
        kernel: Any = self
        loaded = self._loaded(shutter)
        loaded.require_type("Shutter", "auto-shutter")

        def open_if_closed() -> bool:
            if kernel._read_value(loaded, "State"):
                return False
            opened = kernel._checked_value(loaded, "State", 1)
            kernel._apply_and_wait(loaded, "State", opened, time.monotonic() + kernel._dispatch.limit(None))
            return True

        return lambda: dispatch(loaded, "auto-shutter open", open_if_closed)

    def _release_shutter(self, hold: Hold) -> None:
        closing = self._release_shutter_later(hold)
        if closing is not None:
            closing.result()

    def _release_shutter_later(self, hold: Hold) -> Request | None:
        """Let go of the hold; the closing request of the shutter it is on now (the Shutter role
        may have changed meanwhile: what is open is what gets closed), queued but not waited for
        (a runner may call this: the shutter's own runner may need it), or None if it stays open."""
        verbs: Any = type(self)
        return self._shutter_holds.release(hold, lambda label: verbs.set_shutter_open.fn(self, label, False))

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
        device: Any = loaded.device
        return self._call(loaded, "set_roi", self._not_while_streaming, loaded, "set_roi", device.set_roi,
                          (x, y, width, height), timeout=timeout)  # fmt: skip

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
        device: Any = loaded.device
        return self._call(loaded, "clear_roi", self._not_while_streaming, loaded, "clear_roi", device.clear_roi, (),
                          timeout=timeout)  # fmt: skip

    def _not_while_streaming(self, loaded: LoadedDevice, verb_name: str, method: Any, args: tuple[Any, ...]) -> Any:
        """On the runner: refuse if a sequence started meanwhile (it was queued first), else run."""
        self._not_streaming(loaded, verb_name)
        return method(*args)

    def _not_streaming(self, loaded: LoadedDevice, verb_name: str) -> None:
        if self._streaming(loaded):
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
        self._not_streaming(loaded, "set_buffer_size")
        state = loaded.camera
        old = state.buffer
        if loaded.initialized:  # allocate first: if that fails, the old size and buffer remain
            state.buffer = self._new_buffer(loaded.label, int(mb * MB))
        else:
            state.buffer = None
        state.buffer_mb = mb
        if old is not None:
            unread = old.remaining()
            if unread:
                self._report(log, logging.WARNING, "camera %r: %d unread frames discarded by set_buffer_size",
                             loaded.label, unread, device=loaded.label)  # fmt: skip
            old.close()

    @verb
    def buffer_size(self, camera: str | None = None) -> Request:
        """`camera`'s buffer size in MB."""
        loaded = self._camera(camera, "buffer_size", need_init=False)
        size = loaded.camera.buffer_mb if loaded.camera.buffer_mb is not None else self.default_buffer_mb
        return Request.completed(loaded.label, "buffer_size", size)

    @verb
    def buffer_stats(self, camera: str | None = None) -> Request:
        """Frames produced, delivered, dropped, pending, and high-water marks of the last sequence."""
        buffer: BufferStats = self._buffer_of(camera, "buffer_stats").stats()
        return Request.completed(str(camera), "buffer_stats", buffer)

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

    @staticmethod
    def _streaming(loaded: LoadedDevice) -> bool:
        sequence = loaded.camera.sequence
        return sequence is not None and sequence.running

    def _buffer_for(self, loaded: LoadedDevice) -> FrameBuffer:
        state = loaded.camera
        if state.buffer is None:
            mb = state.buffer_mb if state.buffer_mb is not None else self.default_buffer_mb
            state.buffer = self._new_buffer(loaded.label, int(mb * MB))
        return state.buffer  # type: ignore[no-any-return]

    def _new_buffer(self, label: str, nbytes: int) -> FrameBuffer:
        """A block an unloaded camera left during this configuration load, else a new one; its
        pages become resident once the camera first streams."""
        memory = self._spare_memory.take(nbytes)
        if memory is None:
            memory = FrameMemory(nbytes, label, self._threads.run)
        return FrameBuffer(label, nbytes, memory)

    def _retire_buffer(self, buffer: FrameBuffer) -> None:
        """During a configuration load, a block no reader can still see is kept for the next
        system's cameras; otherwise it goes when its last view does."""
        if self._loading_config and buffer.retire():
            self._spare_memory.keep(buffer.memory)
        else:
            buffer.close()

    def _buffer_of(self, camera: str | None, verb_name: str) -> FrameBuffer:
        loaded = self._camera(camera, verb_name, need_init=False)
        buffer = loaded.camera.buffer
        if buffer is None:
            raise StreamEnded(f"camera {loaded.label!r}: no sequence has been started, so there are no frames")
        return buffer  # type: ignore[no-any-return]


def bad_argument(camera: str, name: str, value: Any, allowed: str) -> PropertyError:
    """The rejection every camera verb argument gets: names camera, argument, value, what is allowed."""
    return PropertyError(
        f"camera {camera!r}: {name} {value!r} is not allowed; allowed: {allowed}",
        device=camera,
        property=name,
        value=value,
        allowed=allowed,
    )
