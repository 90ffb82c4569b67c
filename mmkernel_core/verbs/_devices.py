"""Device lifecycle verbs: load, initialize, unload, and what is loaded."""

from __future__ import annotations

import logging
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.errors import (
    DeviceStateError,
    DeviceTypeError,
    InitializationError,
    KernelClosedError,
    UnloadError,
)

from ..devices import DeviceHealth, DeviceInfo, LoadedDevice
from ..runtime import Request, Runner, ThreadPool, gather
from ._core_device import CORE
from ._faces import verb
from ._host import DeviceHosting
from ._lifecycle import DeviceLifecycle
from ._wires import WireSharing

log = logging.getLogger("mmkernel.devices")


class DeviceVerbs(DeviceLifecycle, WireSharing, DeviceHosting):
    _reserved: dict[str, tuple[object, str | None]]  # label -> (token, parent) of a load in progress
    _slow_call_s: float
    _threads: ThreadPool
    busy_poll_s: float

    @verb
    def load_device(
        self,
        label: str,
        adapter: str | Device,
        device_name: str | None = None,
        *,
        parent: str | None = None,
        timeout: float | None = None,
    ) -> Request:
        """Load `adapter`/`device_name` (or a Device object) under `label`, on its own runner,
        or on its hub's runner when `parent` names a loaded hub."""
        self._check_label(label)
        factory, adapter_name, name = self._resolve(adapter, device_name)
        requested = adapter if isinstance(adapter, str) else ""
        return self._load(label, factory, adapter_name, name, parent, timeout, requested)

    def _load_object(
        self, label: str, device: Device, adapter: str, device_name: str, parent: str | None, requested: str = ""
    ) -> None:
        """Load a device object again as it was loaded before (a failed configuration load puts
        the previous system back): same adapter (and name asked for), device name and parent."""
        if parent is not None:
            self._loaded(parent)
        self._load(label, lambda: device, adapter, device_name, parent, None, requested).result()

    def _load(
        self,
        label: str,
        factory: Any,
        adapter_name: str,
        name: str,
        parent: str | None,
        timeout: float | None,
        requested: str = "",
    ) -> Request:
        hub = self._hub(parent) if parent is not None else None
        with self._table_lock:
            if self._closed:
                raise KernelClosedError(f"load_device({label!r}): the kernel is closed")
            if label in self._devices or label in self._reserved:
                raise DeviceStateError(_already_loaded(label, self._devices.get(label)))
            token = object()
            self._reserved[label] = (token, parent)
        if hub is not None:
            runner = hub.runner
            runner.retain()
        else:
            runner = Runner(label, self._slow_call_s, self._report, self._threads)
        target = (runner, label)
        try:
            request = self._dispatch.call(
                target,
                "load",
                self._construct,
                label,
                factory,
                adapter_name,
                name,
                runner,
                parent,
                token,
                requested,
                timeout=timeout,
            )
        except BaseException:
            self._abandon(label, token, runner, hub)
            raise
        # A cleanup, not a done-callback: the label is free before the caller learns of the failure
        # (or its deadline), so loading it again at once is not refused as "already loaded".
        request.add_cleanup(lambda r: r.exception() is None or self._abandon(label, token, runner, hub))
        return request

    @verb
    def initialize(self, label: str, *, timeout: float | None = None) -> Request:
        """Open the hardware, then read every property into the cache."""
        loaded = self._loaded(label)
        if loaded.initialized:
            raise DeviceStateError(f"device {label!r} is already initialized")
        self._share_wire(loaded, timeout)
        return self._call(loaded, "initialize", self._initialize, loaded, timeout=timeout)

    @verb
    def initialize_all(self, *, timeout: float | None = None) -> Request:
        """Initialize every loaded, uninitialized device in parallel (hubs before their
        peripherals). Raises one InitializationError naming every device that failed; the
        others are initialized and usable. A device unloaded meanwhile is skipped."""
        pending = [d for d in self._device_list() if not d.initialized]
        known: dict[int, set[str]] = {}  # each device's wires, asked once (no device initializes meanwhile)
        for loaded in pending:
            self._share_wire(loaded, timeout, known)
        pending.sort(key=lambda d: d.parent is not None)  # a shared runner keeps FIFO order
        parts = [self._dispatch.call_or_fail(d, "initialize", self._initialize, d, timeout=timeout) for d in pending]
        return gather("*", "initialize_all", parts, lambda done: self._after_initialize_all(done, pending))

    def _after_initialize_all(self, parts: list[Request], pending: list[LoadedDevice]) -> None:
        """As MMCore's initializeAllDevices: roles nobody set go to the first device of their
        type, and Core's Initialize reads 1; then the failures, if any, are raised together."""
        core = self._core  # type: ignore[attr-defined]
        core.assign_default_roles()
        core.initialized = True
        _combine_initialize(parts, pending)

    @verb
    def unload(self, label: str, *, timeout: float | None = None) -> Request:
        """Shut the device down (on its thread) and forget it. A hub's peripherals go first."""
        loaded = self._loaded(label)
        with self._table_lock:
            children = [d.label for d in self._devices.values() if d.parent == label]
            children += [child for child, (_, parent) in self._reserved.items() if parent == label]
        if children:
            raise DeviceStateError(f"device {label!r} is the hub of {', '.join(sorted(children))}; unload those first")
        return self._unload_request(loaded, timeout)

    @verb
    def unload_all(self, *, timeout: float | None = None) -> Request:
        """Unload everything, independent devices in parallel. Every device is gone from the
        kernel when this returns; UnloadError names each one whose shutdown() failed, timed
        out, or (stuck in an earlier call) will run only when that call returns. Sequences are
        stopped first, so an auto-shutter closes before its shutter is unloaded."""
        streaming = [d for d in self._device_list() if self._streaming(d)]  # type: ignore[attr-defined]
        if not streaming:
            return self._unload_everything(timeout)
        stops = [self._stop_request(d, timeout) for d in streaming]  # type: ignore[attr-defined]
        combined = Request("*", "unload_all")
        combined.cancellable = False

        def then_unload(_: Request) -> None:  # on the watchdog thread: queues, never runs device code
            self._unload_everything(timeout).add_done_callback(lambda done: combined.finish(exception=done.exception()))

        gather("*", "stop sequences", stops).add_done_callback(
            lambda _: self._dispatch.watchdog.call_soon(lambda: then_unload(_))
        )
        return combined

    def _unload_everything(self, timeout: float | None) -> Request:
        self._core.initialized = False  # type: ignore[attr-defined]
        snapshot = self._device_list()
        # Peripherals share their hub's runner, so queueing them first shuts them down first.
        ordered = sorted(snapshot, key=lambda d: d.parent is None)
        parts = [self._unload_request(d, timeout) for d in ordered]
        return gather("*", "unload_all", parts, _combine_unload)

    @verb
    def devices(self) -> Request:
        """Loaded device labels, sorted, then `Core` (the system's roles and settings, as in
        MMCore; see property_names("Core"))."""
        return Request.completed("*", "devices", [*sorted(d.label for d in self._device_list()), CORE])

    @verb
    def device_type(self, label: str) -> Request:
        """'Camera', 'Stage', 'XYStage', 'Shutter', 'State', 'AutoFocus', 'SignalIO', 'Hub',
        'Serial'... ('Core' for Core)."""
        if label == CORE:
            return Request.completed(label, "device_type", CORE)
        return Request.completed(label, "device_type", self._loaded(label).device_type)

    @verb
    def device_health(self, label: str) -> Request:
        """ok, faulted (a call overran its deadline and has not returned) or failed (init)."""
        if label == CORE:
            return Request.completed(label, "device_health", DeviceHealth("ok"))
        loaded = self._loaded(label)
        hung = loaded.runner.hung
        if hung is not None:
            health = DeviceHealth("faulted", f"{hung.op!r} on {hung.label!r} overran its deadline")
        elif loaded.init_error is not None and not loaded.initialized:
            health = DeviceHealth("failed", f"initialize failed: {loaded.init_error}")
        else:
            health = DeviceHealth("ok")
        return Request.completed(label, "device_health", health)

    @verb
    def device_info(self, label: str) -> Request:
        """Adapter, device name, type, parent hub and whether it is initialized."""
        if label == CORE:
            return Request.completed(label, "device_info", DeviceInfo(CORE, "", CORE, CORE, None, True))
        d = self._loaded(label)
        info = DeviceInfo(d.label, d.adapter, d.device_name, d.device_type, d.parent, d.initialized, d.requested)
        return Request.completed(label, "device_info", info)

    @verb
    def parent_label(self, label: str) -> Request:
        """The hub a peripheral was loaded under, or None."""
        if label == CORE:
            return Request.completed(label, "parent_label", None)
        return Request.completed(label, "parent_label", self._loaded(label).parent)

    def _check_label(self, label: str) -> None:
        if not isinstance(label, str) or not label or label != label.strip() or "," in label:
            raise DeviceStateError(
                f"invalid device label {label!r}: use a non-empty name without commas or leading/trailing spaces"
            )
        if label == CORE:
            raise DeviceStateError("the label 'Core' is the kernel's own (the Core pseudo-device); choose another")

    def _resolve(self, adapter: str | Device, device_name: str | None) -> tuple[Any, str, str]:
        if isinstance(adapter, Device):
            instance = adapter
            return (lambda: instance), "", device_name or type(adapter).__name__
        if device_name is None:
            raise DeviceStateError(f"load_device: adapter {adapter!r} needs a device name")
        offer = self.adapters.offer(adapter, device_name)
        return offer.create, offer.adapter, device_name  # the adapter chosen (an alias resolved)

    def _hub(self, parent: str) -> LoadedDevice:
        hub = self._loaded(parent)
        if hub.device_type != "Hub":
            raise DeviceTypeError(f"parent {parent!r} is a {hub.device_type} device, not a Hub")
        return hub

    def _abandon(self, label: str, token: object, runner: Runner, hub: LoadedDevice | None) -> None:
        """The load failed (or its caller gave up at its deadline): nothing of it may stay. If
        the runner added the device just before the deadline, it is taken out again (it was
        never initialized: no hardware to release), which also releases its runner."""
        with self._table_lock:
            if self._reserved.get(label, (None,))[0] is token:
                del self._reserved[label]
            loaded = self._devices.get(label)
            added = loaded is not None and loaded.load_token is token
        if added:
            self._detach(loaded)  # type: ignore[arg-type]
        else:
            runner.release(f"the load of {label!r} failed")

    @verb
    def calibration(self, label: str, *, timeout: float | None = None) -> Request:
        """The device's persistent calibration store (dict-like; see mmkernel_sdk.calibration).
        It is opened on the device's runner (its key may need the serial number from the
        hardware); using it afterwards touches only files, from any thread."""
        loaded = self._loaded(label)
        return self._call(loaded, "calibration", lambda: loaded.device.calibration, timeout=timeout)


def _already_loaded(label: str, loaded: LoadedDevice | None) -> str:
    what = f" ({loaded.adapter}/{loaded.device_name})" if loaded is not None else ""
    return f"a device is already loaded as {label!r}{what}; unload it first or choose another label"


def _combine_initialize(parts: list[Request], devices: list[LoadedDevice]) -> None:
    failures = {
        p.label: error
        for p, loaded in zip(parts, devices, strict=True)
        if (error := p.exception()) is not None and not loaded.unloaded  # unloaded meanwhile: gone
    }
    if failures:
        raise InitializationError(failures)


def _combine_unload(parts: list[Request]) -> None:
    failures = {p.label: error for p in parts if (error := p.exception()) is not None}
    if failures:
        raise UnloadError(failures)
