"""DeviceHost: what the kernel offers a loaded device (the SDK's side of the contract): where its
port leads, where its calibration lives, and notifications from any thread."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.errors import MMKernelError
from mmkernel_sdk.resources import PortTarget, wires_of

from ..devices import LoadedDevice
from ._base import KernelBase

log = logging.getLogger("mmkernel.devices")


class DeviceHosting(KernelBase):
    data_dir: Path
    site_data_dir: Path | None
    port_map: dict[str, str]  # port name in configurations -> port (or URL) on this machine
    _notify_dropped: set[str]  # devices whose dropped notify() has been logged once
    _reread: Callable[[LoadedDevice, tuple[str, ...]], None]  # PropertyVerbs: re-read after invalidate()

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

    def siblings_of(self, device: Device) -> list[Device]:
        """The other devices on `device`'s wire or hub, which share its runner (load order)."""
        loaded = self._hosted(device)
        if loaded is None:
            return []
        wires = set(wires_of(device))
        related = {loaded.parent, loaded.label} - {None}
        found = []
        for other in self._device_list():
            if other is loaded or other.unloaded or other.runner is not loaded.runner:
                continue
            on_hub = other.label in related or other.parent in related
            if on_hub or wires & set(wires_of(other.device)):
                found.append(other.device)
        return found

    def properties_invalidated(self, device: Device, names: tuple[str, ...]) -> None:
        """An adapter called invalidate(): re-read those properties on the device's runner,
        after the call running there now (always queued, even from that thread)."""
        loaded = self._hosted(device)
        if loaded is None:
            return
        what = ", ".join(names) or "all properties"
        try:
            self._dispatch.queue(loaded, f"re-read {what}", self._reread, loaded, names)
        except MMKernelError as error:  # faulted or closed: nothing to keep right any more
            log.info("device %r: invalidate(%s) not followed (%s)", loaded.label, what, error,
                     extra={"device": loaded.label})  # fmt: skip

    def call_may_take(self, device: Device, seconds: float) -> None:
        """An adapter called expect_duration(): widen the slow-call budget of its current call."""
        loaded = self._hosted(device)
        if loaded is not None and loaded.runner.on_own_thread():
            loaded.runner.allow_call_time(seconds)

    def property_removed(self, device: Device, name: str) -> None:
        """An adapter removed a runtime property: its cached value goes (on the runner, where
        the cache of this device is written)."""
        loaded = self._hosted(device)
        if loaded is None:
            return
        if loaded.runner.on_own_thread():
            self._cache.discard(loaded.label, name)
            return
        with contextlib.suppress(MMKernelError):
            self._dispatch.queue(loaded, f"forget {name}", self._cache.discard, loaded.label, name)

    def _hosted(self, device: Device) -> LoadedDevice | None:
        loaded = self._devices.get(device.label)
        return loaded if loaded is not None and loaded.device is device and not loaded.unloaded else None

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
