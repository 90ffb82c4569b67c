"""DeviceHost: what the kernel offers a loaded device (the SDK's side of the contract): where its
port leads, where its calibration lives, and notifications from any thread."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.errors import MMKernelError
from mmkernel_sdk.resources import PortTarget

from ._base import KernelBase

log = logging.getLogger("mmkernel.devices")


class DeviceHosting(KernelBase):
    data_dir: Path
    site_data_dir: Path | None
    port_map: dict[str, str]  # port name in configurations -> port (or URL) on this machine
    _notify_dropped: set[str]  # devices whose dropped notify() has been logged once

    # -- DeviceHost -------------------------------------------------------------------------
    def resolve_port(self, device: Device, address: str) -> PortTarget:
        """Where a device's Port leads: a loaded port device (its settings apply) or a port name,
        mapped through the kernel's port map (a config's COM1 can be /dev/ttyUSB0 here)."""
        port_device = self._devices.get(address)
        if port_device is not None and port_device.device_type == "Serial" and port_device.device is not device:
            settings = port_device.device.line_settings()  # type: ignore[attr-defined]
            return PortTarget(self._mapped_port(port_device.device_name), settings, address, port_device.device)
        return PortTarget(self._mapped_port(address))

    def _mapped_port(self, name: str) -> str:
        return self.port_map.get(name, name)

    def calibration_roots(self) -> tuple[Path, Path | None]:
        return self.data_dir, self.site_data_dir

    def adapter_of(self, device: Device) -> str:
        loaded = self._devices.get(device.label)
        return loaded.adapter if loaded is not None and loaded.device is device else ""

    def property_notified(self, device: Device, name: str, value: Any) -> None:
        """An adapter called notify(). Cache writes happen on the device's runner (that is what
        makes change detection exactly-once), so a notify from a vendor SDK's callback thread
        is forwarded there without waiting."""
        loaded = self._devices.get(device.label)
        if loaded is None or loaded.device is not device:
            return
        if loaded.runner.on_own_thread():
            self._store(loaded, name, value)
            return
        try:
            self._dispatch.queue(loaded, f"notify {name}", self._store, loaded, name, value)
        except MMKernelError as error:  # faulted or closed: drop it, never raise into the SDK's thread
            if loaded.label not in self._notify_dropped:
                self._notify_dropped.add(loaded.label)
                log.warning(
                    "device %r: notify(%r) from thread %r dropped (%s); later drops are not logged",
                    loaded.label,
                    name,
                    threading.current_thread().name,
                    error,
                    extra={"device": loaded.label},
                )
