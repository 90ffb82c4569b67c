"""Device lifecycle verbs: load, initialize, unload, and what is loaded."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.calibration import restore_memorized
from mmkernel_sdk.errors import (
    DeviceFaultedError,
    DeviceStateError,
    DeviceTimeoutError,
    DeviceTypeError,
    InitializationError,
    KernelClosedError,
    MMKernelError,
    UnknownDeviceError,
    UnloadError,
)
from mmkernel_sdk.resources import PortTarget, close_resources, open_resources, wires_of

from ._base import KernelBase
from ._core_device import CORE
from ._faces import verb
from ._loaded import DeviceHealth, DeviceInfo, LoadedDevice
from ._request import Request, gather
from ._runner import Runner
from ._threads import ThreadPool
from ._waits import BusyWatch

log = logging.getLogger("mmkernel.devices")


class DeviceVerbs(KernelBase):
    _reserved: dict[str, tuple[object, str | None]]  # label -> (token, parent) of a load in progress
    _slow_call_s: float
    _threads: ThreadPool
    busy_poll_s: float
    data_dir: Path
    site_data_dir: Path | None
    port_map: dict[str, str]  # port name in configurations -> port (or URL) on this machine
    _notify_dropped: set[str]  # devices whose dropped notify() has been logged once

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
        return self._load(label, factory, adapter_name, name, parent, timeout)

    def _load_object(self, label: str, device: Device, adapter: str, device_name: str, parent: str | None) -> None:
        """Load a device object again as it was loaded before (a failed configuration load puts
        the previous system back): same adapter and device name, same parent."""
        if parent is not None:
            self._loaded(parent)
        self._load(label, lambda: device, adapter, device_name, parent, None).result()

    def _load(
        self, label: str, factory: Any, adapter_name: str, name: str, parent: str | None, timeout: float | None
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
                timeout=timeout,
            )
        except BaseException:
            self._abandon(label, token, runner, hub)
            raise
        request.add_done_callback(lambda r: r.exception() is None or self._abandon(label, token, runner, hub))
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
        pending = [d for d in list(self._devices.values()) if not d.initialized]
        for loaded in pending:
            self._share_wire(loaded, timeout)
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
        streaming = [d for d in list(self._devices.values()) if self._streaming(d)]  # type: ignore[attr-defined]
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
        snapshot = list(self._devices.values())
        # Peripherals share their hub's runner, so queueing them first shuts them down first.
        ordered = sorted(snapshot, key=lambda d: d.parent is None)
        parts = [self._unload_request(d, timeout) for d in ordered]
        return gather("*", "unload_all", parts, _combine_unload)

    @verb
    def devices(self) -> Request:
        """Loaded device labels, sorted, then `Core` (the system's roles and settings, as in
        MMCore; see property_names("Core"))."""
        return Request.completed("*", "devices", [*sorted(self._devices), CORE])

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
        info = DeviceInfo(d.label, d.adapter, d.device_name, d.device_type, d.parent, d.initialized)
        return Request.completed(label, "device_info", info)

    @verb
    def parent_label(self, label: str) -> Request:
        """The hub a peripheral was loaded under, or None."""
        if label == CORE:
            return Request.completed(label, "parent_label", None)
        return Request.completed(label, "parent_label", self._loaded(label).parent)

    # -- helpers ----------------------------------------------------------------------------
    def _share_wire(self, loaded: LoadedDevice, timeout: float | None) -> None:
        """Before initialize: devices whose ports (or instruments) are one wire end up on one
        runner, so their bytes can never interleave. Whole runners merge (a hub moves with its
        peripherals); the group without an initialized device moves, as a request on its old
        runner, so everything queued there before still runs first, in order."""
        while not loaded.initialized and not loaded.unloaded:
            wires = set(wires_of(loaded.device))
            if not wires:
                return
            with self._table_lock:
                snapshot = [d for d in self._devices.values() if not d.unloaded and d is not loaded]
            sharing = [d for d in snapshot if wires & set(wires_of(d.device))]  # adapter code: no lock held
            with self._table_lock:
                plan = self._wire_merge(loaded, sharing, wires)
            if plan is None:
                return
            movers, source, target = plan
            move = self._dispatch.call(
                (source, "+".join(d.label for d in movers)), "share runner", self._move_runner, movers, source, target,
                timeout=timeout,
            )  # fmt: skip
            move.result()

    def _wire_merge(
        self, loaded: LoadedDevice, sharing: list[LoadedDevice], wires: set[str]
    ) -> tuple[list[LoadedDevice], Runner, Runner] | None:
        """Under the table lock: which devices move from which runner to which, or None."""
        elsewhere = [d for d in sharing if not d.unloaded and d.runner is not loaded.runner and not d.runner.closed]
        other = elsewhere[0] if elsewhere else None
        if other is None or loaded.unloaded:
            return None
        live = [d for d in self._devices.values() if not d.unloaded]
        mine = [d for d in live if d.runner is loaded.runner]
        theirs = [d for d in live if d.runner is other.runner]
        if any(d.initialized for d in mine):
            if any(d.initialized for d in theirs):
                raise DeviceStateError(
                    f"devices {loaded.label!r} and {other.label!r} share the wire {', '.join(sorted(wires))} but were "
                    "initialized on different runners; unload them and initialize them together (or load one port "
                    "device they both name)"
                )
            return theirs, other.runner, loaded.runner
        return mine, loaded.runner, other.runner

    def _move_runner(self, movers: list[LoadedDevice], source: Runner, target: Runner) -> None:
        """On the old runner: hand its devices to `target`. Calls queued here for them after
        this are forwarded by the runner. Re-checked under the table lock: the plan was made
        before this ran, and a device may have been unloaded (or the target closed) since; then
        nothing moves and the caller plans again."""
        with self._table_lock:
            movers = [d for d in movers if d.runner is source and not d.unloaded]
            if not any(d.runner is target and not d.unloaded for d in self._devices.values()):
                return
            for index, device in enumerate(movers):
                try:
                    target.retain()
                except KernelClosedError:  # its last device left just now; only the first can fail
                    movers = movers[:index]
                    break
                device.runner = target
        if movers:
            labels = [d.label for d in movers]
            log.info("devices %s share a runner with the devices on %s: one wire", labels, target.name)
        for device in movers:
            source.release(f"device {device.label!r} moved to runner {target.name} (one wire); call it again")

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
        return offer.create, adapter, device_name

    def _hub(self, parent: str) -> LoadedDevice:
        hub = self._loaded(parent)
        if hub.device_type != "Hub":
            raise DeviceTypeError(f"parent {parent!r} is a {hub.device_type} device, not a Hub")
        return hub

    def _abandon(self, label: str, token: object, runner: Runner, hub: LoadedDevice | None) -> None:
        with self._table_lock:
            if self._reserved.get(label, (None,))[0] is token:
                del self._reserved[label]
        runner.release(f"the load of {label!r} failed")

    def _unload_request(self, loaded: LoadedDevice, timeout: float | None) -> Request:
        """Shut `loaded` down on its runner; a device stuck in an earlier call is detached now
        and shut down when that call returns. Never raises: refusals are failed Requests."""
        if loaded.unloaded:  # someone else is unloading it: it is gone
            return Request.completed(loaded.label, "unload", None)
        if loaded.device_type == "Camera":
            self._interrupt_sequence(loaded)  # type: ignore[attr-defined]  # a blocked sequence lets go
        hung = loaded.runner.hung
        if hung is not None:
            return self._detach_stuck(loaded, hung)
        request = self._dispatch.call_or_fail(loaded, "unload", self._shutdown, loaded, timeout=timeout)
        request.cancellable = False  # a sequence was told to stop already
        request.add_done_callback(lambda done: self._after_unload(loaded, done))
        return request

    def _after_unload(self, loaded: LoadedDevice, done: Request) -> None:
        """A shutdown that overran its deadline still frees the label now. If it timed out
        still queued (behind a long call), it will never run: one that waits is queued instead."""
        if isinstance(done.exception(), DeviceTimeoutError) and not loaded.runner.closed:
            if not done.started:
                self._defer_shutdown(loaded)
            self._fail_queued(loaded)
            self._detach(loaded)

    def _detach_stuck(self, loaded: LoadedDevice, hung: Request) -> Request:
        loaded.unloaded = True
        self._defer_shutdown(loaded)
        self._fail_queued(loaded)
        self._detach(loaded)
        stuck_for = time.monotonic() - hung.started
        whose = "" if hung.label == loaded.label else f" of {hung.label!r} (they share a runner)"
        return Request.failed(
            loaded.label,
            "unload",
            DeviceFaultedError(
                loaded.label,
                "unload",
                f"device {loaded.label!r}: its runner is stuck in {hung.op!r}{whose} (for {stuck_for:.1f} s): "
                "it was detached, and its shutdown() runs when that call returns",
            ),
        )

    def _defer_shutdown(self, loaded: LoadedDevice) -> None:
        """Queue the shutdown to run whenever the runner is free again (no deadline: it waits
        for a stuck call as long as that takes)."""
        deferred = Request(loaded.label, "unload", self._shutdown, (loaded,), loaded.runner)
        deferred.target = None  # it must run although the device is marked unloaded
        try:
            loaded.runner.submit(deferred, force=True)
        except KernelClosedError:
            pass  # the runner has already ended: nothing left to run the shutdown on

    def _fail_queued(self, loaded: LoadedDevice) -> None:
        """Calls still queued for a detached device fail now, not after the stuck call."""

        def gone(request: Request) -> BaseException:
            return UnknownDeviceError(f"device {loaded.label!r} was unloaded before {request.op!r} could run")

        loaded.runner.fail_queued(lambda request: request.target is loaded, gone)

    # -- runner side ------------------------------------------------------------------------
    def _construct(
        self,
        label: str,
        factory: Any,
        adapter: str,
        name: str,
        runner: Runner,
        parent: str | None,
        token: object,
    ) -> None:
        device = factory()
        if not isinstance(device, Device):
            raise DeviceTypeError(f"{adapter}/{name} produced {device!r}, which is not a Device")
        device._attach(self, self, label, name)
        if parent is not None:
            device.hub = self._devices[parent].device
        loaded = LoadedDevice(label, device, adapter, name, runner, parent)
        poll = type(device).busy_poll_s
        loaded.busy_poll_s = poll if poll is not None and poll > 0 else self.busy_poll_s
        loaded.watch = BusyWatch(loaded, self._dispatch, self._adapter_busy)  # type: ignore[attr-defined]
        with self._table_lock:
            if self._reserved.get(label, (None,))[0] is not token:  # the caller timed out and gave up
                return
            del self._reserved[label]
            hub = self._devices.get(parent) if parent is not None else None
            if parent is not None and (hub is None or hub.unloaded):
                raise DeviceStateError(f"load_device({label!r}): its hub {parent!r} was unloaded while it loaded")
            if self._closed:
                raise KernelClosedError(f"load_device({label!r}): the kernel closed during the load")
            self._devices[label] = loaded
        for prop_name in loaded.props.names():
            if loaded.usable_before_init(prop_name):
                self._store(loaded, prop_name, loaded.props.get(prop_name), announce=False)
        self.events.device_loaded.emit(label)

    def _initialize(self, loaded: LoadedDevice) -> None:
        """Initialize, then refresh. Whatever happens (BaseException included), the device is
        either initialized and refreshed, or not initialized with `init_error` set and the
        hardware released again."""
        if loaded.initialized:  # a second initialize queued behind the first
            return
        try:
            open_resources(loaded.device)  # ports and instruments, just before initialize()
        except BaseException as error:
            loaded.init_error = error
            raise
        try:
            loaded.device.initialize()
        except BaseException as error:
            loaded.init_error = error
            self._close_resources_quietly(loaded)
            raise
        try:
            chosen, loaded.memorized_before_init = loaded.memorized_before_init, {}
            for problem in restore_memorized(loaded.device, skip=chosen):  # memorized values back to the hardware
                self._report(log, logging.WARNING, "device %r: %s", loaded.label, problem, device=loaded.label)
            for name, value in chosen.items():  # set before initialize in this session: that is what is kept
                self._memorize(loaded, name, value)
            if loaded.device_type == "Camera":
                self._buffer_for(loaded)  # type: ignore[attr-defined]  # populates in the background
            loaded.initialized = True
            failures = self._refresh_one(loaded, announce=False)  # type: ignore[attr-defined]
        except BaseException as error:
            loaded.initialized = False
            loaded.init_error = error
            self._release_after_failed_init(loaded)
            raise
        loaded.init_error = None
        for label, name, error in failures:
            self._report(log, logging.WARNING, "device %r: property %r unreadable after initialize: %s",
                         label, name, error, device=label)  # fmt: skip
        self.events.device_initialized.emit(loaded.label)

    def _release_after_failed_init(self, loaded: LoadedDevice) -> None:
        try:
            loaded.device.shutdown()
        except BaseException as error:  # noqa: BLE001 - the initialize failure is what the caller needs
            self._report(log, logging.WARNING, "device %r: shutdown after a failed initialize raised %r",
                         loaded.label, error, device=loaded.label)  # fmt: skip
        self._close_resources_quietly(loaded)

    def _close_resources_quietly(self, loaded: LoadedDevice) -> None:
        try:
            close_resources(loaded.device)
        except BaseException as error:  # noqa: BLE001 - the initialize failure is what the caller needs
            self._report(log, logging.WARNING, "device %r: closing its ports after a failed initialize raised %r",
                         loaded.label, error, device=loaded.label)  # fmt: skip

    def _shutdown(self, loaded: LoadedDevice) -> None:
        """On the runner: end a sequence, shut the hardware down, forget the device. Each step
        runs even if an earlier one raised; the first error is reported."""
        loaded.unloaded = True
        errors: list[BaseException] = []
        if loaded.device_type == "Camera":
            _attempt(errors, self._forget_camera, loaded)  # type: ignore[attr-defined]
        if loaded.initialized:
            _attempt(errors, loaded.device.shutdown)
        _attempt(errors, close_resources, loaded.device)
        self._detach(loaded)
        if errors:
            raise errors[0]

    def _detach(self, loaded: LoadedDevice) -> None:
        """Forget the device (idempotent): table, cache, roles, pending waits, its share of the
        runner (the last device to leave a runner closes it); then announce it."""
        loaded.unloaded = True
        with self._table_lock:
            if self._devices.get(loaded.label) is not loaded:
                return
            del self._devices[loaded.label]
        loaded.runner.release(f"device {loaded.label!r} was unloaded")
        if loaded.device_type == "Camera":
            self._drop_camera(loaded)  # type: ignore[attr-defined]
        self._cache.forget(loaded.label)
        for role in self.roles.forget(loaded.label):  # type: ignore[attr-defined]
            self.events.property_changed.emit("Core", role, "")
        if loaded.watch is not None:
            loaded.watch.gone()
        self.events.device_unloaded.emit(loaded.label)

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

    @verb
    def calibration(self, label: str, *, timeout: float | None = None) -> Request:
        """The device's persistent calibration store (dict-like; see mmkernel_sdk.calibration).
        It is opened on the device's runner (its key may need the serial number from the
        hardware); using it afterwards touches only files, from any thread."""
        loaded = self._loaded(label)
        return self._call(loaded, "calibration", lambda: loaded.device.calibration, timeout=timeout)

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


def _attempt(errors: list[BaseException], step: Any, *args: Any) -> None:
    try:
        step(*args)
    except BaseException as error:  # noqa: BLE001 - every shutdown step gets its turn
        errors.append(error)
