"""One camera's path through a recording: its buffer -> steps -> writer, on two threads.

The reader thread takes frames from the camera's buffer in runs (one lock, one wake-up for many
small frames), runs the steps and hands frames on through a bounded hand-off; the writer thread
takes runs from it and writes them. Frames stay zero-copy views into the camera's buffer until
the writer no longer needs them. Neither thread is the camera's runner: acquisition goes on
while frames are processed and written, and when the writer falls behind, the camera's buffer
fills and the recording's overflow policy applies there ("block": the camera waits; "drop": the
oldest unread frames are dropped, counted).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mmkernel_sdk.errors import MMKernelError, RecordingError, StreamEnded
from mmkernel_sdk.recording import FrameInfo, Step, StreamSpec, StreamWriter, Writer

from .._buffer import FrameBuffer
from .._frames import Frame
from ._tables import Datastreams, FrameTable

log = logging.getLogger("mmkernel.recording")

RUN = 256  # frames taken (from the buffer, from the hand-off) at once at most
POLL_S = 0.05  # how often a waiting thread looks at whether the recording was stopped or failed
HANDOFF_FRAMES = 512  # frames between the reader and the writer at most ...
HANDOFF_BYTES = 256 << 20  # ... and bytes of step outputs (frames still in the buffer cost nothing extra)


@dataclass
class Item:
    array: np.ndarray
    frame: Frame | None  # the buffer frame `array` is (a view of), released once written
    info: FrameInfo


class Handoff:
    """The bounded queue between a camera's reader and writer."""

    def __init__(self) -> None:
        self._items: deque[tuple[Item, int]] = deque()
        self._bytes = 0
        self._lock = threading.Condition()
        self.ended = False
        self.aborted = False

    def put(self, item: Item, owned_bytes: int) -> bool:
        """Wait for room; False once the recording was aborted (the caller keeps the item)."""
        with self._lock:
            while not self.aborted and (
                len(self._items) >= HANDOFF_FRAMES or (self._bytes + owned_bytes > HANDOFF_BYTES and self._items)
            ):
                self._lock.wait(POLL_S)
            if self.aborted:
                return False
            self._items.append((item, owned_bytes))
            self._bytes += owned_bytes
            self._lock.notify_all()
            return True

    def take(self, most: int) -> list[Item] | None:
        """Up to `most` items, waiting for the first; None after the end (or an abort)."""
        with self._lock:
            while not self._items and not self.ended and not self.aborted:
                self._lock.wait(POLL_S)
            if not self._items:
                return None
            run = [self._items.popleft() for _ in range(min(most, len(self._items)))]
            self._bytes -= sum(size for _, size in run)
            self._lock.notify_all()
            return [item for item, _ in run]

    def end(self) -> None:
        with self._lock:
            self.ended = True
            self._lock.notify_all()

    def abort(self) -> list[Item]:
        """Stop both sides; returns what was still queued (for the caller to release)."""
        with self._lock:
            self.aborted = True
            left = [item for item, _ in self._items]
            self._items.clear()
            self._bytes = 0
            self._lock.notify_all()
            return left

    def __len__(self) -> int:
        return len(self._items)


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
    ) -> None:
        self.camera = camera
        self.buffer = buffer
        self.writer = writer
        self.steps = steps
        self.spec_base = spec_base  # count, pixel size, interval, channels; shape/dtype from the first frame
        self.spec: StreamSpec | None = None
        self.datastreams = datastreams
        self.on_failure = on_failure
        self.on_done = on_done
        self.handoff = Handoff()
        self.table = FrameTable()
        self.stream: StreamWriter | None = None
        self.received = 0  # frames taken from the buffer
        self.filtered = 0  # frames a step dropped
        self.written = 0
        self.bytes_written = 0
        self.camera_error: MMKernelError | None = None  # the sequence ended with this
        self.error: RecordingError | None = None
        self.images: dict[str, np.ndarray] = {}
        self.done = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"mmkernel-record-{camera}-read", daemon=True)
        self._writer = threading.Thread(target=self._write, name=f"mmkernel-record-{camera}-write", daemon=True)

    def start(self) -> None:
        self._reader.start()
        self._writer.start()

    @property
    def queued(self) -> int:
        return len(self.handoff)

    def abort(self) -> None:
        """Stop taking frames (the recording failed elsewhere); what is queued is released."""
        for item in self.handoff.abort():
            _release(item.frame)

    # -- the reader --------------------------------------------------------------------------
    def _read(self) -> None:
        try:
            self._read_frames()
            self.images = {}
            for step in self.steps:
                for name, image in step.finish().items():
                    self.images[name] = to_planes(np.asarray(image))
        except BaseException as error:  # noqa: BLE001 - a failing step ends this camera's recording, loudly
            self._fail(error if isinstance(error, RecordingError) else self._step_failure(error))
        finally:
            self.handoff.end()

    def _read_frames(self) -> None:
        buffer, handoff, steps = self.buffer, self.handoff, self.steps
        primary = self.datastreams
        while not handoff.aborted:
            try:
                frames = buffer.pop_run(RUN, POLL_S)
            except StreamEnded:
                return
            except MMKernelError as error:  # the camera failed, or its buffer overflowed
                self.camera_error = error
                return
            for position, frame in enumerate(frames):
                meta = frame.meta
                info = FrameInfo(meta.number, meta.received, meta.camera_time, meta.metadata)
                self.received += 1
                if primary is not None:
                    primary.at_frame(info)
                try:
                    out: np.ndarray | None = frame.array
                    for step in steps:
                        out = step.process(out, info)  # type: ignore[arg-type]
                        if out is None:
                            break
                except BaseException as error:
                    for rest in frames[position:]:
                        rest.release()
                    raise self._step_failure(error, step.name, meta.number) from error
                if out is None:
                    self.filtered += 1
                    frame.release()
                    continue
                out = to_planes(np.asarray(out))
                self._check_format(out, meta.number, frames[position:])
                held: Frame | None = frame
                owned = 0
                if not np.may_share_memory(out, frame.array):
                    frame.release()  # the step made its own array: the buffer slot is free at once
                    held, owned = None, out.nbytes
                if not handoff.put(Item(out, held, info), owned):
                    for rest in frames[position:]:
                        rest.release()
                    return

    def _check_format(self, out: np.ndarray, number: int, frames: list[Frame]) -> None:
        spec = self.spec
        if spec is None:
            base = self.spec_base
            channels = base.channel_names if out.ndim == 2 else ("R", "G", "B")[: out.shape[0]]
            self.spec = StreamSpec(
                base.name, tuple(out.shape), out.dtype, base.count, base.pixel_size_um, base.interval_s, channels
            )
            return
        if tuple(out.shape) != spec.frame_shape or out.dtype != spec.dtype:
            for rest in frames:
                rest.release()
            raise RecordingError(
                f"camera {self.camera!r}, frame {number}: it is {out.shape} {out.dtype} (after the steps), the "
                f"recording's array is {spec.frame_shape} {spec.dtype}; a recording's frames cannot change size "
                "(was the ROI or binning changed while recording?)",
                self.camera,
                number,
            )

    def _step_failure(self, error: BaseException, step: str = "", number: int | None = None) -> RecordingError:
        where = f", step {step!r}" if step else ""
        at = f" at frame {number}" if number is not None else ""
        failure = RecordingError(
            f"camera {self.camera!r}{where} failed{at}: {type(error).__name__}: {error}", self.camera, number
        )
        failure.__cause__ = error
        return failure

    # -- the writer --------------------------------------------------------------------------
    def _write(self) -> None:
        held: deque[tuple[int, Frame]] = deque()
        try:
            self._write_runs(held)
        except BaseException as error:  # noqa: BLE001 - a failing write ends the recording, loudly
            self._fail(self._write_failure(error))
            self.abort()
        finally:
            self._finish(held)

    def _write_runs(self, held: deque[tuple[int, Frame]]) -> None:
        handoff, table = self.handoff, self.table
        while True:
            items = handoff.take(RUN)
            if items is None:
                return
            if self.stream is None:
                assert self.spec is not None
                self.stream = self.writer.add_stream(self.spec)
            stream = self.stream
            index = len(table)
            for item in items:
                table.add(item.info)
                if item.frame is not None:
                    held.append((index, item.frame))
                index += 1
            try:
                released = stream.write([item.array for item in items])
            finally:
                self.written, self.bytes_written = stream.written, stream.bytes_written
            while held and held[0][0] < released:
                held.popleft()[1].release()

    def _write_failure(self, error: BaseException) -> RecordingError:
        written = self.stream.written if self.stream is not None else 0
        number = self.table.number[written] if written < len(self.table) else None
        at = f" at frame {number}" if number is not None else ""
        failure = RecordingError(
            f"camera {self.camera!r}: writing failed{at} after {written} frames were written "
            f"({type(error).__name__}: {error}); the {written} frames written are readable",
            self.camera,
            number,
        )
        failure.__cause__ = error
        return failure

    def _finish(self, held: deque[tuple[int, Frame]]) -> None:
        """Close the stream (also after a failure: what was written stays readable), store the
        steps' images, release every frame still held, then report done."""
        try:
            if self.stream is None and self.error is None:  # no frame came: an empty array of the camera's format
                self.spec = self.spec or self.spec_base
                self.stream = self.writer.add_stream(self.spec)
            if self.stream is not None:
                assert self.spec is not None
                self._join_reader()
                for name, image in self.images.items():
                    self.writer.add_image(self.camera, name, image, self.spec)
                self.written = self.stream.close(self.table.table())
                self.bytes_written = self.stream.bytes_written
        except BaseException as error:  # noqa: BLE001 - reported; the frames written before stay
            self._fail(self._write_failure(error))
        finally:
            while held:
                held.popleft()[1].release()
            self.abort()
            self._join_reader()
            self.done.set()
            self.on_done(self)

    def _join_reader(self) -> None:
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join()

    def _fail(self, error: RecordingError) -> None:
        if self.error is None:
            self.error = error
            self.on_failure(error)


def _release(frame: Frame | None) -> None:
    if frame is not None:
        frame.release()
