"""Type-specific verbs: stages, XY stages, shutters, state devices.

Most map onto a standard property (Position, State, Label) so they share the property path:
validation before dispatch, cache update, and exactly-once events.
"""

from __future__ import annotations

import math
import time
from numbers import Integral
from typing import Any

from mmkernel_sdk import PropertySpec
from mmkernel_sdk.errors import DeviceError, DeviceStateError, MMKernelError, PropertyError

from ..config import NAME_RULE, uncarried
from ..devices import LoadedDevice
from ..runtime import Request
from ._auto_shutter import ShutterHolds
from ._base import KernelBase
from ._faces import verb

_X = PropertySpec(name="X position", kind=float, units="um")
_Y = PropertySpec(name="Y position", kind=float, units="um")
_DX = PropertySpec(name="X offset", kind=float, units="um")
_DY = PropertySpec(name="Y offset", kind=float, units="um")
_OFFSET = PropertySpec(name="Position offset", kind=float, units="um")


WAIT_MARGIN_S = 1.0
"""A move with wait=True: its wait gives up at the deadline (a clear "still busy" error) before
the watchdog would take the call itself for hung and fault the device."""


class MotionVerbs(KernelBase):
    _shutter_holds: ShutterHolds

    # -- shared shapes ----------------------------------------------------------------------
    def _typed_set(
        self, label: str, kind: str, verb_name: str, name: str, value: Any, timeout: float | None, wait: bool = False
    ) -> Request:
        loaded = self._loaded(label)
        loaded.require_type(kind, verb_name)
        typed = self._checked_value(loaded, name, value)
        if wait:
            limit = self._dispatch.limit(timeout)
            return self._call(loaded, verb_name, self._apply_and_wait, loaded, name, typed, time.monotonic() + limit,
                              timeout=limit + WAIT_MARGIN_S)  # fmt: skip
        return self._call(loaded, verb_name, self._apply_value, loaded, name, typed, timeout=timeout)

    def _apply_and_wait(self, loaded: LoadedDevice, name: str, value: Any, deadline: float) -> None:
        """A set, then (on the same runner, in place) until the device is ready: one hand-off."""
        self._apply_value(loaded, name, value)
        self._wait_until_ready(loaded, deadline)  # type: ignore[attr-defined]

    def _typed_get(
        self, label: str, kind: str, verb_name: str, name: str, from_cache: bool, timeout: float | None
    ) -> Request:
        loaded = self._loaded(label)
        loaded.require_type(kind, verb_name)
        if from_cache:
            return Request.completed(label, verb_name, self._cache.get(label, name))
        self._checked_read(loaded, name)
        return self._call(loaded, verb_name, self._read_value, loaded, name, timeout=timeout)

    # -- Stage ------------------------------------------------------------------------------
    @verb
    def set_position(self, label: str, um: float, *, wait: bool = False, timeout: float | None = None) -> Request:
        """Move a Stage (focus) to `um` micrometres; `wait=True`: return once it has arrived
        (waited for on its own runner: one hand-off for the move and the wait)."""
        return self._typed_set(label, "Stage", "set_position", "Position", um, timeout, wait)

    @verb
    def get_position(self, label: str, *, from_cache: bool = False, timeout: float | None = None) -> Request:
        return self._typed_get(label, "Stage", "get_position", "Position", from_cache, timeout)

    @verb
    def set_relative_position(self, label: str, d_um: float, *, timeout: float | None = None) -> Request:
        """Move a Stage by `d_um`; the resulting position is read back and announced."""
        loaded = self._loaded(label)
        loaded.require_type("Stage", "set_relative_position")
        self._checked_read(loaded, "Position")
        offset = _OFFSET.coerce(d_um, label)
        return self._call(loaded, "set_relative_position", self._move_relative, loaded, offset, timeout=timeout)

    def _move_relative(self, loaded: LoadedDevice, offset: float) -> None:
        here = loaded.props.get("Position")
        loaded.props.spec("Position").coerce(here + offset, loaded.label)  # the target must be allowed
        loaded.device.set_relative_position(offset)  # type: ignore[attr-defined]
        self._read_value(loaded, "Position")
        self._mark_set(loaded)

    # -- XYStage ----------------------------------------------------------------------------
    @verb
    def set_xy_position(
        self, label: str, x_um: float, y_um: float, *, wait: bool = False, timeout: float | None = None
    ) -> Request:
        """Move an XY stage to (x, y) micrometres (within its xy_limits, if it declares any);
        `wait=True`: return once it has arrived (waited for on its own runner)."""
        loaded = self._xy(label, "set_xy_position")
        x, y = _X.coerce(x_um, label), _Y.coerce(y_um, label)
        _check_xy_target(loaded, x, y)
        if wait:
            limit = self._dispatch.limit(timeout)
            return self._call(loaded, "set_xy_position", self._move_xy_and_wait, loaded, x, y,
                              time.monotonic() + limit, timeout=limit + WAIT_MARGIN_S)  # fmt: skip
        return self._call(loaded, "set_xy_position", self._move_xy, loaded, x, y, False, timeout=timeout)

    def _move_xy_and_wait(self, loaded: LoadedDevice, x: float, y: float, deadline: float) -> None:
        self._move_xy(loaded, x, y, False)
        self._wait_until_ready(loaded, deadline)  # type: ignore[attr-defined]

    @verb
    def set_relative_xy_position(
        self, label: str, dx_um: float, dy_um: float, *, timeout: float | None = None
    ) -> Request:
        """Move an XY stage by (dx, dy); the target is checked against its limits on its runner."""
        loaded = self._xy(label, "set_relative_xy_position")
        dx, dy = _DX.coerce(dx_um, label), _DY.coerce(dy_um, label)
        return self._call(loaded, "set_relative_xy_position", self._move_xy, loaded, dx, dy, True, timeout=timeout)

    @verb
    def get_xy_position(self, label: str, *, from_cache: bool = False, timeout: float | None = None) -> Request:
        """(x, y) in micrometres."""
        loaded = self._xy(label, "get_xy_position")
        if from_cache:
            return Request.completed(label, "get_xy_position", self._cache.get_xy(label))
        return self._call(loaded, "get_xy_position", self._read_xy, loaded, timeout=timeout)

    def _xy(self, label: str, verb_name: str) -> LoadedDevice:
        loaded = self._loaded(label)
        loaded.require_type("XYStage", verb_name)
        if not loaded.initialized:
            raise DeviceStateError(f"device {label!r} is not initialized; {verb_name}() needs initialize() first")
        return loaded

    def _move_xy(self, loaded: LoadedDevice, x: float, y: float, relative: bool) -> None:
        device: Any = loaded.device
        if relative:
            here_x, here_y = self._xy_of(loaded)
            _check_xy_target(loaded, here_x + x, here_y + y)
            device.set_relative_xy_position(x, y)
        else:
            _check_xy_target(loaded, x, y)  # again: limits may have changed since the caller checked
            device.set_xy_position(x, y)
        self._read_xy(loaded)
        self._mark_set(loaded)

    def _read_xy(self, loaded: LoadedDevice) -> tuple[float, float]:
        xy = self._xy_of(loaded)
        self._cache.store_xy(loaded.label, xy)
        return xy

    @staticmethod
    def _xy_of(loaded: LoadedDevice) -> tuple[float, float]:
        """The adapter's get_xy_position(), checked: two finite numbers."""
        reported = loaded.device.get_xy_position()  # type: ignore[attr-defined]
        try:
            x, y = reported
            xy = (float(x), float(y))
            if not (math.isfinite(xy[0]) and math.isfinite(xy[1])):
                raise ValueError(reported)
        except (TypeError, ValueError):
            raise DeviceError(
                loaded.label,
                "get_xy_position",
                f"device {loaded.label!r}: get_xy_position() returned {reported!r}; allowed: two finite numbers",
            ) from None
        return xy

    # -- Stage and XYStage ------------------------------------------------------------------
    @verb
    def stop(self, label: str, *, timeout: float | None = None) -> Request:
        """Stop a moving Stage or XYStage."""
        loaded = self._loaded(label)
        if loaded.device_type not in ("Stage", "XYStage"):
            loaded.require_type("Stage or XYStage", "stop")
        return self._call(loaded, "stop", self._moving, loaded, loaded.device.stop, timeout=timeout)  # type: ignore[attr-defined]

    @verb
    def home(self, label: str, *, timeout: float | None = None) -> Request:
        """Home a Stage or XYStage (find its reference position)."""
        loaded = self._loaded(label)
        if loaded.device_type not in ("Stage", "XYStage"):
            loaded.require_type("Stage or XYStage", "home")
        return self._call(loaded, "home", self._moving, loaded, loaded.device.home, timeout=timeout)  # type: ignore[attr-defined]

    def _moving(self, loaded: LoadedDevice, call: Any) -> None:
        """A home or stop: the stage ends somewhere new, read once busy() says it is idle."""
        call()
        self._mark_set(loaded)

    # -- Shutter ----------------------------------------------------------------------------
    @verb
    def set_shutter_open(self, label: str, open: bool, *, timeout: float | None = None) -> Request:  # noqa: A002
        """Open (True) or close (False) a shutter."""
        request = self._typed_set(label, "Shutter", "set_shutter_open", "State", _as_state(open), timeout)
        self._shutter_holds.forget_left_open(label)  # what the user sets is theirs
        return request

    @verb
    def get_shutter_open(self, label: str, *, from_cache: bool = False, timeout: float | None = None) -> Request:
        request = self._typed_get(label, "Shutter", "get_shutter_open", "State", from_cache, timeout)
        return _mapped(request, bool)

    # -- State devices ----------------------------------------------------------------------
    @verb
    def set_state(self, label: str, position: int, *, timeout: float | None = None) -> Request:
        """Move a state device (wheel, turret) to position index `position`."""
        return self._typed_set(label, "State", "set_state", "State", position, timeout)

    @verb
    def get_state(self, label: str, *, from_cache: bool = False, timeout: float | None = None) -> Request:
        return self._typed_get(label, "State", "get_state", "State", from_cache, timeout)

    @verb
    def set_state_label(self, label: str, state_label: str, *, timeout: float | None = None) -> Request:
        """Move a state device to the position named `state_label`."""
        return self._typed_set(label, "State", "set_state_label", "Label", state_label, timeout)

    @verb
    def get_state_label(self, label: str, *, from_cache: bool = False, timeout: float | None = None) -> Request:
        return self._typed_get(label, "State", "get_state_label", "Label", from_cache, timeout)

    @verb
    def state_labels(self, label: str) -> Request:
        """All position labels of a state device, in position order."""
        loaded = self._loaded(label)
        loaded.require_type("State", "state_labels")
        return Request.completed(label, "state_labels", list(loaded.device.labels))  # type: ignore[attr-defined]

    @verb
    def define_state_label(
        self, label: str, position: int, state_label: str, *, timeout: float | None = None
    ) -> Request:
        """Name position `position` of a state device (MM's `Label,device,position,label`). A
        label a configuration file cannot carry (empty, a comma, a line break) is refused here,
        not when the system is saved."""
        loaded = self._loaded(label)
        loaded.require_type("State", "define_state_label")
        _check_state_label(label, position, state_label)
        return self._call(
            loaded, "define_state_label", self._define_label, loaded, position, state_label, timeout=timeout
        )

    def _define_label(self, loaded: LoadedDevice, position: int, state_label: str) -> None:
        loaded.device.define_label(position, state_label)  # type: ignore[attr-defined]
        if loaded.initialized:
            self._read_value(loaded, "Label")

    def _define_labels_request(self, label: str, items: list[tuple[int, str]]) -> Request:
        """Several labels of one state device in one hop (a configuration's run of Label lines).
        The result is one outcome per item, in order: None, or the error that item raised."""
        loaded = self._loaded(label)
        loaded.require_type("State", "define_state_label")
        return self._call(loaded, "define_state_label", self._define_labels, loaded, items)

    def _define_labels(self, loaded: LoadedDevice, items: list[tuple[int, str]]) -> list[BaseException | None]:
        """Each item as `define_state_label` would (checked, then defined), every one tried;
        then Label is read once, so the cache and its event follow the last name of the
        current position. A failing read fails the items that had not failed on their own."""
        outcomes: list[BaseException | None] = []
        for position, state_label in items:
            try:
                _check_state_label(loaded.label, position, state_label)
                loaded.device.define_label(position, state_label)  # type: ignore[attr-defined]
            except BaseException as error:  # noqa: BLE001 - one outcome per item, wrapped as the runner wraps a call's
                outcomes.append(_as_device_error(loaded.label, error))
            else:
                outcomes.append(None)
        if loaded.initialized and any(outcome is None for outcome in outcomes):
            try:
                self._read_value(loaded, "Label")
            except BaseException as error:  # noqa: BLE001 - as above
                failed = _as_device_error(loaded.label, error)
                outcomes = [failed if outcome is None else outcome for outcome in outcomes]
        return outcomes


