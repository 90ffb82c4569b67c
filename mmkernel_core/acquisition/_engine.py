"""Software-timed engine: for each useq event wait for its `min_start_time`, apply only what
changed since the previous one (see `_steps`), run its autofocus or snap, and hand the frame
to the dataset's writer thread (`_writer_thread`: snapping the next event overlaps writing
this one). It runs on its own thread, never on a kernel infrastructure thread, uses only
the kernel's public verbs, and tells subscribers through the kernel's events (started, each
event, each frame, paused, finished)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime import new_thread
from ._dataset import DatasetWriter
from ._hwrun import HardwareRun
from ._layout import json_object, plate_of, sizes_of
from ._plan import Planner, Run
from ._rows import ChangedProperties, frame_row, planned_changes
from ._source import adaptive_events, as_sequence, plain_index
from ._steps import EventSteps, frame_probe, is_autofocus, is_image, missing_fov
from ._streams import FrameStreams, check_datastreams
from ._tiff import TiffDatasetWriter
from ._writer_thread import HANDOFF_BYTES, Job, WriterError, WriterThread, check_overflow, check_writer_options


@dataclass
class Progress:
    """How far a run is: events done of total, frames taken (kept in memory or handed to the
    writer), frames dropped (`overflow="drop"`), the current event; `written`: frames the
    writer has stored, `writer_behind`: the engine waits for it now."""

    events_done: int = 0
    events_total: int | None = 0  # None: an adaptive run, whose events are not known ahead
    frames: int = 0
    dropped: int = 0
    bytes: int = 0
    current: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def mb_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.bytes / 1e6 / elapsed if elapsed > 0 else 0.0

    @property
    def time_left_s(self) -> float | None:
        if not self.events_done or self.events_total is None:
            return None
        per = (time.monotonic() - self.started) / self.events_done
        return per * (self.events_total - self.events_done)

    _writer: WriterThread | None = field(default=None, repr=False, compare=False)

    @property
    def written(self) -> int:
        return self._writer.written if self._writer is not None else self.frames

    @property
    def writer_behind(self) -> bool:
        return self._writer is not None and self._writer.waiting


@dataclass
class AcquisitionResult:
    """What a finished run gives: why it ended, frames written (kept, with path=None), where,
    the error if any, and frames dropped (`overflow="drop"`: their rows say `dropped: true`)."""

    reason: str
    frames: int
    path: Path | None
    error: BaseException | None = None
    dropped: int = 0


class Acquisition:
    """A running acquisition: `progress`, `pause()`, `resume()`, `cancel()`, `wait()`."""

    def __init__(self, kernel: Any, sequence: Any, path: str | Path | None,
                 metadata: dict[str, Any] | None = None, hardware_sequencing: bool = True,
                 format: str = "ome-zarr", overflow: str = "block", datastreams: Any = (),  # noqa: A002
                 writer_options: dict[str, Any] | None = None) -> None:  # fmt: skip
        if format not in FORMATS:
            raise ValueError(f"acquire: format {format!r} is not supported; allowed: {', '.join(map(repr, FORMATS))}")
        self.format = format
        self.overflow = check_overflow(overflow)
        self.writer_options = check_writer_options(writer_options)
        self._streams = FrameStreams(kernel, check_datastreams(kernel, datastreams))
        self._changes = ChangedProperties(kernel)
        self._kernel = kernel
        self.hardware_sequencing = bool(hardware_sequencing)
        self._plan: list[Run] | None = None
        self._t0 = 0.0
        self.path = Path(path) if path is not None else None
        self.metadata = json_object(metadata)
        self._probe: Any = None  # the camera's frame format (grid steps, the dataset's arrays)
        known = as_sequence(sequence)
        self.sequence = self._with_grid_fov(known) if known is not None else None
        self.events: Iterable[Any] = list(self.sequence) if self.sequence is not None else adaptive_events(sequence)
        self.places: dict[tuple[int, int], str] = {}  # (p, g) -> the name of its image, in order of first use
        if isinstance(self.events, list):
            for event in self.events:
                self._place_of(event)
        total = len(self.events) if isinstance(self.events, list) else None
        self.progress = Progress(events_total=total)
        self._run = threading.Event()
        self._run.set()
        self._cancel = threading.Event()
        self._control = threading.Lock()  # pause, resume and cancel one at a time: none undoes a cancel
        self._done = threading.Event()
        self._result: AcquisitionResult | None = None
        self.images: dict[tuple[Any, ...], Any] = {}  # path=None: frames kept in memory
        self._thread = new_thread(self._main, "mmkernel-acquire")

    def _frame(self) -> Any:
        """The camera's frame format (a stand-in frame: shape and dtype), asked once."""
        if self._probe is None:
            self._probe = frame_probe(self._kernel)
        return self._probe

    def _with_grid_fov(self, sequence: Any) -> Any:
        """Grid plans step by the field of view: the camera frame through the pixel size. A
        copy: the caller's sequence is theirs, unchanged."""
        grid = sequence.grid_plan
        if grid is None or (grid.fov_width is not None and grid.fov_height is not None):
            return sequence
        fov = missing_fov(self._kernel, grid, self._frame().shape)
        return sequence.model_copy(update={"grid_plan": grid.model_copy(update=fov)})

    def start(self) -> Acquisition:
        self._thread.start()
        return self

    def pause(self) -> None:
        """Hold before the next event (the current frame completes); inside a hardware run,
        stop its stream there (the rest of the run goes on from there on `resume()`). Nothing
        once cancelled: a cancelled run ends, whatever is asked after."""
        with self._control:
            if not self._run.is_set() or self._done.is_set() or self._cancel.is_set():
                return
            self._run.clear()
            self._kernel.events.acquisition_paused.emit(self, True)

    def resume(self) -> None:
        with self._control:
            if self._run.is_set():
                return
            self._run.set()
            self._kernel.events.acquisition_paused.emit(self, False)

    def cancel(self) -> None:
        """Stop before the next event; the dataset is finalized."""
        with self._control:
            self._cancel.set()
            self._run.set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    def ended(self, timeout: float | None = 0.0) -> bool:
        """True once the run has ended (waiting up to `timeout` s): for progress loops."""
        return self._done.wait(timeout)

    @property
    def datastreams(self) -> dict[str, dict[str, list[Any]]]:
        """Each datastream's rows so far ({"time", "event", "value"}; event -1: a change between
        frames), as the dataset stores them: also with path=None."""
        return self._streams.columns

    def wait(self, timeout: float | None = None) -> AcquisitionResult:
        """Wait for the end (every frame handed over written, the dataset finalized) and return
        the result; it raises the error if the run failed (a device's, or the writer's)."""
        if not self._done.wait(timeout):
            raise TimeoutError(
                f"acquire: still running after {timeout} s "
                f"({self.progress.events_done} of {self.progress.events_total} events)"
            )
        assert self._result is not None
        if self._result.error is not None:
            raise self._result.error
        return self._result

    # -- the run --------------------------------------------------------------------------
    def _main(self) -> None:
        writer, thread = None, None
        reason, error = "completed", None
        steps = EventSteps(self._kernel)
        self._kernel.events.acquisition_started.emit(self)
        try:
            writer = self._open_writer()
            if writer is not None:
                size = self.writer_options.get("handoff_bytes", HANDOFF_BYTES)
                thread = WriterThread(writer, self.overflow, size, self._announce)
                self.progress._writer = thread.start()
            self._streams.start()
            self._changes.start()
            self._loop(thread, steps)
            if self._cancel.is_set():
                reason = "cancelled"
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            reason, error = "failed", exc
        finally:
            try:
                steps.close()
            except BaseException as exc:  # noqa: BLE001 - a shutter left open is reported, the data kept
                error = error or exc
            reason, error = self._finish(writer, thread, reason, error)
            frames = thread.written if thread is not None else self.progress.frames
            self._result = AcquisitionResult(reason, frames, self.path, error, self.progress.dropped)
            self.resume()  # a pause asked at the last event ends with the run: an ended run is not paused
            self._done.set()
            self._kernel.events.acquisition_finished.emit(self, self._result)

    def _finish(self, writer: Any, thread: WriterThread | None, reason: str,
                error: BaseException | None) -> tuple[str, BaseException | None]:  # fmt: skip
        """Everything handed over written (the writer thread ends), the last datastream rows,
        then the dataset finalized with why the run ended; a writer failure fails the run."""
        rows = self._streams.close()
        self._changes.stop()
        failure = thread.finish() if thread is not None else None
        if failure is not None:
            reason, error = "failed", error or failure
        if writer is None:
            return reason, error
        try:
            if failure is None:
                writer.add_streams(rows)
        except BaseException as exc:  # noqa: BLE001 - the frames written are still finalized
            reason, error = "failed", error or _writer_error("writing the last datastream rows", exc)
        try:
            writer.finalize(reason)
        except BaseException as exc:  # noqa: BLE001 - reported through wait(); never a run left hanging
            reason, error = "failed", error or _writer_error("finalizing the dataset", exc)
        return reason, error

    def _place_of(self, event: Any) -> str:
        """The image an event's frame goes to: one per (position, grid point)."""
        key = (event.index.get("p", 0), event.index.get("g", 0))
        name = self.places.get(key)
        if name is None:
            name = event.pos_name or f"p{key[0]}"
            if "g" in event.index:
                name = f"{name}_g{key[1]}"
            self.places[key] = name
        return name

    def _open_writer(self) -> DatasetWriter | TiffDatasetWriter | None:
        if self.path is None:
            return None
        k = self._kernel
        probe = self._frame()
        seq = self.sequence
        px = k.pixel_size_um() or 1.0
        if seq is None:  # adaptive: every axis, grown as events reach further
            axes, sizes, channels, text = ["t", "c", "z"], {}, [], None
            z_step, t_step = 1.0, 1.0
        else:
            sizes = sizes_of(self.events)
            axes = [a for a in "tcz" if sizes[a] > 0]
            channels, text = [c.config for c in seq.channels], seq.model_dump_json(exclude_unset=True)
            z_step = getattr(seq.z_plan, "step", None) or 1.0
            interval = getattr(seq.time_plan, "interval", None)
            t_step = interval.total_seconds() if interval is not None and interval.total_seconds() > 0 else 1.0
        scale = {"t": t_step, "c": 1.0, "z": float(z_step), "y": float(px), "x": float(px)}
        kind = TiffDatasetWriter if self.format == "ome-tiff" else DatasetWriter
        writer = kind(self.path, axes=axes, sizes=sizes, shape=probe.shape[-2:], dtype=probe.dtype,
                      channels=channels, scale=scale, sequence_json=text, metadata=self.metadata,
                      plate=plate_of(seq), datastreams=self._streams.keys)  # fmt: skip
        for name in self.places.values():  # a run cut short still has every image it would have had
            writer.place(name)
        return writer

    @property
    def plan(self) -> list[Run]:
        """The runs this acquisition makes of its events: hardware-sequenced ones (each merged
        run streams one frame per event) and software-timed ones, each with why it is."""
        if self._plan is None:
            if not isinstance(self.events, list):
                raise TypeError("acquire: an adaptive run's events are not known ahead, so it has no plan")
            self._plan = Planner(self._kernel, self.hardware_sequencing).plan(self.events)
        return self._plan

    def _loop(self, writer: Any, steps: EventSteps) -> None:
        self._t0 = time.monotonic()
        runs = self.plan if isinstance(self.events, list) else (Run([event]) for event in self.events)
        number = 0
        for planned in runs:
            run: Run | None = planned
            while run is not None:  # a hardware run paused midway goes on from where it stopped
                self._run.wait()
                if self._cancel.is_set():
                    return
                try:
                    if run.hardware:
                        done, run = self._hardware_run(run, number, writer, steps)
                    else:
                        done = self._software_event(run.events[0], number, writer, steps)
                        run = None
                except WriterError:
                    raise  # it says what failed; no event did
                except Exception as exc:
                    event = self.progress.current
                    raise RuntimeError(f"acquire: event {number} {plain_index(event)} failed: {exc}") from exc
                number += done
                self.progress.events_done = number

    def _begin(self, event: Any) -> bool:
        """An event starts: announced, its start time waited for; False if cancelled meanwhile."""
        self.progress.current = event
        self._kernel.events.acquisition_event_started.emit(self, event)
        if event.reset_event_timer:
            self._t0 = time.monotonic()
        if event.min_start_time:  # before the event's moves, as pymmcore-plus's runner waits
            delay = self._t0 + event.min_start_time - time.monotonic()
            if delay > 0 and self._cancel.wait(delay):
                return False
        return True

    def _software_event(self, event: Any, number: int, writer: Any, steps: EventSteps) -> int:
        """One event timed in software; the events done (0: cancelled while it waited to start)."""
        if not self._begin(event):
            return 0
        steps.apply(event)
        if is_autofocus(event):
            steps.autofocus(event)
        elif is_image(event):
            started = time.monotonic() - self._t0
            image = steps.snap(event)
            self._store(writer, number, event, image, started, steps)
        return 1

    def _hardware_run(self, run: Run, number: int, writer: Any, steps: EventSteps) -> tuple[int, Run | None]:
        """One triggered run: the first event applied, every changing property's values loaded
        and started, then one camera frame per event (frame k taken at value k). Returns the
        events done and, when a pause stopped it midway, the rest of the run (run again from
        its first event on resume: the frames the camera took past the pause are taken again)."""
        k = self._kernel
        if not self._begin(run.events[0]):
            return 0, None
        steps.apply(run.events[0])
        hardware = HardwareRun(k, run, steps)
        done, rest = 0, None
        kept = KeptRun(len(run.events)) if writer is None else None
        try:
            hardware.start()
            with hardware.frames() as frames:
                for i, (event, frame) in enumerate(frames):
                    if i:
                        self.progress.current = event
                        k.events.acquisition_event_started.emit(self, event)
                    started = time.monotonic() - self._t0
                    planned = planned_changes(run, i)
                    if kept is not None:  # in memory: out of the ring into the run's one block
                        image = kept.keep(i, frame.array)
                        self._store(writer, number + i, event, image, started, steps, False, planned=planned)
                    else:
                        self._store(writer, number + i, event, frame.array, started, steps, False, True, planned)
                    done = i + 1
                    self.progress.events_done = number + done
                    if self._cancel.is_set():  # stops within one frame: leaving the stream stops it
                        break
                    if not self._run.is_set() and done < len(run.events):  # paused: stop here
                        rest = run.tail(done)
                        break
        except BaseException:
            hardware.stop_quietly()
            raise
        finally:
            steps.forget()  # the devices are where the run left them: the next event sets all it names
        hardware.stop()
        return done, rest

    def _store(self, writer: WriterThread | None, number: int, event: Any, image: Any, started: float,
               steps: EventSteps, actual: bool = True, ring: bool = False,
               planned: dict[str, Any] | None = None) -> None:  # fmt: skip
        """One frame to the writer thread (or memory) with its table row and datastream rows;
        `actual=False` in a hardware run, where the stages move without the kernel reading
        them. `ring`: the pixels are the camera ring's, released when the run moves on: copied
        if they are kept (memory, a subscriber, the writer: copied once it has room, so no
        frame is overwritten before it is written and a dropped one costs no copy)."""
        index = {str(a): int(v) for a, v in event.index.items()}
        streams = self._streams.at_frame(number)
        seen = self._changes.take()  # taken at every frame, also when no row is made
        changed = seen if planned is None else planned
        if ring and writer is None:
            image, ring = np.array(image), False  # kept: out of the ring before it is released
        if writer is None:
            self.images[tuple(index.get(a, 0) for a in "ptcz")] = image
            ready = self._kernel.events.acquisition_frame_ready
            if ready.connected:  # the row is for the subscribers only: not made for nobody
                ready.emit(self, event, image, frame_row(number, index, event, started, steps, actual, changed))
            self.progress.frames += 1
            self.progress.bytes += image.nbytes
            return
        row = frame_row(number, index, event, started, steps, actual, changed)
        channel = event.channel.config if event.channel else None
        job = Job(self._place_of(event), index, image, row, channel, streams, event)
        if writer.put(job, copy=ring):  # announced by the writer thread once written (_announce)
            self.progress.frames += 1
            self.progress.bytes += image.nbytes
        else:
            self.progress.dropped += 1

    def _announce(self, job: Job) -> None:
        """A frame is in the dataset (on the writer thread): acquisition_frame_ready, in the
        order the frames were taken; a dropped frame's with no image (its pixels were not kept)."""
        self._kernel.events.acquisition_frame_ready.emit(self, job.event, job.image, job.row)


