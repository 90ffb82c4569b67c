"""What one useq event does to the devices, remembering what the previous event did: the step
both engines share (`kernel.acquire`'s own run, and `MMKernelEngine` under pymmcore-plus's
`MDARunner`).

`EventSteps` applies only what changed (channel preset, properties, exposure, XY, Z with the
position's autofocus correction), queuing every change at once on its device's runner with
that device's wait right behind it, so they run in parallel and the engine's thread waits
once. It runs hardware-autofocus actions (the found correction is kept per position, as
pymmcore-plus does), keeps the shutter open across events that ask for it, and snaps. Only
the kernel's public verbs are used.
"""

from __future__ import annotations

from typing import Any

AUTOFOCUS = "hardware_autofocus"


def is_image(event: Any) -> bool:
    """True for events that take an image (useq's AcquireImage, or no action at all)."""
    action = getattr(event, "action", None)
    return action is None or getattr(action, "type", "acquire_image") == "acquire_image"


def is_autofocus(event: Any) -> bool:
    return getattr(getattr(event, "action", None), "type", None) == AUTOFOCUS


class EventSteps:
    """The device side of a run: `apply(event)`, `autofocus(event)`, `snap(event)`, `close()`."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.last: dict[str, Any] = {}
        self.z_correction: dict[Any, float] = {}  # position index -> what autofocus found
        self._shutter_kept: str = ""  # the shutter a keep_shutter_open event left open

    @property
    def camera(self) -> str:
        return str(self.kernel.roles.camera)

    @property
    def focus(self) -> str:
        return str(self.kernel.roles.focus)

    @property
    def xy(self) -> str:
        return str(self.kernel.roles.xy_stage)

    @property
    def exposure(self) -> float | None:
        """The exposure (ms) the events last set, or None if none did."""
        return self.last.get("exposure")

    def forget(self) -> None:
        """The devices may have been changed meanwhile (a new run, a failed event): the next
        event applies everything it names."""
        self.last.clear()

    # -- moves and settings ---------------------------------------------------------------
    def apply(self, event: Any) -> None:
        """Apply what changed since the previous event and wait for the devices it changed.
        The roles are read after the preset is queued: a preset may set one (applied at once)."""
        last, queue = self.last, self.kernel.internals.request
        sets: list[Any] = []
        waits: list[Any] = []
        try:
            channel = event.channel
            if channel is not None and last.get("channel") != (channel.group, channel.config):
                sets.append(queue("set_config", channel.group, channel.config))
                waits.append(queue("wait_for_config", channel.group, channel.config))
                last["channel"] = (channel.group, channel.config)
            for prop in event.properties or ():
                sets.append(queue("set_property", prop.device_name, prop.property_name, prop.property_value))
                waits.append(queue("wait_for", prop.device_name))
            self._moves(event, sets, waits)
        finally:
            _collect(sets, waits)

    def _moves(self, event: Any, sets: list[Any], waits: list[Any]) -> None:
        """Exposure, XY and Z. One stage moving waits on its own runner (`wait=True`: one
        hand-off); XY and Z moving together are both started first and then waited for, since
        one controller may drive both on one runner, where a wait would hold the other move."""
        k, last, queue = self.kernel, self.last, self.kernel.internals.request
        if event.exposure is not None and last.get("exposure") != event.exposure:
            sets.append(queue("set_property", self.camera, "Exposure", event.exposure))
            last["exposure"] = event.exposure
        xy: tuple[float, float] | None = None
        if self.xy and (event.x_pos is not None or event.y_pos is not None):
            target = (event.x_pos, event.y_pos)
            if last.get("xy") != target:
                x, y = target
                if x is None or y is None:
                    cx, cy = k.get_xy_position(self.xy)
                    x, y = (cx if x is None else x), (cy if y is None else y)
                xy = (x, y)
                last["xy"] = target
        z = self.z_target(event)
        if z is None or last.get("z") == z:
            z = None
        else:
            last["z"] = z
        alone = xy is None or z is None
        if xy is not None:
            sets.append(queue("set_xy_position", self.xy, *xy, wait=alone))
            if not alone:
                waits.append(queue("wait_for", self.xy))
        if z is not None:
            sets.append(queue("set_position", self.focus, z, wait=alone))
            if not alone:
                waits.append(queue("wait_for", self.focus))

    def z_target(self, event: Any) -> float | None:
        """The event's z plus the correction autofocus found at its position."""
        if not self.focus or event.z_pos is None:
            return None
        return float(event.z_pos) + self.z_correction.get(event.index.get("p"), 0.0)

    # -- autofocus ------------------------------------------------------------------------
    def autofocus(self, event: Any) -> float:
        """Run a hardware autofocus (after the event's moves); keep what it moved the focus by
        for the event's position, so later z targets there follow it. Returns that change."""
        k, action = self.kernel, event.action
        if action.autofocus_motor_offset is not None:
            if action.autofocus_device_name:
                k.set_position(action.autofocus_device_name, action.autofocus_motor_offset)
                k.wait_for(action.autofocus_device_name)
            else:
                k.set_auto_focus_offset(action.autofocus_motor_offset)
        before = k.get_position(self.focus)
        attempts = max(1, int(getattr(action, "max_retries", 1) or 1))
        for attempt in range(attempts):
            try:
                k.full_focus()
                break
            except Exception:
                if attempt == attempts - 1:
                    raise
        k.wait_for_system()
        change = k.get_position(self.focus) - before
        p = event.index.get("p")
        self.z_correction[p] = self.z_correction.get(p, 0.0) + change
        self.last.pop("z", None)  # the focus is not where the last event put it any more
        return change

    # -- images ---------------------------------------------------------------------------
    def snap(self, event: Any) -> Any:
        """One image; with `keep_shutter_open` the shutter stays open after it (the
        auto-shutter leaves open a shutter it did not open), closed after the next event that
        does not ask for it."""
        k = self.kernel
        shutter = k.roles.shutter if k.roles.auto_shutter else ""
        if event.keep_shutter_open and shutter and self._shutter_kept != shutter:
            k.set_shutter_open(shutter, True)
            k.wait_for(shutter)
            self._shutter_kept = shutter
        image = k.snap()
        if not event.keep_shutter_open:
            self.close()
        return image

    def close(self) -> None:
        """Close a shutter kept open (at an event without keep_shutter_open, and at the end)."""
        if self._shutter_kept:
            shutter, self._shutter_kept = self._shutter_kept, ""
            self.kernel.set_shutter_open(shutter, False)

    def where(self) -> dict[str, float | None]:
        """Where the stages are now, from the kernel's cache: after the event's waits it holds
        where each stage arrived (a non-blocking stage is read again when it says it is idle)."""
        cache, xy, focus = self.kernel.internals.cache, self.xy, self.focus
        x, y = cache.get_xy(xy) if xy else (None, None)
        z = cache.get(focus, "Position") if focus else None
        return {"x_um_actual": x, "y_um_actual": y, "z_um_actual": z}


