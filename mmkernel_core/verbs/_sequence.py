"""Sequence verbs: streaming through each camera's own buffer, and consuming the frames."""

from __future__ import annotations

import logging

from mmkernel_sdk.errors import DeviceStateError, StreamEnded

from ..devices import LoadedDevice
from ..frames import POLICIES, Frame, Sequence, Stream
from ..runtime import Request, is_finite_number, is_whole, then
from ._auto_shutter import Hold
from ._camera import CameraVerbs, bad_argument
from ._faces import closed_error, verb

log = logging.getLogger("mmkernel.camera")


class SequenceVerbs(CameraVerbs):
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
        return self._start_sequence(camera, count, interval_ms, overflow, timeout)[0]

    def _start_sequence(
        self, camera: str | None, count: int | None, interval_ms: float, overflow: str, timeout: float | None
    ) -> tuple[Request, Sequence]:
        """start_sequence's request, and the sequence it starts (its owner may stop it, and
        only it: `_stop_request(loaded, timeout, sequence)`)."""
        loaded = self._camera(camera, "start_sequence")
        if overflow not in POLICIES:
            raise bad_argument(loaded.label, "overflow", overflow, ", ".join(POLICIES))
        if count is not None and (not is_whole(count) or count < 1):
            raise bad_argument(loaded.label, "count", count, "a whole number >= 1, or None")
        if not is_finite_number(interval_ms) or interval_ms < 0:
            raise bad_argument(loaded.label, "interval_ms", interval_ms, "a finite number >= 0")
        count = None if count is None else int(count)
        if self._streaming(loaded):
            raise DeviceStateError(f"camera {loaded.label!r} is already streaming; stop_sequence() first")
        sequence = Sequence(loaded, self._cache, count, float(interval_ms), self.frame_metadata)
        sequence.report = self._report
        shutter = self.roles.shutter if self.roles.auto_shutter else ""
        if not shutter:
            started = self._call(loaded, "start_sequence", self._begin, loaded, sequence, overflow, None,
                                 timeout=timeout)  # fmt: skip
            return started, sequence
        # Opened from here, closed without waiting when the sequence ends: never does the
        # camera's runner wait for the shutter (which may need that runner; see snap).
        hold = self._hold_shutter(shutter)
        try:
            started = self._call(loaded, "start_sequence", self._begin, loaded, sequence, overflow, hold,
                                 timeout=timeout)  # fmt: skip
        except BaseException:
            self._release_shutter(hold)
            raise
        return then(started, lambda r: self._release_shutter_later(hold) if r.exception() else None), sequence

    def _begin(self, loaded: LoadedDevice, sequence: Sequence, overflow: str, hold: Hold | None) -> None:
        """On the camera's runner, so concurrent starts (and buffer resizes, snaps, ROI changes)
        are decided one after the other; the sequence is published only once it really runs.
        With auto-shutter, the shutter (opened by start_sequence) is held from before the first
        frame until the sequence ends, however it ends (as MMCore); if the start fails,
        start_sequence lets it go."""
        if self._streaming(loaded):
            raise DeviceStateError(f"camera {loaded.label!r} is already streaming; stop_sequence() first")
        buffer = self._buffer_for(loaded)
        discarded = buffer.start(overflow, lambda: loaded.runner.wake(sequence))
        if discarded:
            self._report(log, logging.WARNING, "camera %r: %d unread frames of the previous sequence discarded",
                         loaded.label, discarded, device=loaded.label)  # fmt: skip
        try:
            sequence.begin(buffer)
        except BaseException:
            sequence.running = False
            buffer.finish()
            raise
        if hold is not None:
            sequence.on_end = lambda: setattr(sequence, "closing", self._release_shutter_later(hold))
        loaded.camera.sequence = sequence
        loaded.runner.start_task(sequence)

    @verb
    def stop_sequence(self, camera: str | None = None, *, timeout: float | None = None) -> Request:
        """Stop streaming after the frame in progress; frames already taken stay readable. If that
        frame read hangs (camera faulted), the stop is registered and happens when it returns.
        The stop takes effect at once, so it cannot be cancelled."""
        loaded = self._camera(camera, "stop_sequence")
        return self._stop_request(loaded, timeout)

    def _stop_request(self, loaded: LoadedDevice, timeout: float | None, only: Sequence | None = None) -> Request:
        """Stop the camera's sequence (only if it is `only`, when given: a stream or a recording
        stops what it started, never a sequence started after its own ended)."""
        sequence = loaded.camera.sequence
        if sequence is None or not sequence.running or (only is not None and sequence is not only):
            return Request.completed(loaded.label, "stop_sequence", None)
        self._interrupt_sequence(loaded)
        if loaded.runner.hung is not None:  # a frame read hangs: the sequence ends when it returns
            return Request.completed(loaded.label, "stop_sequence", None)
        request = self._dispatch.call_or_fail(loaded, "stop_sequence", sequence.end, timeout=timeout)
        request.cancellable = False
        return then(request, lambda _: sequence.closing)  # done once the auto-shutter has closed

    def _interrupt_sequence(self, loaded: LoadedDevice, only: Sequence | None = None) -> None:
        """From any thread: make the sequence end at its next step, even if it waits for space
        (only if it is `only`, when given)."""
        sequence = loaded.camera.sequence
        if sequence is not None and sequence.running and (only is None or sequence is only):
            sequence.stop_requested.set()
            sequence.buffer.wake_writer()

    @verb
    def is_sequence_running(self, camera: str | None = None) -> Request:
        loaded = self._camera(camera, "is_sequence_running", need_init=False)
        return Request.completed(loaded.label, "is_sequence_running", self._streaming(loaded))

    @verb
    def sequence_summary(self, camera: str | None = None) -> Request:
        """The last sequence's summary: camera, count, interval, overflow, format, full system state."""
        loaded = self._camera(camera, "sequence_summary", need_init=False)
        sequence = loaded.camera.sequence
        if sequence is None:
            raise StreamEnded(f"camera {loaded.label!r}: no sequence has been started")
        return Request.completed(loaded.label, "sequence_summary", dict(sequence.summary))

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

    # -- unloading --------------------------------------------------------------------------
    def _forget_camera(self, loaded: LoadedDevice) -> None:
        """The camera is being unloaded (on its runner): end its sequence, free its buffer."""
        state = loaded.camera
        sequence = state.sequence
        try:
            if sequence is not None:
                loaded.runner.remove_task(sequence)  # a hub's runner lives on: drop the task now
                sequence.end()
        finally:
            self._drop_camera(loaded)

    def _drop_camera(self, loaded: LoadedDevice) -> None:
        """From any thread (a detach): the sequence is told to stop, consumers get its end."""
        self._interrupt_sequence(loaded)
        buffer, loaded.camera.buffer = loaded.camera.buffer, None
        if buffer is not None:
            self._retire_buffer(buffer)
