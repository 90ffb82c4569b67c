"""Resource: a connection a device declares on its class (`port = SerialPort(...)`).

Declaring one adds its pre-initialization properties to the class (Port, BaudRate, ...). The
kernel (or a test harness) opens every resource of a device just before `initialize()` and
closes it after `shutdown()` or a failed initialize; adapter code only uses the connection
(`self.port.query(...)`). Devices whose resources name the same wire share one runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._prop import prop

if TYPE_CHECKING:
    from .._owner import DeviceLike


@dataclass(frozen=True)
class PortTarget:
    """Where a `Port` value leads: the URL to open, and the line settings of the port device
    it names (None when it names no port device: the device's own settings apply)."""

    url: str
    settings: Any = None
    via: str | None = None  # the port device's label, if any
    device: DeviceLike | None = None  # that port device (its AnswerTimeout, DelayBetweenCharsMs)


class Resource:
    """Base class of declared connections; subclasses make the per-device connection object."""

    attr = "?"
    carries_commands = True  # ask()/tell() may use it; False for what is not a connection (Shared state)

    def properties(self) -> list[prop]:
        """The properties this resource adds to the device class."""
        return []

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        declared = {v.name for k in owner.__mro__ for v in vars(k).values() if isinstance(v, prop)}
        for item in self.properties():
            if item.name not in declared:  # an author's own declaration of the same name wins
                item.attr = f"_{attr}_{item.name}"
                setattr(owner, item.attr, item)

    def __get__(self, device: DeviceLike | None, owner: type | None = None) -> Any:
        if device is None:
            return self
        key = f"_resource_{self.attr}"
        connection = device.__dict__.get(key)
        if connection is None:
            connection = device.__dict__[key] = self.connect(device)
        return connection

    def connect(self, device: DeviceLike) -> Any:
        raise NotImplementedError

    # -- lifecycle (called by the kernel or a harness, on the device's thread) --------------
    def open(self, device: DeviceLike) -> None:
        self.__get__(device).open()

    def close(self, device: DeviceLike) -> None:
        self.__get__(device).close()

    def wire(self, device: DeviceLike) -> str | None:
        """A key naming the physical wire (devices with the same key share a runner), or None
        while the address is not set."""
        return None


_RESOURCES: dict[type, list[Resource]] = {}


def resources_of(kind: type) -> list[Resource]:
    """The Resource attributes of a device class, base classes first (looked up once per class)."""
    known = _RESOURCES.get(kind)
    if known is None:
        known = _RESOURCES[kind] = _find_resources(kind)
    return list(known)


def _find_resources(kind: type) -> list[Resource]:
    found: dict[str, Resource] = {}
    for klass in reversed(kind.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Resource):
                found[name] = value
    return list(found.values())


def open_resources(device: DeviceLike) -> None:
    """Open every resource of `device`; if one fails, those already opened are closed again."""
    opened: list[Resource] = []
    try:
        for resource in resources_of(type(device)):
            resource.open(device)
            opened.append(resource)
    except BaseException:
        for resource in reversed(opened):
            _close_quietly(resource, device)
        raise


def close_resources(device: DeviceLike) -> None:
    """Close every resource of `device` (each one, whatever the others do); raises the first
    error after trying all."""
    errors: list[BaseException] = []
    for resource in reversed(resources_of(type(device))):
        try:
            resource.close(device)
        except BaseException as error:  # noqa: BLE001 - every resource gets closed
            errors.append(error)
    if errors:
        raise errors[0]


def resource_property_names(kind: type) -> set[str]:
    """The properties a class's resources added (Port, BaudRate, AnswerTimeout...)."""
    return {item.name for resource in resources_of(kind) for item in resource.properties()}


def wires_of(device: DeviceLike) -> list[str]:
    return [w for r in resources_of(type(device)) if (w := r.wire(device)) is not None]


def iter_connections(device: DeviceLike) -> Iterator[Any]:
    """The device's open connections (ports, instruments), not its shared state."""
    for resource in resources_of(type(device)):
        if resource.carries_commands:
            yield resource.__get__(device)


def _close_quietly(resource: Resource, device: DeviceLike) -> None:
    try:
        resource.close(device)
    except BaseException:  # noqa: BLE001 - the open failure is what the caller needs
        pass


def resolve_port(device: DeviceLike, address: str) -> PortTarget:
    """Ask the kernel where `address` leads (a port device's label, a mapped name); without a
    kernel the address is the URL itself."""
    host = device._host
    resolver = getattr(host, "resolve_port", None)
    if resolver is None:
        return PortTarget(address)
    target: PortTarget = resolver(device, address)
    return target
