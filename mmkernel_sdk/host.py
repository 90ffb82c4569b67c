"""What a kernel uses to host devices: the SDK's side of the kernel contract.

Adapter authors never need this module. A kernel (MMKernel's, or a test harness) attaches a
device to itself when it loads it, and reads and applies its properties through the device's
PropertyTable; `DeviceHost` is what the device may call back (notifications, ports,
calibration roots).
"""

from __future__ import annotations

from typing import Any

from ._device import Device, DeviceHost
from ._table import PropertyTable

__all__ = ["DeviceHost", "PropertyTable", "attach", "properties_of"]


def properties_of(device: Device) -> PropertyTable:
    """The device's property table: specs, stored values, getters and setters."""
    return device._props


def attach(device: Device, host: DeviceHost, kernel: Any, label: str, device_name: str) -> None:
    """The device is loaded under `label`: it now reports to `host` and sees `kernel`."""
    device._attach(host, kernel, label, device_name)
