"""Software-timed engine: for each useq event apply only what changed since the previous one
(channel preset, exposure, XY and Z moved in parallel then waited for together), honour
`min_start_time`, snap, and hand the frame to the dataset. It runs on its own thread, never
on a kernel infrastructure thread, and uses only the kernel's public verbs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime import new_thread
from ._dataset import DatasetWriter


def as_sequence(sequence: Any) -> Any:
    """A `useq.MDASequence` from itself, its dict, JSON text or a YAML/JSON file path."""
    import useq

    if isinstance(sequence, useq.MDASequence):
        return sequence
    if isinstance(sequence, dict):
        return useq.MDASequence.model_validate(sequence)
    if isinstance(sequence, Path) or (isinstance(sequence, str) and sequence.endswith((".yaml", ".yml", ".json"))):
        return useq.MDASequence.from_file(sequence)
    if isinstance(sequence, str):
        return useq.MDASequence.model_validate_json(sequence)
    raise TypeError(
        f"acquire: sequence must be a useq.MDASequence, a dict, JSON or a file path, not {type(sequence).__name__}"
    )


@dataclass
class Progress:
    """How far a run is: events done of total, frames written, the current event."""

    events_done: int = 0
    events_total: int = 0
    frames: int = 0
    current: Any = None
    started: float = field(default_factory=time.monotonic)

    @property
    def time_left_s(self) -> float | None:
        if not self.events_done:
            return None
        per = (time.monotonic() - self.started) / self.events_done
        return per * (self.events_total - self.events_done)


@dataclass
class AcquisitionResult:
    """What a finished run gives: why it ended, frames written, where, and the error if any."""

    reason: str
    frames: int
    path: Path | None
    error: BaseException | None = None


class Acquisition:
    """A running acquisition: `progress`, `pause()`, `resume()`, `cancel()`, `wait()`."""

    def __init__(self, kernel: Any, sequence: Any, path: str | Path | None) -> None:
        self._kernel = kernel
        self.path = Path(path) if path is not None else None
        self._probe: Any = None  # one snap tells the frame format (grid steps, the dataset's arrays)
        self.sequence = self._with_grid_fov(as_sequence(sequence))
        self.events = list(self.sequence)
        self.places = _places(self.events)  # (p, g) -> position index of the dataset
        self.progress = Progress(events_total=len(self.events))
        self._run = threading.Event()
        self._run.set()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._result: AcquisitionResult | None = None
        self.images: dict[tuple[Any, ...], Any] = {}  # path=None: frames kept in memory
        self._thread = new_thread(self._main, "mmkernel-acquire")

    def _frame(self) -> Any:
        """A frame from the camera itself (snapped once): its shape and dtype."""
        if self._probe is None:
            self._probe = self._kernel.snap()
        return self._probe

    def _with_grid_fov(self, sequence: Any) -> Any:
        """Grid plans step by the field of view: the camera frame through the pixel size. A
        copy: the caller's sequence is theirs, unchanged."""
        grid = sequence.grid_plan
        if grid is None or (grid.fov_width is not None and grid.fov_height is not None):
            return sequence
        height, width = self._frame().shape[-2:]
        px = self._kernel.pixel_size_um() or 1.0
        fov = {"fov_width": grid.fov_width or width * px, "fov_height": grid.fov_height or height * px}
        return sequence.model_copy(update={"grid_plan": grid.model_copy(update=fov)})

    def start(self) -> Acquisition:
        self._thread.start()
        return self

    def pause(self) -> None:
        """Hold before the next event (the current frame completes)."""
        self._run.clear()

    def resume(self) -> None:
        self._run.set()

    def cancel(self) -> None:
        """Stop before the next event; the dataset is finalized."""
        self._cancel.set()
        self._run.set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    def ended(self, timeout: float | None = 0.0) -> bool:
        """True once the run has ended (waiting up to `timeout` s): for progress loops."""
        return self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> AcquisitionResult:
        """Wait for the end and return the result (it raises the device's error if one failed)."""
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
        writer = None
        reason, error = "completed", None
        try:
            writer = self._open_writer()
            self._loop(writer)
            if self._cancel.is_set():
                reason = "cancelled"
        except BaseException as exc:  # noqa: BLE001 - handed to wait()
            reason, error = "failed", exc
        finally:
            if writer is not None:
                writer.finalize(reason)
            self._result = AcquisitionResult(reason, self.progress.frames, self.path, error)
            self._done.set()

    def _open_writer(self) -> DatasetWriter | None:
        if self.path is None:
            return None
        k = self._kernel
        probe = self._frame()
        seq = self.sequence
        positions = [name for name, _ in self.places.values()]
        sizes = {a: seq.sizes.get(a, 0) for a in "tcz"}
        px = k.pixel_size_um() or 1.0
        z_step = getattr(seq.z_plan, "step", None) or 1.0
        interval = getattr(seq.time_plan, "interval", None)
        t_step = interval.total_seconds() if interval is not None and interval.total_seconds() > 0 else 1.0
        channels = [c.config for c in seq.channels]
        scale = {"t": t_step, "c": 1.0, "z": float(z_step), "y": float(px), "x": float(px)}
        text = seq.model_dump_json(exclude_unset=True)
        return DatasetWriter(self.path, positions=positions, sizes=sizes, shape=probe.shape[-2:], dtype=probe.dtype,
                             channels=channels, scale=scale, sequence_json=text)  # fmt: skip

    def _loop(self, writer: DatasetWriter | None) -> None:
        k = self._kernel
        camera, focus, xy = k.roles.camera, k.roles.focus, k.roles.xy_stage
        last: dict[str, Any] = {}
        t0 = time.monotonic()
        for number, event in enumerate(self.events):
            self._run.wait()
            if self._cancel.is_set():
                return
            self.progress.current = event
            try:
                if event.reset_event_timer:
                    t0 = time.monotonic()
                self._apply(event, last, camera, focus, xy)
                if event.min_start_time:
                    delay = t0 + event.min_start_time - time.monotonic()
                    if delay > 0 and self._cancel.wait(delay):
                        return
                started = time.monotonic() - t0
                image = k.snap()
            except Exception as exc:
                raise RuntimeError(f"acquire: event {number} {dict(event.index)} failed: {exc}") from exc
            index = {str(a): int(v) for a, v in event.index.items()}
            row = {"event": number, **index, "channel": event.channel.config if event.channel else None,
                   "x_um": event.x_pos, "y_um": event.y_pos, "z_um": event.z_pos,
                   "exposure_ms": last.get("exposure"), "time_s": started}  # fmt: skip
            if writer is not None:
                writer.write(self.places[(index.get("p", 0), index.get("g", 0))][1], index, image, row)
            else:
                self.images[tuple(index.get(a, 0) for a in "ptcz")] = image
            self.progress.frames += 1
            self.progress.events_done = number + 1

    def _apply(self, event: Any, last: dict[str, Any], camera: str, focus: str, xy: str) -> None:
        """Apply what changed: the preset, properties, exposure, XY and Z are all queued at once
        (each on its device's runner, so they run in parallel), each changed device's wait is
        queued right behind its change, and then this thread waits once for all of them."""
        k = self._kernel
        sets, waits = [], []
        if event.channel is not None and last.get("channel") != (event.channel.group, event.channel.config):
            group, preset = event.channel.group, event.channel.config
            sets.append(k.submit.set_config(group, preset))
            waits.append(k.submit.wait_for_config(group, preset))
            last["channel"] = (group, preset)
        for prop in event.properties or ():
            sets.append(k.submit.set_property(prop.device_name, prop.property_name, prop.property_value))
            waits.append(k.submit.wait_for(prop.device_name))
        if event.exposure is not None and last.get("exposure") != event.exposure:
            sets.append(k.submit.set_property(camera, "Exposure", event.exposure))
            last["exposure"] = event.exposure
        if xy and (event.x_pos is not None or event.y_pos is not None):
            target = (event.x_pos, event.y_pos)
            if last.get("xy") != target:
                x, y = target
                if x is None or y is None:
                    cx, cy = k.get_xy_position(xy)
                    x, y = (cx if x is None else x), (cy if y is None else y)
                sets.append(k.submit.set_xy_position(xy, x, y))
                waits.append(k.submit.wait_for(xy))
                last["xy"] = target
        if focus and event.z_pos is not None and last.get("z") != event.z_pos:
            sets.append(k.submit.set_position(focus, event.z_pos))
            waits.append(k.submit.wait_for(focus))
            last["z"] = event.z_pos
        for request in (*sets, *waits):  # a change's own error first, then a device that stayed busy
            request.result()


def start_acquisition(kernel: Any, sequence: Any, path: str | Path | None = None) -> Acquisition:
    """Start `sequence` on `kernel` and return the running `Acquisition`."""
    return Acquisition(kernel, sequence, path).start()


def _places(events: Iterable[Any]) -> dict[tuple[int, int], tuple[str, int]]:
    """Each (position, grid point) pair becomes one image of the dataset, in order of first use."""
    places: dict[tuple[int, int], tuple[str, int]] = {}
    for event in events:
        key = (event.index.get("p", 0), event.index.get("g", 0))
        if key not in places:
            name = event.pos_name or f"p{key[0]}"
            if "g" in event.index:
                name = f"{name}_g{key[1]}"
            places[key] = (name, len(places))
    return places
