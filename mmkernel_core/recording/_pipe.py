"""One camera's path through a recording: its buffer -> steps -> writer.

Frames are taken from the camera's buffer in runs (one lock and one wake-up for many small
frames), and frames lying at equal steps in the buffer's memory travel as one array, so a run
of small frames is copied or written in one operation. Frames stay zero-copy views into the
buffer until the writer no longer needs them, and are released a run at a time.

Without steps, one thread takes runs from the buffer and writes them. With steps, a reader
thread runs them and hands runs on through a bounded hand-off to the writer thread, so
processing and writing overlap. Neither is the camera's runner: acquisition goes on while
frames are processed and written, and when the writer falls behind the camera's buffer fills
and the recording's overflow policy applies there ("block": the camera waits; "drop": the
oldest unread frames are dropped, counted).
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mmkernel_sdk.errors import MMKernelError, RecordingError, StreamEnded
from mmkernel_sdk.recording import FrameInfo, Step, StreamSpec, StreamWriter, Writer

from ..frames import Frame, FrameBuffer, FrameHeader, Slot
from ._tables import Datastreams, rows_of

log = logging.getLogger("mmkernel.recording")

RUN = 512  # frames taken (from the buffer, from the hand-off) at once at most
POLL_S = 0.05  # how often a waiting thread looks at whether the recording was stopped or failed
HANDOFF_FRAMES = 1024  # frames between the reader and the writer at most ...
HANDOFF_BYTES = 256 << 20  # ... and bytes of step outputs (frames still in the buffer cost nothing extra)
_FRESH_REFS = 3  # references to an array only `_owned` holds: its caller's, its argument, getrefcount's
CHECKPOINT_S = 1.0  # what was written is made durable and visible (frames, rows, progress) this often at least


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


def to_planes(frame: np.ndarray) -> np.ndarray:
    """A colour frame (y, x, components; cameras give BGRA) as (c, y, x) RGB planes."""
    if frame.ndim != 3:
        return frame
    if frame.shape[2] == 4:
        frame = frame[..., 2::-1]
    return np.ascontiguousarray(np.moveaxis(frame, -1, 0))


class CameraPipe:
    def __init__(
        self,
        camera: str,
        buffer: FrameBuffer,
        writer: Writer,
        steps: list[Step],
        spec_base: StreamSpec,
        datastreams: Datastreams | None,
        on_failure: Callable[[RecordingError], None],
        on_done: Callable[[CameraPipe], None],
        on_camera_error: Callable[[CameraPipe, MMKernelError], None] = lambda pipe, error: None,
        on_checkpoint: Callable[[CameraPipe], None] = lambda pipe: None,
    ) -> None:
        self.camera = camera
        self.buffer = buffer
        self.writer = writer
        self.steps = steps
        self.spec_base = spec_base  # count, pixel size, interval, channels; shape/dtype from the first frame
        self.spec: StreamSpec | None = None
        self.raw_format: tuple[tuple[int, ...], np.dtype] | None = None  # the camera's frames, as it makes them
        self.datastreams = datastreams
        self.on_failure = on_failure
        self.on_done = on_done
        self.on_camera_error = on_camera_error  # the sequence ended with an error (not a stop)
        self.on_checkpoint = on_checkpoint  # the stream made its frames durable: the recording's progress
        self._next_checkpoint = time.monotonic() + CHECKPOINT_S
        self.handoff = Handoff()
        self.rows = 0  # frames handed to the stream writer
        self._kept: deque[weakref.finalize] = deque()  # frames handed to the steps, released when unused
        self._numbers: deque[tuple[int, np.ndarray]] = deque()  # (first row, camera frame numbers) not yet released
        self.stream: StreamWriter | None = None
        self.received = 0  # frames taken from the buffer
        self.filtered = 0  # frames a step dropped
        self.written = 0
        self.bytes_written = 0
        self.camera_error: MMKernelError | None = None  # the sequence ended with this
        self.error: RecordingError | None = None
        self.images: dict[str, np.ndarray] = {}
        self.done = threading.Event()
        self.colour = len(spec_base.frame_shape) == 3
        self._reader: threading.Thread | None = None
        if steps:
            self._reader = threading.Thread(target=self._read, name=f"mmkernel-record-{camera}-read", daemon=True)
        self._writer = threading.Thread(target=self._write, name=f"mmkernel-record-{camera}-write", daemon=True)

    def start(self) -> None:
        if self._reader is not None:
            self._reader.start()
        self._writer.start()

    @property
    def queued(self) -> int:
        return len(self.handoff)

    def abort(self) -> None:
        """Stop taking frames (the recording failed); what is queued is released."""
        for run in self.handoff.abort():
            self._release(run)

    # -- taking frames -----------------------------------------------------------------------
    def _next_frames(self) -> list[Frame] | None:
        """A run from the camera's buffer ([] if none came in time); None at the end."""
        try:
            frames = self.buffer.pop_run(RUN, POLL_S)
        except StreamEnded:
            return None
        except MMKernelError as error:  # the camera failed, or its buffer overflowed
            self._camera_failed(error)
            return None
        self.received += len(frames)
        return frames

    def _direct_run(self) -> Run | None:
        """No steps: a run from the buffer as it is, in as few pieces as its memory allows
        ([] if nothing came in time); None at the end."""
        try:
            slots = self.buffer.take_run(RUN, POLL_S)
        except StreamEnded:
            return None
        except MMKernelError as error:  # the camera failed
            self._camera_failed(error)
            return None
        self.received += len(slots)
        pieces = self.buffer.spans(slots)
        if self.colour:
            pieces = [np.stack([to_planes(frame) for frame in piece]) for piece in pieces]
        return Run(arrays=pieces, headers=[slot.header for slot in slots], slots=slots)  # type: ignore[misc]

    def _camera_failed(self, error: MMKernelError) -> None:
        self.camera_error = error
        self.on_camera_error(self, error)  # reported now: the other cameras are stopped too

    # -- the reader (with steps) -------------------------------------------------------------
    def _read(self) -> None:
        try:
            while not self.handoff.aborted:
                frames = self._next_frames()
                if frames is None:
                    break
                if not frames:
                    continue
                run, failure = self._process(frames)
                if run.headers and not self.handoff.put(run):
                    break  # aborted: the run goes, and with it the frames it holds
                if failure is not None:
                    raise failure
            for step in self.steps:
                for name, image in step.finish().items():
                    self.images[name] = to_planes(np.asarray(image))
        except BaseException as error:  # noqa: BLE001 - a failing step ends this camera's recording, loudly
            self._fail(error if isinstance(error, RecordingError) else self._step_failure(error))
        finally:
            self.handoff.end()

    def _process(self, frames: list[Frame]) -> tuple[Run, RecordingError | None]:
        """The steps over a run; on a failure, the frames before it and the error.

        What is handed to a recording belongs to it: each frame's slot is released once its
        pixels and every view of them are gone (a step may keep the previous frame; an output
        that is a view of the input keeps it until written), and an output the step still holds
        (a buffer it reuses: `np.subtract(..., out=self.buf); return self.buf`) is copied."""
        run = Run()
        failure: RecordingError | None = None
        position = 0
        for position, frame in enumerate(frames):  # noqa: B007 - used after the loop
            meta = frame.meta
            info = FrameInfo(meta.number, meta.received, meta.camera_time, meta.metadata)
            pixels, release = self.buffer.release_when_unused(frame)
            self._handed_over(release)
            out: np.ndarray | None = pixels
            step_name = ""
            try:
                for step in self.steps:
                    step_name = step.name
                    out = step.process(out, info)  # type: ignore[arg-type]
                    if out is None:
                        break
                if out is not None:
                    out = self._owned(np.asarray(out), pixels)
                    self._check_format(out, meta.number)
            except RecordingError as error:
                failure = error
            except BaseException as error:  # noqa: BLE001 - reported as the recording's failure
                failure = self._step_failure(error, step_name, meta.number)
            if failure is not None:
                break
            if out is None:
                self.filtered += 1
                continue
            if not np.may_share_memory(out, pixels):
                run.owned += out.nbytes  # the step's own array: the buffer slot is free once `pixels` goes
            run.arrays.append(out[None])
            run.headers.append(meta)
        if failure is not None:
            self.buffer.release_all(frames[position + 1 :])
        return run, failure

    def _handed_over(self, release: weakref.finalize) -> None:
        """Keep the frames handed to the steps whose pixels are still alive (a step keeps one),
        so they are released when the recording ends; the dead ones go."""
        kept = self._kept
        kept.append(release)
        while kept and not kept[0].alive:
            kept.popleft()

    def _release_kept(self) -> None:
        """The recording is over: frames a step still keeps go back to the camera's buffer (a
        kept frame would stop its ring: memory is reclaimed oldest first)."""
        while self._kept:
            self._kept.popleft()()

    @staticmethod
    def _owned(out: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """`out` as the recording may keep it: a copy unless it is the frame's own memory or an
        array nobody else holds (a step's result, fresh). A view of something else, or an array
        the step keeps (its reused output buffer), would change under the queued frame."""
        if not np.may_share_memory(out, pixels) and (out.base is not None or sys.getrefcount(out) > _FRESH_REFS):
            out = out.copy()
        return to_planes(out)

    def _check_format(self, out: np.ndarray, number: int) -> None:
        spec = self.spec
        if spec is None:
            self.spec = self._spec_for(out.shape, out.dtype)
            return
        if tuple(out.shape) != spec.frame_shape or out.dtype != spec.dtype:
            raise RecordingError(
                f"camera {self.camera!r}, frame {number}: it is {tuple(out.shape)} {out.dtype} (after the steps), "
                f"the recording's array is {spec.frame_shape} {spec.dtype}; a recording's frames cannot change "
                "size (was the ROI or binning changed while recording?)",
                self.camera,
                number,
            )

    def _spec_for(self, shape: tuple[int, ...], dtype: np.dtype) -> StreamSpec:
        base = self.spec_base
        channels = base.channel_names if len(shape) == 2 else ("R", "G", "B")[: shape[0]]
        return StreamSpec(base.name, tuple(shape), dtype, base.count, base.pixel_size_um, base.interval_s, channels)

    def _empty_spec(self) -> StreamSpec:
        """The format the array would have had: the steps (copies: their state stays as it is)
        over a blank frame of the camera's format; the camera's own format if that fails."""
        base = self.spec_base
        if self.raw_format is None:
            return self._spec_for(base.frame_shape, base.dtype)
        out: np.ndarray | None = np.zeros(*self.raw_format)
        try:
            info = FrameInfo(0, 0.0, 0.0, {})
            for step in copy.deepcopy(self.steps):
                out = step.process(out, info)  # type: ignore[arg-type]
                if out is None:
                    break
        except Exception:  # noqa: BLE001 - a step that cannot run on a blank frame: the camera's format
            out = None
        if out is None:
            return self._spec_for(base.frame_shape, base.dtype)
        planes = to_planes(np.asarray(out))
        return self._spec_for(planes.shape, planes.dtype)

    def _step_failure(self, error: BaseException, step: str = "", number: int | None = None) -> RecordingError:
        where = f", step {step!r}" if step else ""
        at = f" at frame {number}" if number is not None else ""
        failure = RecordingError(
            f"camera {self.camera!r}{where} failed{at}: {type(error).__name__}: {error}", self.camera, number
        )
        failure.__cause__ = error
        return failure

    # -- the writer --------------------------------------------------------------------------
    def _release(self, run: Run) -> None:
        if run.slots:
            self.buffer.release_slots(run.slots)  # type: ignore[arg-type]

    def _write(self) -> None:
        held: deque[tuple[int, Run]] = deque()  # (frames written once released, the run)
        try:
            self._write_runs(held)
        except BaseException as error:  # noqa: BLE001 - a failing write ends the recording, loudly
            self._fail(self._write_failure(error))
            self.abort()
        finally:
            self._finish(held)

    def _write_runs(self, held: deque[tuple[int, Run]]) -> None:
        datastreams = self.datastreams
        while True:
            if self._reader is None:
                if self.handoff.aborted:
                    return
                direct = self._direct_run()
                if direct is None:
                    return
                run, failure = self._checked(direct) if direct.headers else (direct, None)
            else:
                taken, failure = self.handoff.take(), None
                if taken is None:
                    return
                run = taken
            if self.stream is None:
                if not run.headers:
                    continue
                assert self.spec is not None
                self.stream = self.writer.add_stream(self.spec)
            stream = self.stream  # written to even with nothing new: it reports the writes finished meanwhile
            rows = rows_of(run.headers)
            if len(rows):
                self._numbers.append((self.rows, rows.columns["number"]))
                self.rows += len(rows)
            if datastreams is not None:
                for header in run.headers:
                    datastreams.at_frame(header.number, header.received, header.metadata)
            if run.slots:
                held.append((self.rows, run))
            try:
                released = stream.write(run.arrays, rows)
                if time.monotonic() >= self._next_checkpoint:
                    released = self._checkpoint(stream)
            finally:
                self.written, self.bytes_written = stream.written, stream.bytes_written
            while held and held[0][0] <= released:
                self._release(held.popleft()[1])
            while len(self._numbers) > 1 and self._numbers[1][0] <= released:
                self._numbers.popleft()
            if failure is not None:
                raise failure

    def _checkpoint(self, stream: StreamWriter) -> int:
        """Make what was written durable and visible: the stream's frames and rows, the
        datastreams' new rows (the first camera's pipe holds them), the recording's progress.
        Every write has finished then: returns the frames the writer no longer needs."""
        self._next_checkpoint = time.monotonic() + CHECKPOINT_S
        released = stream.checkpoint()
        if self.datastreams is not None:
            for name, rows in self.datastreams.take().items():
                if len(rows):
                    self.writer.add_table(name, rows)
        self.written, self.bytes_written = stream.written, stream.bytes_written
        self.on_checkpoint(self)
        return released

    def _number_at(self, row: int) -> int | None:
        """The camera's frame number of the `row`-th frame handed to the writer, if still known."""
        for first, numbers in self._numbers:
            if first <= row < first + len(numbers):
                return int(numbers[row - first])
        return None

    def _checked(self, run: Run) -> tuple[Run, RecordingError | None]:
        """Without steps the frames are checked here: the camera's format must not change. The
        frames before a change are written; the error comes after them."""
        first = run.arrays[0]
        if self.spec is None:
            self.spec = self._spec_for(first.shape[1:], first.dtype)
        spec, index = self.spec, 0
        for position, piece in enumerate(run.arrays):
            if tuple(piece.shape[1:]) != spec.frame_shape or piece.dtype != spec.dtype:
                header = run.headers[index]
                failure = RecordingError(
                    f"camera {self.camera!r}, frame {header.number}: it is {tuple(piece.shape[1:])} {piece.dtype}, "
                    f"the recording's array is {spec.frame_shape} {spec.dtype}; a recording's frames cannot change "
                    "size (was the ROI or binning changed while recording?)",
                    self.camera,
                    header.number,
                )
                self.buffer.release_slots(run.slots[index:])  # type: ignore[arg-type]
                return Run(run.arrays[:position], run.headers[:index], slots=run.slots[:index]), failure
            index += len(piece)
        return run, None

    def _write_failure(self, error: BaseException) -> RecordingError:
        if isinstance(error, RecordingError):
            return error
        written = self.stream.written if self.stream is not None else 0
        number = self._number_at(written)
        at = f" at frame {number}" if number is not None else ""
        failure = RecordingError(
            f"camera {self.camera!r}: writing failed{at} after {written} frames were written "
            f"({type(error).__name__}: {error}); the {written} frames written are readable",
            self.camera,
            number,
        )
        failure.__cause__ = error
        return failure

    def _finish(self, held: deque[tuple[int, Run]]) -> None:
        """Close the stream (also after a failure: what was written stays readable), store the
        steps' images, release every frame still held, then report done."""
        try:
            if self.stream is None:  # no frame came (or the first failed): an empty array, still readable
                self.spec = self.spec or self._empty_spec()
                self.stream = self.writer.add_stream(self.spec)
            if self.stream is not None:
                assert self.spec is not None
                self._join_reader()
                for name, image in self.images.items():
                    self.writer.add_image(self.camera, name, image, self.spec)
                self.written = self.stream.close()
                self.bytes_written = self.stream.bytes_written
        except BaseException as error:  # noqa: BLE001 - reported; the frames written before stay
            self._fail(self._write_failure(error))
        finally:
            while held:
                self._release(held.popleft()[1])
            self.abort()
            self._join_reader()
            self._release_kept()
            self._drain_buffer()
            self.done.set()
            self.on_done(self)

    def _drain_buffer(self) -> None:
        """After a failure the camera is told to stop; frames it still made are released."""
        if self.error is None:
            return
        while True:
            try:
                frames = self.buffer.pop_run(RUN, POLL_S)
            except MMKernelError:  # the sequence's end: nothing more will come
                return
            self.buffer.release_all(frames)

    def _join_reader(self) -> None:
        reader = self._reader
        if reader is not None and reader.is_alive() and threading.current_thread() is not reader:
            reader.join()

    def _fail(self, error: RecordingError) -> None:
        if self.error is None:
            self.error = error
            self.on_failure(error)
