"""Generic: a device with properties only."""

from __future__ import annotations

from ._device import Device


class Generic(Device):
    """A device that is nothing but properties (controllers, sensors, odd boxes)."""

    device_type = "Generic"
