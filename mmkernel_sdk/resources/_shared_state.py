"""Shared: one place for the state of a controller that drives several devices.

An XY stage and a focus drive on one controller (one serial line) are two devices, but the
controller has one state: whether it was homed, which axes a stop halted, a firmware mode.
`controller = Shared(Axes)` on each device class gives every device on the same wire (or under
the same hub) the same `Axes()` instance, made when the first of them opens its resources (just
before initialize) and dropped after the last one closes them. Those devices run on one thread
(one wire, one runner), so the state needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _shared
from ._resource import Resource, resources_of

if TYPE_CHECKING:
    from .._owner import DeviceLike


class Shared(Resource):
    """`state = Shared(factory)`: the instance `factory()` made for this device's controller."""

    carries_commands = False  # not a connection: ask()/tell() still use the device's one port

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory

    def connect(self, device: DeviceLike) -> _Holder:
        return _Holder(self, device)

    def __get__(self, device: DeviceLike | None, owner: type | None = None) -> Any:
        if device is None:
            return self
        return self._holder(device).state()

    def open(self, device: DeviceLike) -> None:
        self._holder(device).open()

    def close(self, device: DeviceLike) -> None:
        self._holder(device).close()

    def _holder(self, device: DeviceLike) -> _Holder:
        holder: _Holder = Resource.__get__(self, device)
        return holder

    def key(self, device: DeviceLike) -> str:
        """What the state is shared by: the device's wires (its other resources), else its hub,
        else nothing (the device keeps its own)."""
        wires = sorted(w for r in resources_of(type(device)) if r is not self and (w := r.wire(device)) is not None)
        hub = getattr(device, "hub", None)
        if wires:
            where = "+".join(wires)
        elif hub is not None:
            where = f"hub:{id(hub)}"
        else:
            where = f"device:{id(device)}"
        kind = self.factory
        return f"state:{where}:{getattr(kind, '__module__', '')}.{getattr(kind, '__qualname__', repr(kind))}"


class _Holder:
    """One device's hold on the shared state (opened and closed with its other resources)."""

    def __init__(self, resource: Shared, device: DeviceLike) -> None:
        self._resource = resource
        self._device = device
        self._key = ""
        self._state: Any = None
        self.is_open = False

    def open(self) -> None:
        if self.is_open:
            return
        key = self._resource.key(self._device)
        self._state = _shared.acquire(key, None, self._device.label, self._resource.factory)
        self._key, self.is_open = key, True

    def close(self) -> None:
        if self.is_open:
            self.is_open, self._state = False, None
            _shared.release(self._key, self._device.label)

    def state(self) -> Any:
        if not self.is_open:
            label, attr = self._device.label, self._resource.attr
            raise RuntimeError(
                f"device {label!r}: shared state {attr!r} exists from just before initialize() until after "
                "shutdown() (it is shared with the other devices on the same controller)"
            )
        return self._state
