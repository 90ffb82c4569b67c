"""`MMKernelEngine`: pymmcore-plus's `PMDAEngine` protocol over a Kernel, so its `MDARunner`
(signals, pause and cancel, writers and sinks) drives MMKernel's devices.

The protocol is structural: nothing here imports pymmcore_plus (an optional dependency).
`MDARunner.run` calls the engine on the thread that called `run`, so the runner's signal
handlers run there too, never on a kernel thread. Each event applies only what changed since
the previous one and runs its action (the steps `kernel.acquire` uses, `_steps`): an image, or
a hardware autofocus whose correction later z targets at that position follow."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

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
    that object). `include_position=False` leaves the stage positions out of the frame metadata.
    """

    def __init__(self, kernel: Any, *, include_position: bool = True) -> None:
        self.kernel = kernel
        self.include_position = include_position
        self._changes = EventSteps(kernel)

    # -- PMDAEngine ---------------------------------------------------------------------------
    def setup_sequence(self, sequence: Any) -> dict[str, Any]:
        """Forget what earlier runs set (devices may have moved since), honour the sequence's
        `setup` event, fill missing grid fields of view; the summary metadata."""
        self._changes.forget()
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
        """Apply what changed since the previous event and wait for the system. A failure keeps
        the kernel's error (it names the device, property and value) with a note of the event."""
        try:
            self._changes.apply(event)
        except Exception as exc:
            self._changes.forget()  # what the failed event did set is not known
            exc.add_note(f"MMKernelEngine: while setting up event {_index(event)}")
            raise

    def exec_event(self, event: Any) -> Iterable[tuple[Any, Any, dict[str, Any]]]:
        """Snap one image: `[(image, event, metadata)]`. Events whose action is not to acquire
        an image (autofocus, custom actions) give no frame."""
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
        """Events one by one: every event is timed in software (no hardware sequencing yet)."""
        return iter(events)

    def teardown_event(self, event: Any) -> None:
        """Nothing to undo: the auto-shutter closes after each snap."""

    def teardown_sequence(self, sequence: Any) -> None:
        """Close a shutter `keep_shutter_open` left open; the devices stay where the last event
        put them."""
        self._changes.close()

    # -- metadata -----------------------------------------------------------------------------
    def frame_metadata(self, event: Any, runner_t0: float | None = None) -> dict[str, Any]:
        """What pymmcore-plus's engine gives per frame (its `FrameMetaV1` keys), as a dict."""
        k = self.kernel
        camera = k.roles.camera
        meta: dict[str, Any] = {
            "format": "frame-dict",
            "version": "1.0",
            "camera_device": camera,
            "exposure_ms": float(k.get_property(camera, "Exposure", from_cache=True)),
            "pixel_size_um": float(k.pixel_size_um()),
            "property_values": self._channel_values(event),
            "mda_event": event,
        }
        if runner_t0 is not None:  # else the runner gives its time before the event
            meta["runner_time_ms"] = (time.perf_counter() - runner_t0) * 1000
        if self.include_position:
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

    def _channel_values(self, event: Any) -> tuple[dict[str, Any], ...]:
        """The current values of the event's channel preset's properties (from the cache)."""
        channel = event.channel
        if channel is None:
            return ()
        k = self.kernel
        values = []
        for device, name, _ in k.config_settings(channel.group, channel.config):
            values.append({"dev": device, "prop": name, "val": k.get_property(device, name, from_cache=True)})
        return tuple(values)


def _index(event: Any) -> dict[str, int]:
    """The event's index as plain names and numbers: {'t': 0, 'c': 1}."""
    return {str(axis): int(value) for axis, value in event.index.items()}