def _as_device_error(label: str, error: BaseException) -> BaseException:
    """An adapter's error as the runner reports a failed define_state_label call."""
    if isinstance(error, MMKernelError):
        return error
    wrapped = DeviceError(label, "define_state_label",
                          f"device {label!r}: define_state_label failed: {type(error).__name__}: {error}")  # fmt: skip
    wrapped.__cause__ = error
    return wrapped


def _check_state_label(label: str, position: Any, state_label: Any) -> None:
    if isinstance(position, bool) or not isinstance(position, Integral):
        raise PropertyError(
            f"device {label!r}: define_state_label position {position!r} is not allowed; allowed: a whole number",
            device=label,
            property="Label",
            value=position,
            allowed="a whole number",
        )
    why = uncarried(state_label) if isinstance(state_label, str) else "is not a string"
    if why:
        raise PropertyError(
            f"device {label!r}, position {position}: the label {state_label!r} {why}, which a configuration file "
            f"cannot carry; allowed: {NAME_RULE}",
            device=label,
            property="Label",
            value=state_label,
            allowed=NAME_RULE,
        )


def _check_xy_target(loaded: LoadedDevice, x: float, y: float) -> None:
    limits = loaded.device.xy_limits  # type: ignore[attr-defined]
    if limits is None:
        return
    x_lo, x_hi, y_lo, y_hi = limits
    for axis, value, lo, hi in (("X", x, x_lo, x_hi), ("Y", y, y_lo, y_hi)):
        if not lo <= value <= hi:
            spec = PropertySpec(name=f"{axis} position", kind=float, units="um", limits=(lo, hi))
            raise spec.error(loaded.label, value, "is out of range")


def _as_state(open: Any) -> Any:  # noqa: A002
    return int(open) if isinstance(open, bool) else open


def _mapped(request: Request, convert: Any) -> Request:
    out = Request(request.label, request.op, runner=request.runner)  # keeps cycle detection

    def transfer(done: Request) -> None:
        error = done.exception()
        out.finish(exception=error) if error is not None else out.finish(convert(done.result()))

    request.add_done_callback(transfer)
    return out
