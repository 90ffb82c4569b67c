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

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from mmkernel_sdk.errors import MMKernelError, RecordingError, StreamEnded
from mmkernel_sdk.recording import FrameInfo, Step, StreamSpec, StreamWriter, Writer

from ..frames import Frame, FrameBuffer
from ..runtime import new_thread
from ._formats import as_frame, blank_output, refusal, spec_for, to_planes
from ._handoff import POLL_S, RUN, Handoff, Run
from ._kept import KeptFrames, keeping_error
from ._tables import Datastreams, rows_of

log = logging.getLogger("mmkernel.recording")

_FRESH_REFS = 3  # references to an array only `_owned` holds: its caller's, its argument, getrefcount's
CHECKPOINT_S = 1.0  # what was written is made durable and visible (frames, rows, progress) this often at least


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
        self.kept = KeptFrames(buffer)  # frames handed to the steps, released when unused
        self._handed = 0  # frames the reader put in the hand-off
        self._let_go = 0  # frames written whose runs the writer holds no more
        self._let_go_changed = threading.Condition()
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
            self._reader = new_thread(self._read, f"mmkernel-record-{camera}-read")
        self._writer = new_thread(self._write, f"mmkernel-record-{camera}-write")

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
                    self._check_kept_at_end()
                    break
                if not frames:
                    self._check_kept()
                    continue
                run, failure = self._process(frames)
                if run.headers and not self.handoff.put(run):
                    break  # aborted: the run goes, and with it the frames it holds
                self._handed += len(run.headers)
                del run  # the writer has it now: its frames go once written (see _check_kept)
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
            pixels = self.kept.hand_over(frame)
            out: np.ndarray | None = pixels
            step_name = ""
            try:
                for step in self.steps:
                    step_name = step.name
                    out = step.process(out, info)  # type: ignore[arg-type]
                    if out is None:
                        break
                if out is not None:
                    out = self._checked_output(as_frame(out), pixels, meta.number, step_name)
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

    def _check_kept(self) -> None:
        """No frame came: if that is because a step keeps a frame the camera's buffer needs
        back, and nothing is on its way to the writer (so only a step can hold it), the
        recording ends with an error saying so, instead of waiting forever."""
        if len(self.handoff) or self._let_go < self._handed:
            return
        found = self.kept.in_the_way()
        if found is not None:
            raise keeping_error(self.camera, self.steps, *found)

    def _check_kept_at_end(self) -> None:
        """The sequence ended: if its last frames found no room because a step keeps a frame
        (with "drop" they went unrecorded), say so, once the writer has what it was handed."""
        if self.buffer.in_the_way() is None:
            return
        with self._let_go_changed:
            while not self.handoff.aborted and (len(self.handoff) or self._let_go < self._handed):
                self._let_go_changed.wait(POLL_S)
        self._check_kept()

    @staticmethod
    def _owned(out: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """`out` as the recording may keep it: a copy unless it is the frame's own memory or an
        array nobody else holds (a step's result, fresh). A view of something else, or an array
        the step keeps (its reused output buffer), would change under the queued frame."""
        if not np.may_share_memory(out, pixels) and (out.base is not None or sys.getrefcount(out) > _FRESH_REFS):
            out = out.copy()
        return to_planes(out)

    def _checked_output(self, out: Any, pixels: np.ndarray, number: int, step: str) -> np.ndarray:
        """A step's output as it is queued (see `_owned`). The first sets the array's format, if
        the writer can store it; the others must have that format."""
        if self.spec is None or not isinstance(out, np.ndarray):
            refused = refusal(self.camera, step, out, self.writer, self.spec_base, number)
            if refused is not None:
                raise refused
        planes = self._owned(out, pixels)
        spec = self.spec
        if spec is None:
            self.spec = spec_for(self.spec_base, planes.shape, planes.dtype)
        elif planes.shape != spec.frame_shape or planes.dtype != spec.dtype:
            raise RecordingError(
                f"camera {self.camera!r}, frame {number}: it is {tuple(out.shape)} {out.dtype} (after the steps), "
                f"the recording's array is {spec.frame_shape} {spec.dtype}; a recording's frames cannot change "
                "size (was the ROI or binning changed while recording?)",
                self.camera,
                number,
            )
        return planes

    def _empty_spec(self) -> StreamSpec:
        """The format the array would have had: the steps (copies: their state stays as it is)
        over a blank frame of the camera's format; the camera's own format if that fails, or
        if the writer could not store it."""
        base = self.spec_base
        if self.raw_format is not None:
            found = blank_output(*self.raw_format, self.steps)
            if found is not None and refusal(self.camera, found[1], found[0], self.writer, base) is None:
                planes = to_planes(found[0])
                return spec_for(base, planes.shape, planes.dtype)
        return spec_for(base, base.frame_shape, base.dtype)

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
        while True:
            taken = self._next_run()
            if taken is None:
                return
            run, failure = taken
            del taken
            self._write_run(run, held)
            del run  # a frame a step was given is then held by nothing of the recording's
            with self._let_go_changed:
                self._let_go = self.written
                self._let_go_changed.notify_all()
            if failure is not None:
                raise failure

    def _next_run(self) -> tuple[Run, RecordingError | None] | None:
        """The next run to write (empty if none came in time) and the failure after it; None at
        the end."""
        if self._reader is not None:
            taken = self.handoff.take()
            return None if taken is None else (taken, None)
        if self.handoff.aborted:
            return None
        direct = self._direct_run()
        if direct is None:
            return None
        return self._checked(direct) if direct.headers else (direct, None)

    def _write_run(self, run: Run, held: deque[tuple[int, Run]]) -> None:
        if self.stream is None:
            if not run.headers:
                return
            assert self.spec is not None
            self.stream = self.writer.add_stream(self.spec)
        stream = self.stream  # written to even with nothing new: it reports the writes finished meanwhile
        rows = rows_of(run.headers)
        if len(rows):
            self._numbers.append((self.rows, rows.columns["number"]))
            self.rows += len(rows)
        if self.datastreams is not None:
            for header in run.headers:
                self.datastreams.at_frame(header.number, header.received, header.metadata)
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

    def _checkpoint(self, stream: StreamWriter) -> int:
        """Make what was written durable and visible, in the order a reader of a killed
        recording relies on: the datastreams' new rows (the first camera's pipe holds them; rows
        of frames handed to the writer), then the stream's frames and their rows, then the
        recording's progress. Every write has finished then: returns the frames the writer no
        longer needs."""
        self._next_checkpoint = time.monotonic() + CHECKPOINT_S
        self._store_datastreams()
        released = stream.checkpoint()
        self.written, self.bytes_written = stream.written, stream.bytes_written
        self.on_checkpoint(self)
        return released

    def _store_datastreams(self) -> None:
        if self.datastreams is not None:
            for name, rows in self.datastreams.take().items():
                if len(rows):
                    self.writer.add_table(name, rows)

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
            self.spec = spec_for(self.spec_base, first.shape[1:], first.dtype)
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
        kept = f"the {written} frames written are readable" if written else "no frame of it was written"
        failure = RecordingError(
            f"camera {self.camera!r}: writing failed{at} after {written} frames were written "
            f"({type(error).__name__}: {error}); {kept}",
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
                self._store_datastreams()  # before the last frames show (the recording stores what comes after)
                self.written = self.stream.close()
                self.bytes_written = self.stream.bytes_written
        except BaseException as error:  # noqa: BLE001 - reported; the frames written before stay
            self._fail(self._write_failure(error))
        finally:
            while held:
                self._release(held.popleft()[1])
            self.abort()
            self._join_reader()
            self.kept.release_all()
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
