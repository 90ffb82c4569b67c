"""`mmkernel record`: record cameras to OME-Zarr or OME-TIFF, with a live progress bar."""

from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from mmkernel_sdk.errors import MMKernelError

from ..recording import Recording, RecordingResult
from ._inspect import ConfigOption
from ._session import fail, kernel_session, out, warn

REFRESH_S = 0.1


Output = Annotated[Path, typer.Option("--output", "-o", help="A new .ome.zarr directory or .ome.tif file")]
Frames = Annotated[int | None, typer.Option("--frames", "-n", help="Frames per camera (default: until Ctrl-C)")]
Cameras = Annotated[list[str] | None, typer.Option(help="Camera label; repeat for several (default: Camera role)")]
Format = Annotated[str | None, typer.Option("--format", help="ome-zarr or ome-tiff (default: from the name)")]
Steps = Annotated[list[str] | None, typer.Option(help="A processing step: bin:2, crop:0,0,256,256, max-projection")]
Overflow = Annotated[str, typer.Option(help="block (the camera waits) or drop (frames dropped, counted)")]
Compression = Annotated[str | None, typer.Option(help="OME-Zarr: none, blosc-lz4 or blosc-zstd")]
Interval = Annotated[float, typer.Option(help="Time between frames in ms (0: as fast as the camera goes)")]
Duration = Annotated[float | None, typer.Option(help="Stop after this many seconds (everything acquired is written)")]
MaxGB = Annotated[float | None, typer.Option("--max-gb", help="Stop once this many GB (10^9 bytes) are written")]


def record(
    output: Output,
    frames: Frames = None,
    config: ConfigOption = "demo",
    camera: Cameras = None,
    format: Format = None,  # noqa: A002 - the option's name
    step: Steps = None,
    overflow: Overflow = "block",
    compression: Compression = None,
    interval_ms: Interval = 0.0,
    duration: Duration = None,
    max_gb: MaxGB = None,
) -> None:
    """Record camera frames on the kernel's own threads; prints progress, then a summary line.
    Ends after --frames, --duration or --max-gb, whichever comes first, or at Ctrl-C / SIGTERM."""
    chosen = format or ("ome-tiff" if output.name.lower().endswith((".tif", ".tiff")) else "ome-zarr")
    options = {"compression": compression} if compression else None
    if options and chosen != "ome-zarr":
        raise fail("--compression applies to ome-zarr only")
    for name, value in (("--duration", duration), ("--max-gb", max_gb)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise fail(f"{name} {value!r} is not allowed; allowed: a number > 0")
    signals = _StopSignals()
    try:
        with kernel_session(config) as kernel:
            cameras = camera or None
            _warn_about_room(kernel, cameras, output, frames, duration, max_gb, interval_ms)
            signals.install()  # from here to the summary: a stop signal never cuts finalizing short
            recording = kernel.record(cameras, output, count=frames, format=chosen, steps=step or (),
                                      overflow=overflow, interval_ms=interval_ms, writer_options=options)  # fmt: skip
            result = _run(recording, signals, frames, duration, max_gb)
        out.print(_summary(result))
    finally:
        signals.restore()


def _run(
    recording: Recording, signals: _StopSignals, frames: int | None, duration: float | None, max_gb: float | None
) -> RecordingResult:
    """Show progress until the recording ends or is stopped (a limit, Ctrl-C, SIGTERM), then
    wait for everything acquired to be written and the dataset finalized."""
    total = frames * len(recording.cameras) if frames else None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} frames"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())  # fmt: skip
    try:
        with Progress(*columns, console=out, transient=True) as bar:
            task = bar.add_task("recording", total=total, rate="")
            started = time.monotonic()
            while not recording.done():
                _show(bar, task, recording)
                if signals.received or _limit_reached(recording, started, duration, max_gb):
                    recording.stop()
                time.sleep(REFRESH_S)  # a display refresh, not synchronisation
            _show(bar, task, recording)
    except KeyboardInterrupt:  # not through our handlers (installed on the main thread only)
        recording.stop()
    try:
        return recording.wait()
    except Exception as error:  # noqa: BLE001 - one clear line, and what was kept
        result = recording.result
        if result is not None:
            out.print(_summary(result))
        raise fail(str(error)) from None


