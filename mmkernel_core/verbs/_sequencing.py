"""Hardware-sequencing verbs (MMCore's isPropertySequenceable, loadPropertySequence,
startStageSequence, loadXYStageSequence, ...): a device is sent a list of values which a
hardware trigger (usually the camera's exposure-out) then steps through, one per frame.

Every value is checked on the caller's thread (type, limits, allowed values, the length against
the property's `sequence_max`) before anything is queued; the device gets the whole list in one
call on its runner, or nothing. `prop="XYPosition"` names an XY stage's (x, y) sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from mmkernel_sdk import PropertySpec
from mmkernel_sdk.errors import DeviceStateError, PropertyError

from ..devices import LoadedDevice
from ..runtime import Request
from ._base import KernelBase
from ._faces import verb

log = logging.getLogger("mmkernel.devices")

XY = "XYPosition"
_X = PropertySpec(name="X position", kind=float, units="um")
_Y = PropertySpec(name="Y position", kind=float, units="um")


class SequencingVerbs(KernelBase):
    @verb
    def sequence_max_length(self, label: str, prop: str) -> Request:
        """The longest sequence `prop` of device `label` can run: 0 when it cannot run one
        (MMCore's getPropertySequenceMaxLength, getStageSequenceMaxLength; "XYPosition" for an
        XY stage's points)."""
        return Request.completed(label, "sequence_max_length", _max_length(self._loaded(label), prop))

    @verb
    def load_property_sequence(
        self, label: str, prop: str, values: Iterable[Any], *, timeout: float | None = None
    ) -> Request:
        """Send device `label` the values `prop` steps through, one per hardware trigger, once
        started (for "XYPosition": (x, y) pairs). Every value is checked first; a bad one is a
        PropertyError naming it and its index, and the device is sent nothing."""
        loaded = self._hw_sequenced(label, prop, "load_property_sequence")
        typed = _checked_sequence(loaded, prop, values)
        return self._call(loaded, f"load sequence {prop}", self._hw_load, loaded, prop, typed, timeout=timeout)

    @verb
    def start_property_sequence(self, label: str, prop: str, *, timeout: float | None = None) -> Request:
        """Arm the loaded sequence: from now on each trigger applies the next value."""
        loaded = self._hw_sequenced(label, prop, "start_property_sequence")
        return self._call(loaded, f"start sequence {prop}", self._hw_start, loaded, prop, timeout=timeout)

    @verb
    def stop_property_sequence(self, label: str, prop: str, *, timeout: float | None = None) -> Request:
        """Disarm the sequence; the property is read again, so the cache holds where it stopped."""
        loaded = self._hw_sequenced(label, prop, "stop_property_sequence")
        return self._call(loaded, f"stop sequence {prop}", self._hw_stop, loaded, prop, timeout=timeout)

    def _hw_sequenced(self, label: str, prop: str, verb_name: str) -> LoadedDevice:
        """The device, initialized, whose `prop` can run a sequence."""
        loaded = self._loaded(label)
        if prop != XY or loaded.device_type != "XYStage":
            loaded.props.spec(prop)  # unknown names first, with suggestions
        if not loaded.initialized:
            raise DeviceStateError(f"device {label!r} is not initialized; {verb_name}() needs initialize() first")
        if _max_length(loaded, prop) <= 0:
            raise _not_sequenceable(loaded, prop)
        return loaded

    # -- runner side ------------------------------------------------------------------------
    def _hw_load(self, loaded: LoadedDevice, prop: str, values: list[Any]) -> None:
        values = _checked_sequence(loaded, prop, values)  # again: limits or the maximum may have changed
        device: Any = loaded.device
        if prop == XY and loaded.device_type == "XYStage":
            device.load_xy_sequence(values)
        else:
            device.load_property_sequence(prop, values)

    def _hw_start(self, loaded: LoadedDevice, prop: str) -> None:
        device: Any = loaded.device
        if prop == XY and loaded.device_type == "XYStage":
            device.start_xy_sequence()
        else:
            device.start_property_sequence(prop)

    def _hw_stop(self, loaded: LoadedDevice, prop: str) -> None:
        device: Any = loaded.device
        try:
            if prop == XY and loaded.device_type == "XYStage":
                device.stop_xy_sequence()
            else:
                device.stop_property_sequence(prop)
        finally:  # stopped or not, the value stepped while the kernel was not told: ask again
            self._hw_read_back(loaded, prop)

    def _hw_read_back(self, loaded: LoadedDevice, prop: str) -> None:
        try:
            if prop == XY and loaded.device_type == "XYStage":
                self._cache.store_xy(loaded.label, self._xy_of(loaded))  # type: ignore[attr-defined]
            else:
                self._read_value(loaded, prop)
        except BaseException as error:  # noqa: BLE001 - the stop's own outcome is what the caller gets
            self._report(log, logging.WARNING, "device %r: %r unreadable after its sequence stopped: %r",
                         loaded.label, prop, error, device=loaded.label)  # fmt: skip


def _max_length(loaded: LoadedDevice, prop: str) -> int:
    if prop == XY and loaded.device_type == "XYStage":
        return int(getattr(loaded.device, "xy_sequence_max", 0) or 0)
    return int(loaded.props.spec(prop).sequence_max)


def _not_sequenceable(loaded: LoadedDevice, prop: str) -> PropertyError:
    names = _sequenceable(loaded)
    return PropertyError(
        f"device {loaded.label!r}, property {prop!r}: cannot run a hardware sequence (its sequence_max is 0); "
        f"sequenceable: {', '.join(names) or '(none)'}",
        device=loaded.label,
        property=prop,
        allowed=", ".join(names),
    )


def _sequenceable(loaded: LoadedDevice) -> list[str]:
    names = [name for name in loaded.props.names() if loaded.props.spec(name).sequence_max > 0]
    return [*names, XY] if loaded.device_type == "XYStage" and _max_length(loaded, XY) > 0 else names


def _checked_sequence(loaded: LoadedDevice, prop: str, values: Iterable[Any]) -> list[Any]:
    """Every value typed and allowed, the length within the maximum; else a PropertyError."""
    label = loaded.label
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise PropertyError(
            f"device {label!r}, property {prop!r}: a sequence must be a list of values, not {values!r}",
            device=label,
            property=prop,
            value=values,
            allowed="a list of values",
        )
    items = list(values)
    maximum = _max_length(loaded, prop)
    if maximum <= 0:  # on the runner: switched off since the caller's check
        raise _not_sequenceable(loaded, prop)
    if not 1 <= len(items) <= maximum:
        raise PropertyError(
            f"device {label!r}, property {prop!r}: a sequence of {len(items)} values is not allowed; "
            f"allowed: 1 to {maximum} values",
            device=label,
            property=prop,
            value=len(items),
            allowed=f"1 to {maximum} values",
        )
    xy = prop == XY and loaded.device_type == "XYStage"
    typed = []
    for index, value in enumerate(items):
        try:
            typed.append(_xy_point(loaded, value) if xy else loaded.props.coerce(prop, value, initialized=True))
        except PropertyError as error:
            raise PropertyError(
                f"{error} (sequence value at index {index} of {len(items)}; nothing was sent to the device)",
                device=label,
                property=prop,
                value=value,
                allowed=error.allowed,
            ) from None
    return typed


def _xy_point(loaded: LoadedDevice, value: Any) -> tuple[float, float]:
    label = loaded.label
    try:
        x, y = value
    except (TypeError, ValueError):
        raise PropertyError(
            f"device {label!r}, property {XY!r}: value {value!r} is not an (x, y) pair; allowed: two numbers in um",
            device=label,
            property=XY,
            value=value,
            allowed="two numbers in um",
        ) from None
    point = (_X.coerce(x, label), _Y.coerce(y, label))
    limits = loaded.device.xy_limits  # type: ignore[attr-defined]
    if limits is not None:
        x_lo, x_hi, y_lo, y_hi = limits
        for axis, coordinate, lo, hi in (("X", point[0], x_lo, x_hi), ("Y", point[1], y_lo, y_hi)):
            if not lo <= coordinate <= hi:
                spec = PropertySpec(name=f"{axis} position", kind=float, units="um", limits=(lo, hi))
                raise spec.error(label, coordinate, "is out of range")
    return point
