"""`MMKernelEngine`: pymmcore-plus's `PMDAEngine` protocol over a Kernel, so its `MDARunner`
(signals, pause and cancel, writers and sinks) drives MMKernel's devices.

The protocol is structural: nothing here imports pymmcore_plus (an optional dependency).
`MDARunner.run` calls the engine on the thread that called `run`, so the runner's signal
handlers run there too, never on a kernel thread. Each event applies only what changed since
the previous one and runs its action (the steps `kernel.acquire` uses, `_steps`): an image, or
a hardware autofocus whose correction later z targets at that position follow.

`event_iterator` plans the events as `kernel.acquire` does (`_plan.Planner`): consecutive events
every changing device can sequence become one pymmcore-plus `SequencedEvent` (imported from
pymmcore_plus.core only then: the runner has loaded it), which `setup_event` applies and loads
(`_hwrun.HardwareRun`), `exec_event` streams as one frame per event, each with its own event,
and `teardown_event` stops, also after a cancel or an error mid-run."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np

from ._hwrun import HardwareRun
from ._plan import XY, Planner, Run
from ._steps import EventSteps, frame_probe, is_autofocus, is_image, missing_fov

logger = logging.getLogger("mmkernel.acquisition")

_PIXEL_FORMATS = {"uint8": "Mono8", "uint16": "Mono16", "uint32": "Mono32"}


class MMKernelEngine:
    """Runs useq events on `kernel` for pymmcore-plus's `MDARunner`:

        runner = MDARunner()
        runner.set_engine(MMKernelEngine(kernel))
        runner.run(sequence, output="run.ome.zarr")

    `setup_sequence` reads the camera's frame format (its shape and dtype go into the summary
    metadata the runner's sinks need) and, like pymmcore-plus's own engine, gives a grid plan without a field
    of view the camera frame through the pixel size, on the sequence itself (the runner iterates
    that object). `include_position=False` leaves the stage positions out of the frame metadata;
    `hardware_sequencing=False` runs every event in software.
    """

    def __init__(self, kernel: Any, *, include_position: bool = True, hardware_sequencing: bool = True) -> None:
        self.kernel = kernel
        self.include_position = include_position
        self.hardware_sequencing = hardware_sequencing
        self._changes = EventSteps(kernel)
        self._merged: dict[int, tuple[Any, Run]] = {}  # id(SequencedEvent) -> (it, its run), until torn down
        self._hardware: HardwareRun | None = None  # the merged run set up (its sequences started)
        self._stream: Generator[Any, Any, None] | None = None  # its frames, while the runner takes them

    # -- PMDAEngine ---------------------------------------------------------------------------
    def setup_sequence(self, sequence: Any) -> dict[str, Any]:
        """Forget what earlier runs set (devices may have moved since), honour the sequence's
        `setup` event, fill missing grid fields of view; the summary metadata."""
        self._changes.forget()
        self._merged.clear()
        setup = getattr(sequence, "setup", None)
        if setup is not None:
            self.setup_event(setup)
        probe = frame_probe(self.kernel)
        grids = [getattr(sequence, "grid_plan", None)]
        grids += [p.sequence.grid_plan for p in getattr(sequence, "stage_positions", ()) if p.sequence]
        for grid in grids:
            for name, value in missing_fov(self.kernel, grid, probe.shape).items():
                setattr(grid, name, value)
        return self.summary_metadata(sequence, probe)

    def setup_event(self, event: Any) -> None:
        """Apply what changed since the previous event and wait for the system; for a merged
        run, its first event, then load and start every changing property's values. A failure
        keeps the kernel's error (it names the device, property and value) with a note of the
        event, and stops any sequence already started."""
        run = self._run_of(event)
        first = run.events[0] if run is not None else event
        try:
            self._changes.apply(first)
            if run is not None:
                hardware = HardwareRun(self.kernel, run, self._changes)
                hardware.start()
                self._hardware = hardware
        except Exception as exc:
            self._changes.forget()  # what the failed event did set is not known
            self._merged.pop(id(event), None)
            exc.add_note(f"MMKernelEngine: while setting up event {_index(first)}")
            raise

    def exec_event(self, event: Any) -> Iterable[tuple[Any, Any, dict[str, Any]]]:
        """Snap one image: `[(image, event, metadata)]`. Events whose action is not to acquire
        an image (autofocus, custom actions) give no frame. A merged run gives a generator of
        one frame per event, each with its own event, that stops streaming when the runner sends
        it "cancel" (a pause waits for the run's end)."""
        run = self._run_of(event)
        if run is not None and self._hardware is not None:
            self._stream = self._stream_run(event, self._hardware)
            return self._stream
        if is_autofocus(event):
            try:
                self._changes.autofocus(event)
            except Exception as exc:  # noqa: BLE001 - as pymmcore-plus: a failed autofocus is logged, the run goes on
                logger.warning("MMKernelEngine: autofocus at event %s failed: %s", _index(event), exc)
            return []
        if not is_image(event):
            logger.warning("MMKernelEngine: %s actions are not supported; event %s gives no frame",
                           type(event.action).__name__, _index(event))  # fmt: skip
            return []
        try:
            image = self._changes.snap(event)
        except Exception as exc:
            exc.add_note(f"MMKernelEngine: while snapping event {_index(event)}")
            raise
        t0 = event.metadata.get("runner_t0")  # the runner's clock, handed over in the event
        return [(image, event, self.frame_metadata(event, t0))]

    def event_iterator(self, events: Iterable[Any]) -> Iterator[Any]:
        """The events as `kernel.acquire` plans them, taken as they come: consecutive events
        every changing device can sequence merged into one pymmcore-plus `SequencedEvent`
        (its `events`, and its x/y/z/exposure and property sequences), the others one by one.
        Without pymmcore-plus, or with `hardware_sequencing=False`, every event is its own."""
        merged_class = _sequenced_event_class() if self.hardware_sequencing else None
        if merged_class is None:
            yield from events
            return
        for run in Planner(self.kernel).runs(events):
            if not run.hardware:
                yield run.events[0]
                continue
            merged = _merged_event(merged_class, run, self.kernel.roles)
            self._merged[id(merged)] = (merged, run)
            yield merged

    def teardown_event(self, event: Any) -> None:
        """After a merged run (however it ended): its camera stream ended if the runner left it
        midway, then every started sequence stopped. Otherwise nothing to undo (the
        auto-shutter closes after each snap)."""
        if self._merged.pop(id(event), None) is None:
            return
        stream, self._stream = self._stream, None
        hardware, self._hardware = self._hardware, None
        self._changes.forget()  # the devices are where the run left them: the next event sets all it names
        try:
            if stream is not None:
                stream.close()  # a runner that stopped taking frames (a failing sink): the stream ends here
        finally:
            if hardware is not None:
                hardware.stop()

    def teardown_sequence(self, sequence: Any) -> None:
        """Close a shutter `keep_shutter_open` left open; the devices stay where the last event
        put them."""
        self._changes.close()

    def _run_of(self, event: Any) -> Run | None:
        """The merged run `event` stands for (None for an event run on its own)."""
        entry = self._merged.get(id(event))
        return entry[1] if entry is not None and entry[0] is event else None

    def _stream_run(self, merged: Any, hardware: HardwareRun) -> Generator[Any, Any, None]:
        """One frame per event of the merged run, as the camera streams them."""
        t0 = merged.metadata.get("runner_t0")
        events, given, warned = hardware.run.events, 0, False
        try:
            with hardware.frames() as frames:
                for event, frame in frames:
                    image = np.array(frame.array)  # the runner's handlers and sink keep it: out of the ring
                    signal = yield (image, event, self.frame_metadata(event, t0, triggered=True))
                    given += 1
                    if signal == "cancel":  # the stream stops within this frame
                        return
                    if signal == "pause" and not warned:
                        warned = True
                        logger.warning("MMKernelEngine: a pause takes effect after this hardware-sequenced run")
        except Exception as exc:
            exc.add_note(f"MMKernelEngine: while streaming events {_index(events[0])}..{_index(events[-1])}")
            raise
        if given < len(events):  # a stream that ended early: the runner tells its sink what is missing
            logger.warning("MMKernelEngine: %d of %d frames came from the camera", given, len(events))
            for _ in range(len(events) - given):
                yield None

    # -- metadata -----------------------------------------------------------------------------
    def frame_metadata(self, event: Any, runner_t0: float | None = None, triggered: bool = False) -> dict[str, Any]:
        """What pymmcore-plus's engine gives per frame (its `FrameMetaV1` keys), as a dict. A
        hardware-triggered frame (`triggered`) has the values its event asked for and no
        `position`: the stages step without the kernel reading them."""
        k = self.kernel
        camera = k.roles.camera
        exposure = k.get_property(camera, "Exposure", from_cache=True)
        if triggered and event.exposure is not None:
            exposure = event.exposure
        meta: dict[str, Any] = {
            "format": "frame-dict",
            "version": "1.0",
            "camera_device": camera,
            "exposure_ms": float(exposure),
            "pixel_size_um": float(k.pixel_size_um()),
            "property_values": self._channel_values(event, cached=not triggered),
            "mda_event": event,
        }
        if runner_t0 is not None:  # else the runner gives its time before the event
            meta["runner_time_ms"] = (time.perf_counter() - runner_t0) * 1000
        if triggered:
            meta["hardware_triggered"] = True
        elif self.include_position:
            meta["position"] = self.position()
        return meta

    def summary_metadata(self, sequence: Any, probe: Any) -> dict[str, Any]:
        """What pymmcore-plus's sinks read (`SummaryMetaV1` keys MMKernel knows), as a dict."""
        k = self.kernel
        height, width = probe.shape[:2]
        image = {
            "camera_label": k.roles.camera,
            "plane_shape": tuple(probe.shape),
            "dtype": str(probe.dtype),
            "height": int(height),
            "width": int(width),
            "pixel_size_um": float(k.pixel_size_um()),
        }
        if str(probe.dtype) in _PIXEL_FORMATS and probe.ndim == 2:
            image["pixel_format"] = _PIXEL_FORMATS[str(probe.dtype)]
        return {
            "format": "summary-dict",
            "version": "1.0",
            "datetime": datetime.now().astimezone().isoformat(sep=" "),
            "devices": tuple({"label": label, "type": str(k.device_type(label))} for label in k.devices()),
            "image_infos": (image,),
            "position": self.position(),
            "mda_sequence": sequence,
        }

    def position(self) -> dict[str, float]:
        """The XY stage's and the focus drive's positions where the last event's waits left them."""
        where = self._changes.where()
        names = {"x_um_actual": "x", "y_um_actual": "y", "z_um_actual": "z"}
        return {names[key]: float(value) for key, value in where.items() if value is not None}

    def _channel_values(self, event: Any, cached: bool = True) -> tuple[dict[str, Any], ...]:
        """The event's channel preset's properties: their current values (from the cache), or
        (`cached=False`, a triggered frame) the preset's own, which the run sequenced."""
        channel = event.channel
        if channel is None:
            return ()
        k = self.kernel
        values = []
        for device, name, value in k.config_settings(channel.group, channel.config):
            current = k.get_property(device, name, from_cache=True) if cached else value
            values.append({"dev": device, "prop": name, "val": current})
        return tuple(values)


def _index(event: Any) -> dict[str, int]:
    """The event's index as plain names and numbers: {'t': 0, 'c': 1}."""
    return {str(axis): int(value) for axis, value in event.index.items()}


def _sequenced_event_class() -> Any:
    """pymmcore-plus's `SequencedEvent` (its public `pymmcore_plus.core` name), or None without
    pymmcore-plus: events then run one by one."""
    try:
        from pymmcore_plus.core import SequencedEvent
    except ImportError:
        return None
    return SequencedEvent


def _merged_event(merged_class: Any, run: Run, roles: Any) -> Any:
    """A merged run as pymmcore-plus's event combiner gives it: its events, the sequences of
    what changes, and the first event's fields."""
    first, sequences, properties = run.events[0], {}, {}
    for (label, prop), values in run.sequenced.items():
        if (label, prop) == (roles.focus, "Position"):
            sequences["z_sequence"] = tuple(float(v) for v in values)
        elif (label, prop) == (roles.xy_stage, XY):
            sequences["x_sequence"] = tuple(float(x) for x, _ in values)
            sequences["y_sequence"] = tuple(float(y) for _, y in values)
        elif (label, prop) == (roles.camera, "Exposure"):
            sequences["exposure_sequence"] = tuple(float(v) for v in values)
        else:
            properties[(label, prop)] = [str(v) for v in values]
    fields = ("pos_name", "x_pos", "y_pos", "z_pos", "exposure", "channel", "min_start_time", "reset_event_timer")
    return merged_class(events=tuple(run.events), property_sequences=properties, **sequences,
                        **{name: getattr(first, name) for name in fields})  # fmt: skip