FORMATS = ("ome-zarr", "ome-tiff")


class KeptRun:
    """A hardware run's frames kept in memory (path=None): copied into one block for the whole
    run, taken at its first frame, each frame a view of it. One large allocation is faulted in
    with the kernel's huge pages where it offers them (numpy asks for them): about half the
    time of a fresh array per frame, whose every 4 KiB page faults on its first write."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.block: np.ndarray | None = None

    def keep(self, i: int, image: np.ndarray) -> np.ndarray:
        if self.block is None or self.block.shape[1:] != image.shape or self.block.dtype != image.dtype:
            self.block = np.empty((self.frames, *image.shape), dtype=image.dtype)
        kept = self.block[i]
        np.copyto(kept, image)
        return kept


def start_acquisition(
    kernel: Any,
    sequence: Any,
    path: str | Path | None = None,
    metadata: dict[str, Any] | None = None,
    hardware_sequencing: bool = True,
    format: str = "ome-zarr",  # noqa: A002
    overflow: str = "block",
    datastreams: Any = (),
    writer_options: dict[str, Any] | None = None,
) -> Acquisition:
    """Start `sequence` on `kernel` and return the running `Acquisition`; every argument is
    checked before anything starts."""
    acquisition = Acquisition(kernel, sequence, path, metadata, hardware_sequencing, format, overflow,
                              datastreams, writer_options)  # fmt: skip
    if isinstance(acquisition.events, list):
        _ = acquisition.plan  # planned before it starts: a device that cannot be asked fails here
    return acquisition.start()


def _writer_error(what: str, cause: BaseException) -> WriterError:
    error = WriterError(f"acquire: {what} failed ({type(cause).__name__}: {cause})")
    error.__cause__ = cause
    return error