def _limit_reached(recording: Recording, started: float, duration: float | None, max_gb: float | None) -> bool:
    if duration is not None and time.monotonic() - started >= duration:
        return True
    return max_gb is not None and recording.progress.bytes_written >= max_gb * 1e9


def _warn_about_room(
    kernel: Any,
    cameras: list[str] | None,
    output: Path,
    frames: int | None,
    duration: float | None,
    max_gb: float | None,
    interval_ms: float,
) -> None:
    """Before anything starts: say so when the disk cannot hold what the limits plan (or, with
    no limit at all, how long its free space lasts at the camera's frame size)."""
    folder = output.parent if output.parent.exists() else Path.cwd()
    free = shutil.disk_usage(folder).free
    labels = cameras or [kernel.roles.camera]
    frame_bytes = sum(_frame_bytes(kernel, label) for label in labels if label)
    planned = [frames * frame_bytes] if frames else []
    if max_gb is not None:
        planned.append(int(max_gb * 1e9))
    if duration is not None and interval_ms > 0:
        planned.append(int(duration * 1000 / interval_ms) * frame_bytes)
    if planned and min(planned) > free:
        warn(f"the recording plans {min(planned) / 1e9:.1f} GB but {folder} has {free / 1e9:.1f} GB free; it stops "
             "when the disk is full (what was written stays readable)")  # fmt: skip
    elif not planned and duration is None:
        frames_free = free // frame_bytes if frame_bytes else 0
        warn(f"no --frames, --duration or --max-gb: recording until Ctrl-C; {folder} has {free / 1e9:.1f} GB free "
             f"({frames_free} frames of {frame_bytes / 1e6:.1f} MB)")  # fmt: skip


def _frame_bytes(kernel: Any, camera: str) -> int:
    try:
        shape, dtype = kernel.internals.frame_format(camera)
    except MMKernelError:  # not a camera, not loaded: record() says so, clearly
        return 0
    return int(math.prod(shape)) * dtype.itemsize


class _StopSignals:
    """SIGTERM (a scheduler's stop, `kill`) and Ctrl-C while recording: the first stops the
    recording, everything acquired is written and the dataset is finalized; a later one (an
    impatient second Ctrl-C, a scheduler repeating its SIGTERM) is noted, never fatal, so the
    dataset is always finished and the summary printed. The handler only counts and warns: it
    runs on the main thread between any two bytecodes, so it takes no lock and raises nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received = 0
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers (and receives signals)
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: object) -> None:
        self.received += 1
        if self.received > 1:
            warn(f"{signal.Signals(signum).name} ignored: the recording is stopping; it ends once everything "
                 "acquired is written and the dataset is finalized")  # fmt: skip


def _show(bar: Progress, task: TaskID, recording: Recording) -> None:
    progress = recording.progress
    rate = f"{progress.frames_per_s:.0f} frames/s, {progress.mb_per_s:.0f} MB/s"
    if progress.dropped:
        rate += f", {progress.dropped} dropped"
    bar.update(task, completed=progress.written, rate=rate)


def _summary(result: RecordingResult) -> str:
    shapes = ", ".join(f"{camera} {'x'.join(map(str, shape))}" for camera, shape in result.shapes.items())
    written = sum(result.frames_written.values())
    seconds = result.elapsed_s
    rate = written / seconds if seconds > 0 else 0.0
    ratio = f", compression {result.compression_ratio:.2f}x" if result.compression_ratio else ""
    return (
        f"wrote {written} frames ({shapes}) to {result.path} in {seconds:.2f} s: {rate:.0f} frames/s, "
        f"{result.mb_per_s:.0f} MB/s, dropped {result.dropped}{ratio}"
    )
