"""Recording: the handle `kernel.record(...)` returns, and what runs one.

It opens the writer, starts each camera's sequence and pipe (reader and writer threads), and
when every pipe is done it stores the datastreams and the final metadata and closes the writer.
A failure anywhere (a write, a step, a camera) stops every camera cleanly; what was written
stays readable and `wait()` raises a RecordingError naming the camera and the frame.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mmkernel_sdk.errors import MMKernelError, RecordingError
from mmkernel_sdk.recording import StreamSpec

from ._formats import blank_output, refusal, to_planes
from ._pipe import CameraPipe
from ._plan import OVERFLOW, RecordingPlan
from ._tables import Datastream, Datastreams

log = logging.getLogger("mmkernel.recording")


@dataclass(frozen=True)
class CameraProgress:
    received: int  # taken from the camera's buffer
    written: int
    dropped: int  # lost to overflow (policy "drop"); never silent
    filtered: int  # dropped on purpose by a step
    queued: int  # between the reader and the writer


@dataclass(frozen=True)
class RecordingProgress:
    received: int
    written: int
    dropped: int
    filtered: int
    queued: int
    bytes_written: int
    elapsed_s: float
    frames_per_s: float
    mb_per_s: float  # MB (10**6 bytes) of stored data per second
    cameras: dict[str, CameraProgress] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordingResult:
    path: str
    shapes: dict[str, tuple[int, ...]]  # per camera: (frames, *frame shape)
    frames_written: dict[str, int]
    dropped: int
    filtered: int
    bytes_written: int
    elapsed_s: float
    compression_ratio: float | None
    errors: list[str]

    @property
    def mb_per_s(self) -> float:
        return self.bytes_written / 1e6 / self.elapsed_s if self.elapsed_s > 0 else 0.0


def kernel_version() -> str:
    try:
        return version("mmkernel")
    except PackageNotFoundError:
        return "unknown"


class Recording:
    """A recording in progress: `progress`, `stop()`, `wait(timeout)`, `result`; `finished` is a
    concurrent Future of the result (`await asyncio.wrap_future(rec.finished)`). As a context
    manager it stops and waits on leaving."""

    def __init__(self, kernel: Any, plan: RecordingPlan) -> None:
        self._kernel = kernel
        self.plan = plan
        self.cameras = list(plan.cameras)
        self.finished: Future[RecordingResult] = Future()
        self.result: RecordingResult | None = None
        self._pipes: dict[str, CameraPipe] = {}
        self._errors: list[RecordingError] = []
        self._sequences: dict[str, Any] = {}  # camera -> the sequence this recording started
        self._error_tracebacks: dict[int, Any] = {}  # each error's traceback as it was kept
        self._lock = threading.Lock()
        self._started = 0.0
        self._ended = 0.0
        self._stopping = False
        self._finishing = False
        self._datastreams: Datastreams | None = None
        self._metadata: dict[str, Any] = {}

    # -- starting (on a thread of the kernel's, see RecordVerbs) ----------------------------
    def start(self) -> None:
        kernel, plan = self._kernel, self.plan
        self._check_formats()
        self._metadata = self._start_metadata()
        plan.writer.open(plan.destination, self._metadata, self.cameras)
        self._started = time.monotonic()
        started: list[str] = []
        try:
            self._datastreams = self._make_datastreams()
            if self._datastreams is not None:
                kernel.internals.cache.add_listener(self._datastreams)
            for camera in self.cameras:
                request, self._sequences[camera] = kernel.internals.start_sequence(
                    camera, plan.count, plan.interval_ms, OVERFLOW[plan.overflow]
                )
                request.result()
                started.append(camera)
                self._pipes[camera] = self._pipe(camera, first=camera == self.cameras[0])
            for pipe in self._pipes.values():
                pipe.start()
        except BaseException:
            for camera in started:
                self._stop_camera(camera)
            for pipe in self._pipes.values():
                pipe.abort()
            self._forget_listener()
            try:
                plan.writer.discard()  # nothing was recorded: a retry to the same path must work
            except BaseException as problem:  # noqa: BLE001 - the start's own failure is what the caller needs
                log.warning("recording: removing what a failed start made: %s", problem)
            raise
        kernel.internals.add_recording(self)

    def _check_formats(self) -> None:
        """Before anything is made: each camera's frames, after its steps (copies, run over a
        blank frame), must be something the writer can store; a RecordingError says which
        camera and step, the shape and dtype, and what the writer takes. What only real pixels
        tell is checked at the first frame."""
        import numpy as np

        internals = self._kernel.internals
        for camera in self.cameras:
            shape, dtype = internals.frame_format(camera)
            steps = self.plan.steps[camera]
            found = blank_output(shape, dtype, steps) if steps else (np.zeros(shape, dtype), "")
            if found is None:
                continue
            base = StreamSpec(camera, tuple(shape), np.dtype(dtype), self.plan.count)
            refused = refusal(camera, found[1], found[0], self.plan.writer, base)
            if refused is not None:
                raise refused

    def _pipe(self, camera: str, first: bool) -> CameraPipe:
        kernel, plan = self._kernel, self.plan
        buffer = kernel.internals.buffer_of(camera, "record")
        summary = kernel.sequence_summary(camera)
        steps = plan.steps[camera]
        scale = 1.0
        for step in steps:
            scale *= float(getattr(step, "pixel_scale", 1.0))
        pixel = kernel.pixel_size_um() * scale
        interval = plan.interval_ms / 1000.0 or kernel.internals.exposure_s(camera)
        group = kernel.roles.channel_group
        channel = kernel.current_config(group) if group else ""
        import numpy as np

        blank = to_planes(np.empty(tuple(summary["shape"]), summary["dtype"]))
        base = StreamSpec(camera, tuple(blank.shape), blank.dtype, plan.count, pixel, interval, (channel or camera,))
        self._metadata.setdefault("cameras", {})[camera] = {k: v for k, v in summary.items() if k != "system_state"}
        pipe = CameraPipe(camera, buffer, plan.writer, steps, base, self._datastreams if first else None,
                          self._on_failure, self._on_done, self._on_camera_error, self._on_checkpoint)  # fmt: skip
        pipe.raw_format = (tuple(summary["shape"]), np.dtype(summary["dtype"]))
        return pipe

    def _make_datastreams(self) -> Datastreams | None:
        if not self.plan.datastreams:
            return None
        kernel, streams = self._kernel, []
        for label, name in self.plan.datastreams:
            try:
                if name == "XYPosition":
                    numeric, start = False, list(kernel.get_xy_position(label))
                else:
                    numeric = kernel.property_info(label, name).kind in (int, float, bool)
                    start = kernel.get_property(label, name, from_cache=True)
            except MMKernelError:
                start = None
            streams.append(Datastream(label, name, numeric, start))
        return Datastreams(streams)

    def _start_metadata(self) -> dict[str, Any]:
        kernel = self._kernel
        return {
            "kernel_version": kernel_version(),
            "started": time.time(),
            "parameters": self.plan.parameters(),
            "user": self.plan.metadata,
            "configuration": kernel.internals.configuration_record(),
            "system_state": kernel.internals.cache.snapshot(),
        }

    # -- control -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop acquiring; everything already acquired is still written. Returns at once:
        `wait()` for the result."""
        self._stopping = True
        for camera in self.cameras:
            self._stop_camera(camera)

    def _stop_camera(self, camera: str) -> None:
        """Make the camera's sequence end at its next step (from any thread, even while the
        kernel closes); frames already in its buffer are still written."""
        sequence = self._sequences.get(camera)
        if sequence is not None:  # its own sequence only: never one started after it ended
            self._kernel.internals.interrupt_sequence(camera, sequence)

    def wait(self, timeout: float | None = None) -> RecordingResult:
        """The result once everything is written and closed; a RecordingError if anything failed
        (`result` and the error's `camera` and `frame` say what is in the store)."""
        try:
            result = self.finished.result(timeout)
        except TimeoutError:
            raise TimeoutError(f"the recording to {self.result_path()} is still running after {timeout} s") from None
        if self._errors:
            error = self._errors[0]
            raise error.with_traceback(self._error_tracebacks.get(id(error)))  # fresh each time: see Request.result
        return result

    def done(self) -> bool:
        return self.finished.done()

    def result_path(self) -> str:
        destination = self.plan.destination
        return destination if isinstance(destination, str) else repr(destination)

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        try:
            self.wait()
        except RecordingError:
            if exc[0] is None:
                raise

    # -- progress ----------------------------------------------------------------------------
    @property
    def progress(self) -> RecordingProgress:
        cameras = {}
        for camera, pipe in self._pipes.items():
            cameras[camera] = CameraProgress(
                pipe.received, pipe.written, self._dropped(pipe), pipe.filtered, pipe.queued
            )
        elapsed = (self._ended or time.monotonic()) - self._started if self._started else 0.0
        written = sum(c.written for c in cameras.values())
        stored = sum(pipe.bytes_written for pipe in self._pipes.values())
        return RecordingProgress(
            received=sum(c.received for c in cameras.values()),
            written=written,
            dropped=sum(c.dropped for c in cameras.values()),
            filtered=sum(c.filtered for c in cameras.values()),
            queued=sum(c.queued for c in cameras.values()),
            bytes_written=stored,
            elapsed_s=elapsed,
            frames_per_s=written / elapsed if elapsed > 0 else 0.0,
            mb_per_s=stored / 1e6 / elapsed if elapsed > 0 else 0.0,
            cameras=cameras,
        )

    @staticmethod
    def _dropped(pipe: CameraPipe) -> int:
        return pipe.buffer.stats().dropped

    # -- the end -----------------------------------------------------------------------------
    def _on_failure(self, error: RecordingError) -> None:
        with self._lock:
            self._keep_error(error)
        log.error("recording: %s", error)
        for camera in self.cameras:
            self._stop_camera(camera)

    def _on_camera_error(self, pipe: CameraPipe, error: MMKernelError) -> None:
        """A camera's sequence ended with an error. Unless the recording was being stopped (or
        had failed already: the stop it made ends the other cameras), it is the recording's
        failure: every camera stops, and the error reaches the client."""
        with self._lock:
            if self._stopping or self._errors:
                return
        failure = RecordingError(
            f"camera {pipe.camera!r} failed during the recording after {pipe.received} frames: {error}",
            pipe.camera,
            pipe.received,
        )
        failure.__cause__ = error
        self._on_failure(failure)

    def _keep_error(self, error: RecordingError) -> None:
        self._error_tracebacks[id(error)] = error.__traceback__
        self._errors.append(error)

    def _on_checkpoint(self, _pipe: CameraPipe) -> None:
        """A camera's frames were made durable: say how far the recording has come, in the
        store, for a reader of a recording that never closes (its process was killed)."""
        with self._lock:
            written = {camera: pipe.written for camera, pipe in self._pipes.items()}
            self.plan.writer.checkpoint({"state": "recording", "frames_written": written})

    def _on_done(self, pipe: CameraPipe) -> None:
        """A pipe finished; the last one to finish closes the recording (on its thread). A
        count recording whose camera stopped short without being asked to (its sequence stopped
        or the camera unloaded from outside) says it ended early: it never looks complete."""
        count = self.plan.count
        made = pipe.received + self._dropped(pipe)  # a frame dropped (overflow="drop") was made, and counted
        short = count is not None and made < count and pipe.camera_error is None and pipe.error is None
        with self._lock:
            short = short and not self._stopping and not self._errors
        if short:
            failure = RecordingError(
                f"camera {pipe.camera!r}: its sequence ended from outside the recording (stop_sequence, an unload) "
                f"after {made} of {count} frames; the recording ended early, with the "
                f"{pipe.written} frames written",
                pipe.camera,
                made,
            )
            self._on_failure(failure)
        with self._lock:
            if self._finishing or not all(pipe.done.is_set() for pipe in self._pipes.values()):
                return
            self._finishing = True
        self._finish()

    def _finish(self) -> None:
        self._ended = time.monotonic()
        writer = self.plan.writer
        try:
            if self._datastreams is not None:
                self._forget_listener()
                for name, table in self._datastreams.take().items():
                    writer.add_table(name, table)
            result = self._result("")
            final = {**self._metadata, "finished": time.time(), "result": _result_json(result)}
            path = writer.close(final)
            result = self._result(path)
        except BaseException as error:  # noqa: BLE001 - reported through the result and wait()
            failure = RecordingError(f"recording: closing the store failed: {type(error).__name__}: {error}")
            failure.__cause__ = error
            self._keep_error(failure)
            result = self._result(self.result_path())
        self.result = result
        self._kernel.internals.remove_recording(self)
        self.finished.set_result(result)

    def _forget_listener(self) -> None:
        if self._datastreams is not None:
            self._kernel.internals.cache.remove_listener(self._datastreams)

    def _result(self, path: str) -> RecordingResult:
        progress = self.progress
        ratios = [getattr(p.stream, "compression_ratio", None) for p in self._pipes.values()]
        known = [r for r in ratios if r]
        return RecordingResult(
            path=path,
            shapes={c: (p.written, *(p.spec.frame_shape if p.spec else ())) for c, p in self._pipes.items()},
            frames_written={c: p.written for c, p in self._pipes.items()},
            dropped=progress.dropped,
            filtered=progress.filtered,
            bytes_written=progress.bytes_written,
            elapsed_s=progress.elapsed_s,
            compression_ratio=sum(known) / len(known) if known else None,
            errors=[str(e) for e in self._errors],
        )

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<Recording {self.cameras} -> {self.result_path()} {state}>"


def _result_json(result: RecordingResult) -> dict[str, Any]:
    return {
        "shapes": {camera: list(shape) for camera, shape in result.shapes.items()},
        "frames_written": result.frames_written,
        "dropped": result.dropped,
        "filtered": result.filtered,
        "bytes_written": result.bytes_written,
        "elapsed_s": result.elapsed_s,
        "compression_ratio": result.compression_ratio,
        "errors": result.errors,
    }
