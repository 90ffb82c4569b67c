"""DeviceLike: what the SDK's helpers (properties, property tables, resources, calibration) use of
a device. They are annotated with it instead of the Device class, which is built from them, so
no import runs in a circle: Device uses the helpers, never the other way round."""

from __future__ import annotations

from typing import Any, Protocol


class DeviceLike(Protocol):
    label: str
    device_name: str
    _host: Any  # the kernel's DeviceHost, or None before the device is loaded
    _props: Any  # its PropertyTable

    @property
    def calibration(self) -> Any: ...

    def ask(self, command: str) -> str: ...

    def tell(self, command: str) -> None: ...
