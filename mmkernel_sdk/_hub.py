"""Hub: a controller whose peripherals share its connection (and so its thread)."""

from __future__ import annotations

from ._device import Device


class Hub(Device):
    """Peripherals loaded with this hub as parent run on the hub's thread and reach it as
    `self.hub`, calling it directly: they share one wire, so they share one runner."""

    device_type = "Hub"

    def detect_installed_devices(self) -> list[str]:
        """Device names of the peripherals actually attached (default: none detected)."""
        return []