def _collect(sets: list[Any], waits: list[Any]) -> None:
    """Wait for an event's changes. Each wait is queued behind its device's change, so waiting
    for the waits first wakes this thread once, when the last device is ready; then a change's
    own error is raised before a device that stayed busy."""
    stayed_busy: list[BaseException] = []
    for wait in waits:
        try:
            wait.result()
        except Exception as error:  # noqa: BLE001 - raised below, after the changes' own errors
            stayed_busy.append(error)
    for change in sets:
        change.result()
    if stayed_busy:
        raise stayed_busy[0]


def frame_probe(kernel: Any) -> Any:
    """A stand-in frame of the camera's format (its shape, dtype, ndim) without exposing
    anything: the dataset's arrays, grid steps and pymmcore-plus's summary need only the format.
    A read-only broadcast of one zero: no frame-sized allocation."""
    import numpy as np

    shape, dtype = kernel.internals.frame_format(None)
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def missing_fov(kernel: Any, grid: Any, frame_shape: tuple[int, ...]) -> dict[str, float]:
    """The field of view a grid plan lacks (`fov_width`/`fov_height`, um along the stage's x and
    y): the camera frame mapped through the resolution's pixel-size affine, so a camera mounted
    rotated by 90 degrees or mirrored tiles by its real footprint (a frame W wide and H high
    covers |a|W + |b|H in x and |d|W + |e|H in y); without an affine, the pixel size (1 um per
    pixel when no pixel size matches). Empty when the plan has both."""
    if grid is None or (grid.fov_width is not None and grid.fov_height is not None):
        return {}
    height, width = frame_shape[-2:]
    a, b, _, d, e, _ = kernel.pixel_size_affine()
    if (a, b, d, e) == (1.0, 0.0, 0.0, 1.0):  # no affine beyond the pixel size
        px = kernel.pixel_size_um() or 1.0
        a, b, d, e = px, 0.0, 0.0, px
    across, down = abs(a) * width + abs(b) * height, abs(d) * width + abs(e) * height
    return {"fov_width": grid.fov_width or across, "fov_height": grid.fov_height or down}
