"""Devices for the calibration tests: a scope whose store is found by its serial number, and a
laser that comes back at the power it was left at."""

from __future__ import annotations

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop


class Scope(Generic):
    """A device with a serial number"""

    serial_number_property = "SerialNumber"
    SerialNumber = prop(str, default="SN-42", read_only=True)
    Focus = prop(float, default=0.0, limits=(-100, 100), memorized=True, units="um")

    def __init__(self) -> None:
        self.focus_written: list[float] = []

    @Focus.setter
    def Focus(self, value: float) -> None:
        self.focus_written.append(value)


def scope(kernel: Kernel, label: str = "Scope", serial: str | None = None) -> Scope:
    device = Scope()
    if serial is not None:
        device._props.store("SerialNumber", serial)
    kernel.load_device(label, device)
    kernel.initialize(label)
    return device


class Laser(Generic):
    """A laser that comes back at the power it was left at"""

    Power = prop(float, default=1.0, limits=(0.0, 100.0), units="mW", memorized=True)
